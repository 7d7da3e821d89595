"""Filter statistics of a release: per step x source x reason tables, funnels, score distributions, samples.

Everything is read from the release itself (manifest, `stats/steps.parquet`, shards and `rejects/`) with polars.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import TYPE_CHECKING

from filters.base import StatName
from manifests import load
from manifests.schema import Manifest

if TYPE_CHECKING:
    import polars as pl

SCORES = ["lang_score", "hant_ratio", "tw_phrases", "cn_phrases", "quality_score", "quality_model_score", "spam_score", "toxicity_score"]
QUANTILES = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]


STATS_COLUMNS = ("step", "source", "outcome", "reason", "documents", "characters")
# the per-source outcomes a stats row is made of, and the stat that holds their characters: dropped; edited (kept with
# some segments removed, filters/segments.py); tagged (kept unchanged with a label: mild profanity, a business id);
# contaminated (overlapping an evaluation set, whatever was done)
ROW_OUTCOMES = {"dropped": "chars_dropped", "edited": "chars_removed", "tagged": None, "contaminated": None}


def stats_rows(manifest: Manifest) -> list[tuple]:
    """One row per step, source, outcome and reason: documents and characters (STATS_COLUMNS)."""
    rows = []
    for st in manifest.steps:
        for source, counts in st.by_source.items():
            if st.step.startswith("read:"):
                rows.append((st.step, source, "kept", None, counts.get("documents", 0), None))
                continue
            rows.append((st.step, source, "kept", None, counts.get("kept", 0), counts.get("chars_kept")))
            for key, n in counts.items():
                stat = StatName.parse(key)
                if stat.outcome in ROW_OUTCOMES and stat.reason is not None:
                    chars = ROW_OUTCOMES[stat.outcome]
                    rows.append((st.step, source, stat.outcome, stat.reason, n,
                                 counts.get(StatName(chars, stat.reason).name) if chars else None))
        if st.step.startswith("read:"):
            source = st.step[len("read:"):]
            for reason, n in st.dropped_by_reason.items():
                rows.append((st.step, source, "rejected", reason, n, None))
    return rows


def stats_table(manifest: Manifest) -> pl.DataFrame:
    import polars as pl

    return pl.DataFrame(stats_rows(manifest), schema={"step": pl.String, "source": pl.String, "outcome": pl.String, "reason": pl.String,
                                      "documents": pl.Int64, "characters": pl.Int64}, orient="row")


def write_stats(release_dir: Path, manifest: Manifest) -> Path:
    path = release_dir / "stats" / "steps.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    # pyarrow, not polars: a run (and every Slurm or Ray node that finalizes one) needs no dataframe library
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = list(zip(*stats_rows(manifest))) or [()] * len(STATS_COLUMNS)
    types = [pa.large_string()] * 4 + [pa.int64()] * 2
    pq.write_table(pa.table([pa.array(list(c), t) for c, t in zip(columns, types)], names=list(STATS_COLUMNS)), path)
    return path


def funnel(manifest: Manifest) -> pl.DataFrame:
    """Documents per source after each step: read, then every filter in order; `kept` is in the release."""
    import polars as pl

    steps = [s for s in manifest.steps if not s.step.startswith("read:")]
    rows = []
    for src in manifest.sources:
        read = next((s for s in manifest.steps if s.step == f"read:{src.name}"), None)
        row = {"source": src.name, "read": read.kept if read else 0}
        for st in steps:
            row[st.step] = st.by_source.get(src.name, {}).get("kept", 0)
        row["kept"] = src.documents
        rows.append(row)
    return pl.DataFrame(rows)


def drop_reasons(manifest: Manifest) -> pl.DataFrame:
    import polars as pl

    t = stats_table(manifest).filter(pl.col("outcome").is_in(["dropped", "rejected"]))
    return t.group_by("step", "reason", "source").agg(pl.col("documents").sum()).sort("documents", descending=True)


def edits(manifest: Manifest) -> pl.DataFrame:
    """Documents kept but edited (segments removed: documents and characters removed) or only tagged, and documents
    overlapping each evaluation set (`contaminated`, whatever the step then did), by step, reason, source."""
    import polars as pl

    t = stats_table(manifest).filter(pl.col("outcome").is_in(["edited", "tagged", "contaminated"]))
    return t.select("step", "outcome", "reason", "source", "documents", "characters").sort("documents", descending=True)


def regions(manifest: Manifest) -> pl.DataFrame:
    """Per source, the documents the script step placed in each region (tw, cn, hk, unknown) and their share of the
    source's Chinese documents: how much Hong Kong Cantonese or mainland wording a source brings."""
    import polars as pl

    rows = []
    for st in manifest.steps:
        if st.step != "script":
            continue
        for source, counts in sorted(st.by_source.items()):
            found = {k[len("region_"):]: v for k, v in counts.items() if k.startswith("region_")}
            total = sum(found.values())
            rows += [{"source": source, "region": r, "documents": n, "share": round(n / total, 4)}
                     for r, n in sorted(found.items())]
    return pl.DataFrame(rows, schema={"source": pl.String, "region": pl.String, "documents": pl.Int64, "share": pl.Float64})


