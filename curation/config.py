"""Job config: YAML parsed into typed objects.

Relative paths in a job file are resolved against the directory of that file, so a job runs the same
from cron, Airflow or a shell in any working directory.
"""

from __future__ import annotations

import glob
import hashlib
import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, field_validator

from curation.errors import ConfigError
from curation.steps import STEPS, StepsConfig
from filters.config import Strict
from manifests import storage
from manifests.mixture import Share
from synth.config import GatesConfig, JudgeConfig, LLMConfig, SynthTaskConfig  # noqa: F401 - composed by the synth job config
from manifests.tokens import DEFAULT_TOKENIZER, NONE as NO_TOKENIZER, SHIPPED as SHIPPED_TOKENIZERS, is_shipped


# a job, release or source name becomes a folder: letters, digits, _ . - and never starting with a dot (., .., .hidden)
PLAIN_NAME = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$"


class SourceConfig(Strict):
    """One input source. `kind` picks the reader; the field names map records of JSONL/CSV/Parquet inputs."""

    name: str = Field(pattern=PLAIN_NAME)
    kind: Literal["wiki", "news", "legal", "social", "jsonl", "parquet"]
    path: str
    license: str | None = None
    text_field: str = "text"
    id_field: str | None = None
    title_field: str = "title"
    url_field: str = "url"
    date_field: str = "date"
    include_comments: bool = True  # social: keep replies (push messages) in the document text
    weight: float = Field(default=1.0, ge=0)  # suggested mixture weight, written to the manifest
    # text files are decoded per file: a byte-order mark (UTF-8, UTF-16) decides, else the encoding most of the
    # file's non-ASCII lines are in (UTF-8, Big5 as cp950, or GB18030), sampled at its head, end and 12 places between;
    # a name here forces one (e.g. cp950, gb18030)
    encoding: str | None = None
    # a record (one line) longer than this is rejected while it is read, before it is held in memory whole; a document
    # with more characters than max_document_chars too. No real document reaches either default
    max_record_bytes: int = Field(default=64 * 2**20, ge=1024)
    max_document_chars: int = Field(default=64_000_000, ge=100)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str | None) -> str | None:
        import codecs

        if v is not None:
            try:
                codecs.lookup(v)
            except LookupError:
                raise ValueError(f"unknown encoding {v!r} (e.g. utf-8, utf-16, cp950, big5, gb18030)") from None
        return v


class ExecutorConfig(Strict):
    """Where tasks run. `local`: datatrove's local executor (processes on this machine). `ray`: datatrove's Ray
    executor, on the cluster at `ray_address` or on a Ray started locally. The job is otherwise the same."""

    kind: Literal["local", "ray", "slurm"] = "local"
    tasks: int = Field(default=1, ge=1)
    workers: int = Field(default=1, ge=1)
    ray_address: str | None = None  # e.g. "ray://head:10001" or "auto"; None starts a local Ray
    # ray only: an S3 URL (s3://bucket/prefix) through which workers on nodes that do not see the driver's
    # work folder exchange it (curation/workmirror.py); without one, such a worker stops the run before its first task
    work_url: str | None = None
    cpus_per_task: int = Field(default=1, ge=1)
    mem_per_cpu_gb: float = Field(default=1.0, gt=0)
    # slurm only: every stage is an array job, chained with afterok; a last job publishes the release
    partition: str | None = None
    time: str = "04:00:00"
    sbatch_args: dict[str, str] = {}
    venv_path: str | None = None  # the venv the Slurm jobs activate (default: the one running curate)

    @field_validator("work_url")
    @classmethod
    def _work_url_in_object_storage(cls, v: str | None) -> str | None:
        # S3 only: a file's copy is known changed by its ETag, which other fsspec stores name differently or lack
        if v is not None and not v.startswith("s3://"):
            raise ValueError(f"{v!r} is not an S3 URL (s3://bucket/prefix, any S3-compatible store): the work folder's "
                             "copy must be somewhere every Ray node reaches")
        return v


class JobFile(Strict):
    """What every job file has: relative paths resolve against the file's own directory."""

    base_dir: str = "."  # set by the loader to the directory of the job file
    output: str

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else (Path(self.base_dir) / p).resolve()

    @property
    def output_dir(self) -> Path:
        """The output folder; for an object-storage URL, the local folder the job is staged in before its upload
        (only its path: `prepare_output_dir` creates it)."""
        return storage.staging_root(self.output) if storage.is_url(self.output) else self.resolve(self.output)

    def prepare_output_dir(self) -> Path:
        """`output_dir`, for a run about to write there: an object-storage URL's staging folder is created and marked
        with the URL, which is how its releases are found in the bucket (curation.release)."""
        return storage.prepare_staging(self.output) if storage.is_url(self.output) else self.output_dir

    def as_dict(self) -> dict:
        return self.model_dump(mode="json", exclude={"base_dir"})


