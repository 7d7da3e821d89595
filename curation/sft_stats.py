"""Statistics of an SFT release (`curate synth`): records kept per split, category and source, gate rejections per
reason and source, generation failures, judge scores, and samples of rejected records with their evidence.

An SFT release holds chat `messages`, not `text`, and its rejects are two JSON-lines files
(`rejects/gate_rejects.jsonl`, `rejects/failures.jsonl`) rather than CPT's per-step gzip files, so `curate stats`,
`report` and `inspect` read it here. Its gate steps have the CPT steps' shape, so the CPT tables
(curation.stats.drop_reasons, compare, stats_table) run on `view(...)` unchanged.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from filters.base import StatName
from manifests.schema import Manifest, SourceSummary, StepStats
from manifests.sft import GATE_ORDER, gate_counts, source_licenses, steps_from_counts

if TYPE_CHECKING:
    import polars as pl

FAILURES_STEP = "failures"  # what `curate inspect --step` calls generation and import failures (rejects/failures.jsonl)


def is_sft(manifest: Manifest) -> bool:
    return manifest.kind == "sft"


def record_source(rec: dict) -> str:
    """Where a record came from: its import's source name, else (a generated record, a failure) the source an import
    id names (`import/<source>/<id>`), else its task."""
    if rec.get("source"):
        return str(rec["source"])
    parts = str(rec.get("id", "")).split("/")
    if rec.get("task") == "import" and len(parts) >= 3:
        return parts[1]
    return str(rec.get("task") or "unknown")


def _json_lines(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def kept_records(release: Path) -> list[dict]:
    """Every kept record of the release's shards: id, split, category, source, task, messages, tokens and the parsed
    metadata (task, gate info, judge scores, ...)."""
    import pyarrow.parquet as pq

    out = []
    for shard in sorted((release / "data").glob("*/*.parquet")):
        for row in pq.read_table(shard).to_pylist():
            meta = json.loads(row.get("metadata") or "{}")
            rec = {**meta, **{k: row.get(k) for k in ("id", "category", "source", "messages", "tokens")}}
            out.append({**rec, "split": shard.parent.name, "source": record_source(rec), "task": meta.get("task"), "metadata": meta})
    return out


def gate_rejects(release: Path) -> list[dict]:
    """Records a gate rejected, each the full record plus gate, reason and evidence (older releases: no evidence)."""
    return [{**r, "source": record_source(r), "evidence": r.get("evidence")} for r in _json_lines(release / "rejects" / "gate_rejects.jsonl")]


def failures(release: Path) -> list[dict]:
    """Requests or imported records that produced no record: id, task, reason and the error or raw reply."""
    return [{**r, "source": record_source(r), "gate": FAILURES_STEP} for r in _json_lines(release / "rejects" / "failures.jsonl")]


def steps(release: Path, manifest: Manifest) -> list[StepStats]:
    """The gate steps: the manifest's own, or for a release made before synth recorded them, rebuilt from its gate
    counts, with per-source numbers from its rejects and shards."""
    if manifest.steps:
        return list(manifest.steps)
    rejected = Counter((r.get("gate", "?"), r.get("reason", "?"), r["source"]) for r in gate_rejects(release))
    kept = Counter(r["source"] for r in kept_records(release))
    return steps_from_counts(gate_counts(manifest), kept=sum(manifest.sft.splits.values()) if manifest.sft else sum(kept.values()),
                             kept_by_source=dict(kept), dropped_by_source=dict(rejected))


def sources(release: Path, manifest: Manifest) -> list[SourceSummary]:
    """The release's sources: the manifest's own, or for a release made before synth recorded them, the kept records
    counted per source from its shards, each with its import's license."""
    if manifest.sources:
        return list(manifest.sources)
    lic, summary = source_licenses(manifest), {}
    for r in kept_records(release):
        s = summary.setdefault(r["source"], {"kind": r.get("task") or "unknown", "documents": 0, "characters": 0, "tokens": 0})
        s["documents"] += 1
        s["characters"] += sum(len(m["content"]) for m in r.get("messages") or [])
        s["tokens"] += r.get("tokens") or 0
    return [SourceSummary(name=name, license=lic.get(name), weight=1.0, input_files=[], **s) for name, s in sorted(summary.items())]


def view(release: Path, manifest: Manifest) -> Manifest:
    """The manifest with its gate steps and sources filled in (see `steps`, `sources`), for the tables and the diff
    shared with CPT releases."""
    if not is_sft(manifest):
        return manifest
    return manifest.model_copy(update={"steps": steps(release, manifest), "sources": sources(release, manifest)})