def outcomes_per_step(manifest: Manifest) -> pl.DataFrame:
    """Per step: documents in, dropped, edited (kept with segments removed) and only tagged."""
    import polars as pl

    t = stats_table(manifest)
    rows = []
    for st in manifest.steps:
        if st.step.startswith("read:"):
            continue
        part = t.filter(pl.col("step") == st.step)
        count = lambda outcome: int(part.filter(pl.col("outcome") == outcome)["documents"].sum())  # noqa: E731
        rows.append({"step": st.step, "in": st.input, "dropped": st.dropped, "edited": count("edited"), "tagged": count("tagged")})
    return pl.DataFrame(rows, schema={"step": pl.String, "in": pl.Int64, "dropped": pl.Int64, "edited": pl.Int64, "tagged": pl.Int64})


def _read_json_lines(files: list[Path]) -> list[dict]:
    import gzip

    out = []
    for f in files:
        opener = gzip.open if f.suffix == ".gz" else open
        with opener(f, "rt", encoding="utf-8") as fh:
            out += [json.loads(line) for line in fh if line.strip()]
    return out


def dropped_documents(release: Path, step: str | None = None) -> list[dict]:
    """Documents the filters dropped: {id, text, source, step, reason, annotations}."""
    files = sorted((release / "rejects").glob(f"{step or '*'}/*.jsonl.gz"))
    docs = []
    for rec in _read_json_lines(files):
        meta = rec.get("metadata", {})
        step_name, _, reason = (meta.get("filter_reason") or ":").partition(":")
        docs.append({"id": rec["id"], "text": rec.get("text", ""), "source": meta.get("source"), "step": step_name, "reason": reason,
                     "annotations": meta.get("annotations", {}), "edits": meta.get("segment_edits", []),
                     "tags": meta.get("segment_tags", [])})
    return docs


def kept_documents(release: Path) -> list[dict]:
    import polars as pl

    files = sorted((release / "data").rglob("*.parquet"))
    if not files:
        return []
    df = pl.read_parquet(files)
    return [{"id": r["id"], "text": r["text"], "source": r["source"], "step": None, "reason": None,
             "annotations": json.loads(r["annotations"] or "{}"),
             **_edit_records(r["metadata"])} for r in df.iter_rows(named=True)]


def _edit_records(metadata: str | None) -> dict:
    meta = json.loads(metadata or "{}")
    return {"edits": meta.get("segment_edits", []), "tags": meta.get("segment_tags", [])}


def score_quantiles(release: Path) -> pl.DataFrame:
    """Quantiles of every numeric annotation over all documents the filters saw (kept and dropped)."""
    import polars as pl

    docs = kept_documents(release) + dropped_documents(release)
    rows = []
    for name in SCORES:
        values = [d["annotations"][name] for d in docs if isinstance(d["annotations"].get(name), (int, float))]
        if not values:
            continue
        s = pl.Series(values, dtype=pl.Float64)
        rows.append({"score": name, "n": len(values), **{f"p{int(q * 100)}": s.quantile(q, "nearest") for q in QUANTILES}})
    return pl.DataFrame(rows)


def compare(old: Manifest, new: Manifest) -> pl.DataFrame:
    """Drop rate of every step x reason in both releases and the change."""
    import polars as pl

    def rates(m: Manifest) -> dict[tuple[str, str], float]:
        out = {}
        for st in m.steps:
            if st.step.startswith("read:"):
                continue
            out[(st.step, "(all)")] = st.dropped / st.input if st.input else 0.0
            for reason, n in st.dropped_by_reason.items():
                out[(st.step, reason)] = n / st.input if st.input else 0.0
        return out

    a, b = rates(old), rates(new)
    rows = [{"step": k[0], "reason": k[1], "old_rate": a.get(k), "new_rate": b.get(k),
             "change": (b.get(k) or 0.0) - (a.get(k) or 0.0)} for k in sorted(set(a) | set(b))]
    return pl.DataFrame(rows)


def sample(release: Path, step: str | None = None, reason: str | None = None, source: str | None = None,
           kept: bool = False, n: int = 20, seed: int = 0) -> list[dict]:
    """Up to n documents, dropped (default) or kept, matching the filters; repeatable for a given seed."""
    docs = kept_documents(release) if kept else dropped_documents(release, step)
    docs = [d for d in docs if (reason is None or d["reason"] == reason) and (source is None or d["source"] == source)]
    docs.sort(key=lambda d: d["id"])
    return random.Random(seed).sample(docs, min(n, len(docs)))


def release_dir(path: str | Path) -> tuple[Path, Manifest]:
    p = Path(path)
    p = p.parent if p.is_file() else p
    return p, load(p)
