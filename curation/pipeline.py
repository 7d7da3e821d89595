"""Pipeline assembly: job config -> datatrove steps -> executor run -> published release with manifest."""

from __future__ import annotations

import contextlib
import json
import sys
from collections import defaultdict
from pathlib import Path

import orjson
import pyarrow as pa
from datatrove.data import Document
from datatrove.executor.local import LocalPipelineExecutor
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.writers.jsonl import JsonlWriter
from datatrove.pipeline.writers.parquet import ParquetWriter

from curation import __version__
from curation.config import JobConfig
from curation.errors import CurateError
from curation.release import ReleaseLayout, resolve_version
from curation.sources import reader_for
from filters.base import ANNOTATIONS
from manifests.schema import Manifest, SourceSummary, StepStats
from manifests.writer import content_hash, describe_input, describe_shard, git_commit, load_tokenizer, now_utc, totals, write_manifest

SHARD_COLUMNS = ["id", "text", "source", "kind", "license", "url", "title", "date"]
SHARD_SCHEMA = pa.schema([(c, pa.string()) for c in SHARD_COLUMNS] + [("annotations", pa.string()), ("metadata", pa.string())])


def shard_row(_writer, doc: Document) -> dict:
    meta = dict(doc.metadata)
    row = {"id": doc.id, "text": doc.text}
    for col in SHARD_COLUMNS[2:]:
        value = meta.pop(col, None)
        row[col] = None if value is None else str(value)
    row["annotations"] = orjson.dumps(meta.pop(ANNOTATIONS, {})).decode()
    row["metadata"] = orjson.dumps(meta, default=str).decode()
    return row


class ShardWriter(ParquetWriter):
    """Writes kept documents as Parquet shards: `data/<source>/<task>.parquet`, fixed columns
    (id, text, source, kind, license, url, title, date) plus `annotations` and remaining `metadata` as JSON."""

    name = "write shards"

    def __init__(self, folder: str):
        super().__init__(folder, output_filename="${source}/${rank}.parquet", adapter=shard_row, schema=SHARD_SCHEMA)


def exclusion_writer(rejects_root: Path, step: str) -> JsonlWriter:
    return JsonlWriter(str(rejects_root / step), output_filename="${source}-${rank}.jsonl.gz")


def filter_steps(job: JobConfig, rejects_root: Path | None, label_only: bool = False) -> list[tuple[str, PipelineStep]]:
    """The enabled filter steps in pipeline order, each with its exclusion writer unless labelling only."""
    from filters.language import LanguageFilter
    from filters.normalize import TextNormalizer
    from filters.script import ScriptFilter

    s = job.steps
    model_path = job.resolve(s.language.model_path) if s.language.model_path else None
    candidates = [
        ("normalize", s.normalize, lambda kw: TextNormalizer(s.normalize, **kw)),
        ("language", s.language, lambda kw: LanguageFilter(s.language, model_path=model_path, **kw)),
        ("script", s.script, lambda kw: ScriptFilter(s.script, **kw)),
    ]
    steps = []
    for name, cfg, make in candidates:
        if not cfg.enabled:
            continue
        kwargs = {"label_only": label_only}
        if rejects_root is not None and not label_only:
            kwargs["exclusion_writer"] = exclusion_writer(rejects_root, name)
        steps.append((name, make(kwargs)))
    return steps


def build_cpt_pipeline(job: JobConfig, staging: Path) -> list[tuple[str, PipelineStep]]:
    steps: list[tuple[str, PipelineStep]] = []
    for src in job.sources:
        files = [str(f) for f in job.source_files(src)]
        steps.append((f"read:{src.name}", reader_for(src, files, str(staging / "rejects" / "read"))))
    steps += filter_steps(job, staging / "rejects")
    steps.append(("write", ShardWriter(str(staging / "data"))))
    return steps