def _frame(rows: list[dict], schema: dict) -> pl.DataFrame:
    import polars as pl

    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def kept_by(records: list[dict], key: str, manifest: Manifest | None = None) -> pl.DataFrame:
    """Kept records and their tokens per `key` (split, category or source; a source with its license)."""
    import polars as pl

    records_n, tokens = Counter(), Counter()
    for r in records:
        records_n[r.get(key) or "unknown"] += 1
        tokens[r.get(key) or "unknown"] += r.get("tokens") or 0
    rows = [{key: k, "records": n, "tokens": tokens[k]} for k, n in sorted(records_n.items())]
    schema = {key: pl.String, "records": pl.Int64, "tokens": pl.Int64}
    if key == "source" and manifest is not None:
        lic = source_licenses(manifest)
        rows = [{**row, "license": lic.get(row["source"])} for row in rows]
        schema["license"] = pl.String
    return _frame(rows, schema)


def gates(sft_view: Manifest) -> pl.DataFrame:
    """Per gate, in the order applied: records in, kept, dropped and the drop rate."""
    import polars as pl

    rows = [{"gate": s.step, "in": s.input, "kept": s.kept, "dropped": s.dropped,
             "drop_rate": round(s.dropped / s.input, 4) if s.input else 0.0} for s in sft_view.steps]
    return _frame(rows, {"gate": pl.String, "in": pl.Int64, "kept": pl.Int64, "dropped": pl.Int64, "drop_rate": pl.Float64})


def rejections(sft_view: Manifest) -> pl.DataFrame:
    """Rejected records per gate, reason and source (sources only where the steps record them), most first."""
    import polars as pl

    rows = []
    for s in sft_view.steps:
        for reason, n in s.dropped_by_reason.items():
            name = StatName("dropped", reason).name
            per_source = {src: c[name] for src, c in s.by_source.items() if c.get(name)}
            rows += [{"gate": s.step, "reason": reason, "source": src, "records": c} for src, c in sorted(per_source.items())]
            if sum(per_source.values()) < n:  # counts the steps do not attribute to a source
                rows.append({"gate": s.step, "reason": reason, "source": None, "records": n - sum(per_source.values())})
    df = _frame(rows, {"gate": pl.String, "reason": pl.String, "source": pl.String, "records": pl.Int64})
    return df.sort(["records", "gate", "reason"], descending=[True, False, False])


def funnel(sft_view: Manifest, records: list[dict]) -> pl.DataFrame:
    """Records per source entering the gates and left after each gate that dropped any (the `gates` table lists
    them all); `kept` is what the release holds."""
    import polars as pl

    sources = sorted({src for s in sft_view.steps for src in s.by_source} | {r["source"] for r in records})
    kept = Counter(r["source"] for r in records)
    rows = []
    for src in sources:
        first = next((s.by_source[src] for s in sft_view.steps if src in s.by_source), None)
        row = {"source": src, "in": first.get("in", 0) if first else kept[src]}
        for s in (s for s in sft_view.steps if s.dropped):
            row[s.step] = s.by_source.get(src, {}).get("kept", 0) if s.by_source else None  # None: not recorded per source
        rows.append({**row, "kept": kept[src]})
    return pl.DataFrame(rows) if rows else pl.DataFrame(schema={"source": pl.String})


def failure_table(release: Path, manifest: Manifest) -> pl.DataFrame:
    """Generation and import failures per task, source and reason (from rejects/failures.jsonl, else the manifest's
    counts by reason)."""
    import polars as pl

    found = Counter((f.get("task") or "unknown", f["source"], f.get("reason") or "unknown") for f in failures(release))
    if not found and manifest.sft:
        found = Counter({(None, None, reason): n for reason, n in (manifest.sft.generation.get("failures") or {}).items()})
    rows = [{"task": t, "source": src, "reason": r, "records": n} for (t, src, r), n in sorted(found.items(), key=str)]
    return _frame(rows, {"task": pl.String, "source": pl.String, "reason": pl.String, "records": pl.Int64})