class ReleaseJobFile(JobFile):
    """A job that writes shards: they carry token counts."""

    # token counts per document, shard, source and release: a tokenizer an installed package ships
    # (manifests.tokens.SHIPPED: qwen2.5, qwen3.6), a local tokenizer.json, or `none`
    tokenizer: str = DEFAULT_TOKENIZER

    def tokenizer_spec(self) -> str | None:
        """What the writers count with: a shipped name, an absolute tokenizer.json path, or None."""
        if self.tokenizer == NO_TOKENIZER:
            return None
        return self.tokenizer if is_shipped(self.tokenizer) else str(self.resolve(self.tokenizer))

    def check_tokenizer(self, where: str) -> None:
        spec = self.tokenizer_spec()
        if spec and not is_shipped(spec) and not Path(spec).is_file():
            raise ConfigError(f"{where}: tokenizer: {self.tokenizer!r} is not a shipped tokenizer "
                              f"({', '.join(SHIPPED_TOKENIZERS)}), 'none', or an existing tokenizer.json")


class JobConfig(ReleaseJobFile):
    name: str = Field(pattern=PLAIN_NAME)
    version: str = "auto"
    sources: list[SourceConfig] = Field(min_length=1)
    steps: StepsConfig = StepsConfig()
    executor: ExecutorConfig = ExecutorConfig()
    incremental: bool = False  # read only files the newest release in `output` did not record (same as --since it)
    incremental_carry: Literal["hardlink", "copy"] = "hardlink"  # how the parent's shards enter the new release
    # alarms instead of silence (curation/alerts.py): with strict, any alert fails the run before publishing (exit 1);
    # without, the release is published and `curate run` exits 5
    strict: bool = False
    alert_drop_share: float = Field(default=0.9, gt=0, le=1)  # a source or step dropping this share of its documents
    alert_min_documents: int = Field(default=20, ge=1)  # ... counted only from this many documents in
    progress_every_s: float = Field(default=60.0, gt=0)  # not on a terminal: a `progress` line in the run log this often

    @field_validator("version")
    @classmethod
    def _semver_or_auto(cls, v: str) -> str:
        parts = v.split(".")
        if v != "auto" and not (len(parts) == 3 and all(p.isdigit() for p in parts)):
            raise ValueError(f"must be 'auto' or MAJOR.MINOR.PATCH, got {v!r}")
        return v

    def source_files(self, source: SourceConfig) -> list[Path | str]:
        """The files a source's path (a glob) matches: Paths, or URLs (str) for a source in object storage."""
        if storage.is_url(source.path):
            return storage.list_files(source.path)
        return sorted(Path(p) for p in glob.glob(str(self.resolve(source.path)), recursive=True) if Path(p).is_file())

    def config_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()


def _format_validation_error(err: ValidationError, where: str) -> str:
    lines = []
    for e in err.errors():
        key = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(e["loc"]))
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        lines.append(f"{where}: {key or '<top>'}: {msg}")
    return "\n".join(lines)


def parse_job(data: object, where: str, base_dir: Path) -> JobConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: the job file must be a YAML mapping, got {type(data).__name__}")
    try:
        job = JobConfig(**data, base_dir=str(base_dir))
    except ValidationError as e:
        raise ConfigError(_format_validation_error(e, where)) from None
    except TypeError as e:  # e.g. a key given twice as base_dir
        raise ConfigError(f"{where}: {e}") from None
    d = job.steps.dedup
    if d.bands * d.rows > d.num_perm:
        raise ConfigError(f"{where}: steps.dedup: bands * rows = {d.bands * d.rows} exceeds num_perm = {d.num_perm}")
    names = [s.name for s in job.sources]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: sources: names must be unique, got {names}")
    return job


def read_yaml(path: Path) -> object:
    if not path.is_file():
        raise ConfigError(f"{path}: job file not found")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None


def load_job(path: str | Path, check_inputs: bool = True) -> JobConfig:
    """Read and validate a job file; with `check_inputs`, every source path must match at least one file."""
    path = Path(path)
    job = parse_job(read_yaml(path), str(path), path.resolve().parent)
    if check_inputs:
        for i, src in enumerate(job.sources):
            if not job.source_files(src):
                where = "" if storage.is_url(src.path) else f" (resolved to {job.resolve(src.path)})"
                raise ConfigError(f"{path}: sources[{i}].path: no file matches {src.path!r}{where}")
        job.check_tokenizer(str(path))
        against = job.steps.dedup.against
        from filters.dedup import has_index

        if job.steps.dedup.enabled and against and not has_index(job.resolve(against)):
            raise ConfigError(f"{path}: steps.dedup.against: no dedup index in {against} (dedup/index/)")
        for spec in STEPS:  # the files each step's config names (curation/steps.py)
            for key in spec.files:
                value = getattr(getattr(job.steps, spec.name), key)
                if value and not job.resolve(value).is_file():
                    raise ConfigError(f"{path}: steps.{spec.name}.{key}: file not found: {value}")
        if job.steps.quality_model.enabled and not job.steps.quality_model.model_path:
            raise ConfigError(f"{path}: steps.quality_model.model_path: required when the step is enabled (a model card "
                              f"from `curate train-classifier`)")
        lists_dir = job.steps.domains.lists_dir
        if job.steps.domains.enabled and lists_dir and not (job.resolve(lists_dir) / "VERSION.json").is_file():
            raise ConfigError(f"{path}: steps.domains.lists_dir: no VERSION.json in {lists_dir} (a folder written by "
                              f"filters/data/build_domain_lists.py)")
    return job


