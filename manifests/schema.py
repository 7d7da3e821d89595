"""The release manifest, versioned by `schema_version`. Everything a training stage needs to trust a release."""

from __future__ import annotations

from typing import Literal

from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, field_validator

# 2: `files` lists every non-shard file of the release (index, clusters, stats, rejects, exports)
# 3: tokens by default: `tokenizer.name`, tokens per source; shards carry a per-document `tokens` column
SCHEMA_VERSION = 4


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Shard(Model):
    path: str  # relative to the release directory, never outside it
    format: Literal["parquet", "jsonl"]
    sha256: str
    bytes: int
    documents: int
    characters: int
    tokens: int | None = None  # null only with `tokenizer: none`
    source: str | None = None  # CPT: the source all its documents come from
    split: str | None = None  # SFT: train | validation; labels: train | dev | test

    @field_validator("path")
    @classmethod
    def _inside_release(cls, v: str) -> str:
        p = PurePosixPath(v)
        if p.is_absolute() or ".." in p.parts or "\\" in v:
            raise ValueError(f"shard path {v!r} points outside the release")
        return v


class ReleaseFile(Model):
    """A file of the release that is not a shard: dedup index and clusters, stats, rejects, exports."""

    path: str
    bytes: int
    sha256: str


class TokenizerInfo(Model):
    name: str | None = None  # schema 3: a shipped tokenizer (qwen2.5, qwen3.6) or the tokenizer.json file name
    path: str  # shipped: the vocabulary inside its package; else the tokenizer.json as configured
    sha256: str


class ModelInfo(Model):
    """A model whose decisions shaped the release (schema 4): a retrained shipped model or another configured one
    changes what is kept, so releases record each by content."""

    step: str  # the pipeline step that used it
    name: str
    path: str  # shipped: "<package>:<path inside it>"; configured: as the config gives it
    sha256: str  # of the model file
    card_threshold: float | None = None  # the threshold its card chose on dev data (the config may override it)


class SftInfo(Model):
    message_format: Literal["messages"] = "messages"  # rows hold `messages`: [{role, content}, ...]
    splits: dict[str, int]
    categories: dict[str, int]
    generation: dict = {}  # model, parameters, prompts and seeds used


class LabelsInfo(Model):
    """A labels release (`curate label-quality`): which release was sampled, how, by which model and rubric, and the
    labels it holds per part and score."""

    release: str  # name/version of the rated CPT release
    release_content_hash: str
    sample: int
    seed: int
    rubric_sha256: str
    parts: dict[str, int]  # train / dev / test rows
    scores: dict[str, int]  # rows per score
    generation: dict = {}  # model, parameters, requests, usage, failures


class InputFile(Model):
    path: str
    bytes: int
    sha256: str


class SourceSummary(Model):
    name: str
    kind: str
    license: str | None
    weight: float
    documents: int
    characters: int
    tokens: int | None = None  # schema 3
    input_files: list[InputFile]


class StepStats(Model):
    """One pipeline step: documents in, kept, and dropped by reason, overall and per source."""

    step: str
    input: int
    kept: int
    dropped: int
    dropped_by_reason: dict[str, int]
    by_source: dict[str, dict[str, int]]
    other: dict[str, float] = {}


class ExclusionInfo(Model):
    """One `curate exclude` in a release's lineage: what was asked to leave, why, and what left."""

    version: str  # the version it made
    created: str
    reason: str
    ids_requested: int
    urls_requested: int
    removed: int  # documents of the parent release taken out
    request_sha256: str  # of the id and URL lists as given (ids a token range named included)
    # `--token-range A:B --export DIR`: the range, the export it counts in (its absolute path, the sha256 of its
    # export.json) and the documents it named; None for exclusions by --ids/--urls alone
    token_range: str | None = None
    export: str | None = None
    export_sha256: str | None = None
    range_documents: int | None = None


class IncrementInfo(Model):
    """An incremental release (`curate run --since PARENT`): the manifest's `steps` are cumulative (the parent's plus
    this run's, as its shards are), so `manifest diff` and `curate stats` compare like with like; here are this run's
    own: the input files it read per source (0 for a source with nothing new) and its step stats."""

    parent_version: str
    input_files: dict[str, int]
    steps: list[StepStats]


class Manifest(Model):
    schema_version: int = SCHEMA_VERSION
    name: str
    kind: Literal["cpt", "sft", "labels"]
    version: str
    created: str
    content_hash: str  # sha256 over the sorted (path, sha256) of all shards
    tool_version: str
    git_commit: str | None
    config: dict
    config_hash: str
    parent: str | None = None  # the parent release's folder, relative to this release's (absolute before 2026-12-07)
    shards: list[Shard]
    sources: list[SourceSummary]
    steps: list[StepStats]
    rejects: dict[str, int]  # malformed input records by reason
    totals: dict[str, int]
    mixture_weights: dict[str, float]
    tokenizer: TokenizerInfo | None = None
    sft: SftInfo | None = None
    labels: LabelsInfo | None = None
    files: list[ReleaseFile] = []  # schema 2: everything else the release holds, so verify covers every byte
    models: list[ModelInfo] = []  # schema 4: the language, region, spam, toxicity and quality models used
    alerts: list[str] = []  # what looked wrong when the release was made (curation/alerts.py); empty when nothing did
    increment: IncrementInfo | None = None  # an incremental release: what this run itself read (steps are cumulative)
    exclusions: list[ExclusionInfo] = []  # every `curate exclude` of the lineage; the lists are in exclusions/
    # sha256 of everything above but content_hash, shards and files (manifests.writer.description_hash): `verify` flags a
    # license, weight, count or config edited in manifest.json. Absent (None) in manifests written before it.
    description_hash: str | None = None