def judge_summary(manifest: Manifest, records: list[dict], rejects: list[dict]) -> pl.DataFrame:
    """The judge's settings and outcome, and the quantiles of its mean score over the judged records (kept and
    rejected); empty when the judge was off."""
    import polars as pl

    info = (manifest.sft.generation if manifest.sft else {}).get("judge") or {}
    if not info.get("enabled"):
        return pl.DataFrame()
    means = [r["judge"]["mean"] for r in records + rejects if isinstance(r.get("judge"), dict) and isinstance(r["judge"].get("mean"), (int, float))]
    s = pl.Series(means, dtype=pl.Float64)
    row = {"threshold": info.get("threshold"), "judged": info.get("judged"),
           "low_score": sum(1 for r in rejects if r.get("gate") == "judge"),
           "judge_failures": info.get("failed", (manifest.sft.generation.get("failures_by_task") or {}).get("judge", 0)),
           "scored": len(means)}
    if means:
        row |= {"mean_min": s.min(), "mean_p50": s.quantile(0.5, "nearest"), "mean_max": s.max()}
    return pl.DataFrame([row])


def summary_line(manifest: Manifest, gate_table: pl.DataFrame, fails: pl.DataFrame) -> str:
    """One line: records kept of those the gates saw, per split, and how many requests or imports made no record."""
    kept = sum(manifest.sft.splits.values()) if manifest.sft else 0
    gated = gate_table["in"][0] if gate_table.height else kept
    splits = ", ".join(f"{k} {v}" for k, v in (manifest.sft.splits if manifest.sft else {}).items())
    return (f"{manifest.name} {manifest.version} (sft): {kept} records kept of {gated} gated ({splits}); "
            f"{int(fails['records'].sum()) if fails.height else 0} generation/import failures")


def tables(release: Path, manifest: Manifest) -> dict[str, pl.DataFrame]:
    """Every table `curate stats` shows for an SFT release, by name (the --json keys)."""
    from curation import stats

    sft_view = view(release, manifest)
    records, rejects = kept_records(release), gate_rejects(release)
    return {"splits": kept_by(records, "split"), "categories": kept_by(records, "category"),
            "sources": kept_by(records, "source", manifest), "gates": gates(sft_view), "rejections": rejections(sft_view),
            "funnel": funnel(sft_view, records), "failures": failure_table(release, manifest),
            "judge": judge_summary(manifest, records, rejects), "steps": stats.stats_table(sft_view)}


def known_steps(release: Path, manifest: Manifest) -> list[str]:
    """Names `curate inspect --step` accepts on an SFT release: every gate, and `failures`."""
    names = [s.step for s in steps(release, manifest)]
    return names + [g for g in GATE_ORDER if g not in names] + [FAILURES_STEP]


def sample(release: Path, step: str | None = None, reason: str | None = None, source: str | None = None, task: str | None = None,
           kept: bool = False, n: int = 20, seed: int = 0) -> list[dict]:
    """Up to n records, rejected by a gate or failed (default) or kept, matching the filters; repeatable for a seed."""
    if kept:
        pool = [{**r, "gate": None, "reason": None} for r in kept_records(release)]
    else:
        pool = gate_rejects(release) + failures(release)
    pool = [r for r in pool if (step is None or r.get("gate") == step) and (reason is None or r.get("reason") == reason)
            and (source is None or r["source"] == source) and (task is None or r.get("task") == task)]
    pool.sort(key=lambda r: (str(r.get("id")), str(r.get("gate"))))
    return random.Random(seed).sample(pool, min(n, len(pool)))


def describe(rec: dict, width: int) -> list[str]:
    """Lines `curate inspect` prints for one SFT record: its id, source, task and outcome, the evidence a gate
    quoted, judge scores, then each turn (or a failure's error or raw reply), shortened to `width`."""
    shorten = lambda t: t if len(t) <= width else t[: width - 1] + "…"  # noqa: E731
    outcome = f"{rec['gate']}:{rec['reason']}" if rec.get("gate") else "kept"
    lines = [f"── {rec.get('id')}  source={rec['source']}  task={rec.get('task') or '-'}  {outcome}"]
    if rec.get("evidence"):
        lines.append(f"   evidence: {shorten(' '.join(str(rec['evidence']).split()))}")
    if isinstance(rec.get("judge"), dict):
        lines.append(f"   judge: mean {rec['judge'].get('mean')} {json.dumps(rec['judge'].get('scores'), ensure_ascii=False)}")
    for m in rec.get("messages") or []:
        lines.append(f"   {m.get('role')}: {shorten(' '.join(str(m.get('content', '')).split()))}")
    for key in ("error", "raw"):
        if rec.get(key):
            lines.append(f"   {key}: {shorten(' '.join(str(rec[key]).split()))}")
    return lines