# -- SFT synthesis (curate synth) -------------------------------------------------------------------------------
class SynthJobConfig(ReleaseJobFile):
    name: str = Field(pattern=PLAIN_NAME)
    version: str = "auto"
    llm: LLMConfig = LLMConfig()
    tasks: list[SynthTaskConfig] = Field(min_length=1)
    gates: GatesConfig = GatesConfig()
    judge: JudgeConfig = JudgeConfig()
    validation_fraction: float = Field(default=0.1, ge=0, lt=1)
    export: list[Literal["alpaca", "sharegpt", "messages"]] = []  # alpaca refuses multi-turn records
    system_prompt: str = "你是使用臺灣正體中文與臺灣慣用語回答的助理。"


class QualityLabelJobConfig(ReleaseJobFile):
    """`curate label-quality`: a seeded sample of a CPT release's documents rated 0-5 for zh-TW pretraining value by
    an LLM with a rubric (synth/prompts/quality_rubric.txt), written as a labels release with train/dev/test parts."""

    name: str = Field(pattern=PLAIN_NAME)
    version: str = "auto"
    release: str  # the CPT release whose documents are rated
    sample: int = Field(default=1000, ge=1)  # documents rated (all when the release holds fewer)
    seed: int = 0  # which documents (sha256(seed:id) order) and which part each falls in
    max_chars: int = Field(default=1500, ge=100)  # of each document sent and kept with its label: the label is for that text
    dev_fraction: float = Field(default=0.1, ge=0, lt=1)  # threshold choice for a classifier trained on the labels
    test_fraction: float = Field(default=0.2, ge=0, lt=1)  # held out: agreement of that classifier with the LLM
    rubric: str | None = None  # a prompt template with {document}; null: synth/prompts/quality_rubric.txt
    llm: LLMConfig = LLMConfig(temperature=0.0, max_tokens=128)

    _semver_or_auto = field_validator("version")(JobConfig._semver_or_auto.__func__)


def load_label_job(path: str | Path) -> QualityLabelJobConfig:
    path = Path(path)
    job = _load_model(path, QualityLabelJobConfig, "job")
    job.check_tokenizer(str(path))
    if not (job.resolve(job.release) / "manifest.json").is_file():
        raise ConfigError(f"{path}: release: not a release (no manifest.json): {job.release}")
    if job.rubric and not job.resolve(job.rubric).is_file():
        raise ConfigError(f"{path}: rubric: file not found: {job.rubric}")
    if job.dev_fraction + job.test_fraction >= 1:
        raise ConfigError(f"{path}: dev_fraction + test_fraction must leave rows to train on")
    return job


def _load_model(path: Path, model: type, what: str):
    """A YAML file parsed into `model`, relative paths against its directory; errors name the file and key."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the {what} file must be a YAML mapping")
    try:
        return model(**data, base_dir=str(path.resolve().parent))
    except ValidationError as e:
        raise ConfigError(_format_validation_error(e, str(path))) from None


def load_synth_job(path: str | Path) -> SynthJobConfig:
    path = Path(path)
    job = _load_model(path, SynthJobConfig, "job")
    job.check_tokenizer(str(path))
    for i, task in enumerate(job.tasks):
        if not job.resolve(task.input).exists():
            raise ConfigError(f"{path}: tasks[{i}].input: not found: {task.input}")
    for i, eval_set in enumerate(job.gates.eval_sets):
        if not job.resolve(eval_set).is_file():
            raise ConfigError(f"{path}: gates.eval_sets[{i}]: not found: {eval_set}")
    return job


class MixReleaseConfig(Share):
    """One release of a mixture. Its own epochs/tokens/weight/max_tokens apply to each of its sources unless
    `sources` names them (then only those sources, each with its own share)."""

    path: str  # the release directory
    content_hash: str | None = None  # pin: the mix fails unless the release still has this content hash
    sources: dict[str, Share] | None = None


class MixConfig(JobFile):
    """`curate mix`: several releases (CPT or SFT) into one token-budget mixture (manifests.mixture)."""

    name: str = Field(pattern=PLAIN_NAME)
    version: str = "auto"
    seed: int = 0
    total_tokens: int | None = Field(default=None, ge=0)  # what `weight` shares divide
    releases: list[MixReleaseConfig] = Field(min_length=1)

    _semver_or_auto = field_validator("version")(JobConfig._semver_or_auto.__func__)


def load_mix(path: str | Path) -> MixConfig:
    path = Path(path)
    mix = _load_model(path, MixConfig, "mix")
    for i, rel in enumerate(mix.releases):
        if storage.is_url(rel.path):
            raise ConfigError(f"{path}: releases[{i}].path: {rel.path}: curate mix reads local releases; copy it down "
                              f"first (aws s3 cp --recursive {rel.path} DIR)")
        if not (mix.resolve(rel.path) / "manifest.json").is_file():
            raise ConfigError(f"{path}: releases[{i}].path: not a release (no manifest.json): {rel.path}")
    return mix