def collect_step_stats(logs: Path, labels: list[str]) -> list[StepStats]:
    """Merge the per-task stats files datatrove wrote into one StepStats per step."""
    counters: list[dict[str, float]] = [defaultdict(float) for _ in labels]
    for f in sorted((logs / "stats").glob("*.json")):
        for i, step in enumerate(json.loads(f.read_text())):
            for key, value in step["stats"].items():
                counters[i][key] += value["total"] if isinstance(value, dict) else value
    out = []
    for label, c in zip(labels, counters):
        by_source: dict[str, dict[str, int]] = defaultdict(dict)
        for key, value in c.items():
            if key.startswith("source:"):
                src, _, what = key[len("source:"):].partition("/")
                by_source[src][what] = int(value)
        if label.startswith("read:"):
            rejected = {k[len("rejected_"):]: int(v) for k, v in c.items() if k.startswith("rejected_")}
            docs = int(sum(v for k, v in c.items() if k.endswith("/documents")))
            out.append(StepStats(step=label, input=docs + sum(rejected.values()), kept=docs, dropped=sum(rejected.values()),
                                 dropped_by_reason=rejected, by_source=dict(by_source),
                                 other={k: v for k, v in c.items() if k.startswith("skipped_") or k == "input_files"}))
        else:
            reasons = {k[len("dropped_"):]: int(v) for k, v in c.items() if k.startswith("dropped_")}
            out.append(StepStats(step=label, input=int(c.get("total", 0)), kept=int(c.get("forwarded", 0)), dropped=int(c.get("dropped", 0)),
                                 dropped_by_reason=reasons, by_source=dict(by_source)))
    return out


def run_job(job: JobConfig, force: bool = False, resume: bool = False, quiet: bool = True) -> Path:
    """Run the CPT job and publish `<output>/<name>/<version>/`; returns that path."""
    version = resolve_version(job.output_dir, job.name, job.version)
    layout = ReleaseLayout(job.output_dir, job.name, version)
    layout.prepare(force=force, resume=resume)
    named = build_cpt_pipeline(job, layout.staging)
    labels = [n for n, _ in named]
    executor = LocalPipelineExecutor([s for _, s in named], tasks=job.executor.tasks, workers=job.executor.workers,
                                     logging_dir=str(layout.logs), skip_completed=True)
    # datatrove logs every task at INFO to stderr; keep that in the run's log folder unless asked for
    layout.logs.mkdir(parents=True, exist_ok=True)
    with open(layout.logs / "executor.log", "a") as log, contextlib.redirect_stderr(log if quiet else sys.stderr):
        executor.run()
    incomplete = executor.get_incomplete_ranks(range(job.executor.tasks))
    if incomplete:
        raise CurateError(f"tasks {incomplete} did not complete; see {layout.logs}/logs and rerun with --resume")
    steps = collect_step_stats(layout.logs, labels)[:-1]  # the writer's counts repeat the last filter's
    manifest = build_manifest(job, version, layout.staging, steps)
    write_manifest(layout.staging, manifest)
    (layout.staging / "stats").mkdir(exist_ok=True)
    (layout.staging / "stats" / "steps.json").write_text(json.dumps([s.model_dump() for s in steps], ensure_ascii=False, indent=2))
    return layout.publish()


def build_manifest(job: JobConfig, version: str, release_dir: Path, steps: list[StepStats]) -> Manifest:
    tokenizer, tokenizer_info = load_tokenizer(job.resolve(job.tokenizer) if job.tokenizer else None)
    shards = [describe_shard(release_dir, p, tokenizer) for p in sorted((release_dir / "data").rglob("*.parquet"))]
    sources = []
    for src in job.sources:
        mine = [s for s in shards if s.source == src.name]
        sources.append(SourceSummary(name=src.name, kind=src.kind, license=src.license, weight=src.weight,
                                     documents=sum(s.documents for s in mine), characters=sum(s.characters for s in mine),
                                     input_files=[describe_input(f, Path(job.base_dir)) for f in job.source_files(src)]))
    weighted = {s.name: s.weight for s in sources if s.documents}
    total_weight = sum(weighted.values()) or 1.0
    rejects: dict[str, int] = defaultdict(int)
    for st in steps:
        if st.step.startswith("read:"):
            for reason, n in st.dropped_by_reason.items():
                rejects[reason] += n
    return Manifest(name=job.name, kind="cpt", version=version, created=now_utc(), content_hash=content_hash(shards),
                    tool_version=__version__, git_commit=git_commit(), config=job.as_dict(), config_hash=job.config_hash(),
                    shards=shards, sources=sources, steps=steps, rejects=dict(rejects),
                    totals=totals(shards), tokenizer=tokenizer_info,
                    mixture_weights={k: round(v / total_weight, 6) for k, v in weighted.items()})
