"""What the default CPT steps drop from real, clean-ish zh-TW text (laws, wiki, news, PTT, LINE messages).

    python -m bench.quality.real_zh_tw [--out bench/out/real_zh_tw] [--dedup] [--sample 20] [--seed 0]

(data from ../shared/data/real beside the checkout, or $TWCURATE_REAL_DATA)

Runs `curate run` (default steps; `--dedup` adds exact + MinHash dedup as issue #18's job had) over every real zh-TW
set found under ../shared/data/real/ and prints a Markdown report: the funnel per source and, per step x reason x
source, documents and characters dropped and their share of the source. Writes beside it:
  drops.jsonl     every dropped document: source, step:reason, id, length, annotations, the first 300 characters
  review.md       a seeded sample of `--sample` drops per reason, numbered, for marking right or wrong by hand
  edits.jsonl     every removed segment (line cleaning, spam and toxicity segment removal): source, id, reason, line
  edits.md        a seeded sample of 50 removed lines per reason, for marking right or wrong by hand
Sets that are absent are skipped with a note; the data is read in place, never copied into the repo.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import polars as pl
import yaml

from bench.common.paths import REPO, real_root

# (source name, reader kind, path glob under the real data root, extra source fields); every set is Traditional zh-TW text
SETS = [
    ("laws", "legal", "tw_laws/FalVMingLing/*.json", {}),
    ("laws_mixed", "legal", "tw_laws_mixed/FalVMingLing/*.json", {}),
    ("wiki", "jsonl", "drcd_wiki_zh_tw/drcd_articles.jsonl", {"id_field": "id"}),
    ("news", "jsonl", "tw_news/news_articles.jsonl", {"id_field": "id"}),
    ("ptt_news", "jsonl", "tw_news/ptt_news_reposts.jsonl", {"id_field": "id"}),
    ("ptt", "jsonl", "ptt_boards_2024/ptt_posts.jsonl", {"id_field": "id"}),
    ("line", "jsonl", "cofacts_line_msgs/cofacts_msgs.jsonl", {"id_field": "id"}),
]
# sets a Taiwan LLM team wants (almost) whole: law, encyclopedia, edited news
CLEAN = {"laws", "laws_mixed", "wiki", "news"}


def write_job(out: Path, dedup: bool) -> tuple[Path, list[str]]:
    sources, missing = [], []
    for name, kind, pattern, extra in SETS:
        base = real_root() / pattern.split("/")[0]
        if not base.exists():
            missing.append(name)
            continue
        sources.append({"name": name, "kind": kind, "path": str(real_root() / pattern), **extra})
    job = {"name": "real_zh_tw", "version": "0.1.0", "output": str(out / "releases"), "sources": sources,
           "steps": {"dedup": {"enabled": dedup}}, "executor": {"kind": "local", "tasks": 2, "workers": 2}}
    path = out / "job.yaml"
    path.write_text(yaml.safe_dump(job, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path, missing


def read_drops(release: Path) -> list[dict]:
    drops = []
    for f in sorted((release / "rejects").glob("*/*.jsonl.gz")):
        if f.parent.name == "read":
            continue
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            for line in fh:
                d = json.loads(line)
                meta = d.get("metadata", {})
                ann = meta.get("annotations", {})
                if isinstance(ann, str):
                    ann = json.loads(ann)
                drops.append({"source": meta.get("source"), "reason": meta.get("filter_reason"), "id": d.get("id"),
                              "chars": len(d.get("text", "")), "annotations": ann, "text": d.get("text", "")[:300],
                              "edits": meta.get("segment_edits", [])})
    return drops


def report(release: Path, missing: list[str], sample: int, seed: int, out: Path, sample_edits: int = 50) -> str:
    steps = pl.read_parquet(release / "stats/steps.parquet")
    lines = [f"Release `{release}`; sets absent here: {', '.join(missing) or 'none'}.", ""]
    read = steps.filter(pl.col("step").str.starts_with("read:") & (pl.col("outcome") == "kept"))
    first = steps.filter(~pl.col("step").str.starts_with("read:"))["step"][0]  # every document read enters it
    chars = steps.filter(pl.col("step") == first).group_by("source").agg(pl.col("characters").sum())
    chars = dict(zip(chars["source"], chars["characters"]))
    totals = {r["source"]: (r["documents"], chars.get(r["source"], 0)) for r in read.iter_rows(named=True)}
    lines += ["| step | reason | source | documents | share of source docs | characters | share of source chars |",
              "|---|---|---|---|---|---|---|"]
    dropped = steps.filter(pl.col("outcome") == "dropped").sort(["step", "reason", "source"])
    worst: dict[str, float] = defaultdict(float)
    for r in dropped.iter_rows(named=True):
        n, c = totals.get(r["source"], (0, 0))
        share = r["documents"] / n if n else 0.0
        worst[f"{r['step']}|{r['source']}"] += share
        lines.append(f"| {r['step']} | {r['reason']} | {r['source']} | {r['documents']} | {share:.2%} | "
                     f"{r['characters']:,} | {r['characters'] / c if c else 0:.2%} |")
    lines += ["", "Funnel (documents in, kept at the end):", "", "| source | in | kept | kept share |", "|---|---|---|---|"]
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    for src, (n, _c) in sorted(totals.items()):
        kept = next((x["documents"] for x in manifest["sources"] if x["name"] == src), 0)
        lines.append(f"| {src} | {n} | {kept} | {kept / n if n else 0:.2%} |")
    clean_worst = max((v for k, v in worst.items() if k.split("|")[1] in CLEAN), default=0.0)
    lines += ["", f"Largest share of a clean set (laws, wiki, news) dropped by one step: {clean_worst:.2%}"]

    drops = read_drops(release)
    with open(out / "drops.jsonl", "w", encoding="utf-8") as f:
        for d in drops:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    by_reason = defaultdict(list)
    for d in drops:
        by_reason[d["reason"]].append(d)
    rng = random.Random(seed)
    review = []
    for reason in sorted(by_reason):
        rows = sorted(by_reason[reason], key=lambda d: d["id"])
        picked = rng.sample(rows, min(sample, len(rows)))
        review.append(f"## {reason} ({len(rows)} dropped, {len(picked)} shown)\n")
        for i, d in enumerate(picked, 1):
            ann = {k: v for k, v in d["annotations"].items() if k in (
                "lang", "lang_score", "script", "hant_ratio", "spam_score", "spam_signals", "toxicity_hits", "quality")}
            text = d["text"][:200].replace("\n", "⏎")
            review.append(f"{i}. `{d['id']}` ({d['chars']} chars) {json.dumps(ann, ensure_ascii=False)}\n   > {text}\n")
    (out / "review.md").write_text("\n".join(review), encoding="utf-8")
    lines += ["", *edit_report(release, drops, sample_edits, seed, out)]
    return "\n".join(lines)


def read_edits(release: Path, drops: list[dict]) -> list[dict]:
    """Every removed segment, of kept documents (shards) and dropped ones (rejects): source, id, reason, line."""
    edits = []
    for f in sorted((release / "data").rglob("*.parquet")):
        for r in pl.read_parquet(f, columns=["id", "source", "metadata"]).iter_rows(named=True):
            for at, reason, text in json.loads(r["metadata"] or "{}").get("segment_edits", []):
                edits.append({"source": r["source"], "id": r["id"], "reason": reason, "text": text, "kept_document": True})
    for d in drops:
        for at, reason, text in d.get("edits", []):
            edits.append({"source": d["source"], "id": d["id"], "reason": reason, "text": text, "kept_document": False})
    return edits


def edit_report(release: Path, drops: list[dict], sample: int, seed: int, out: Path) -> list[str]:
    """Segments removed per reason and source, and edits.md: a seeded sample of removed lines per reason to mark by hand."""
    edits = read_edits(release, drops)
    with open(out / "edits.jsonl", "w", encoding="utf-8") as f:
        for e in edits:
            f.write(json.dumps(e, ensure_ascii=False) + "\n")
    counts = defaultdict(lambda: [set(), 0, 0])
    for e in edits:
        c = counts[(e["reason"], e["source"])]
        c[0].add(e["id"])
        c[1] += 1
        c[2] += len(e["text"]) + 1
    lines = ["Segment edits (lines removed, documents kept or later dropped):", "",
             "| reason | source | documents | segments | characters |", "|---|---|---|---|---|"]
    for (reason, source), (ids, n, chars) in sorted(counts.items()):
        lines.append(f"| {reason} | {source} | {len(ids)} | {n} | {chars:,} |")
    rng = random.Random(seed)
    by_reason = defaultdict(list)
    for e in edits:
        if e["text"].strip():
            by_reason[e["reason"]].append(e)
    review = []
    for reason in sorted(by_reason):
        rows = sorted(by_reason[reason], key=lambda e: (e["id"], e["text"]))
        picked = rng.sample(rows, min(sample, len(rows)))
        review.append(f"## {reason} ({len(rows)} removed lines, {len(picked)} shown)\n")
        review += [f"{i}. `{e['id']}` {e['text'][:160]}" for i, e in enumerate(picked, 1)]
        review.append("")
    (out / "edits.md").write_text("\n".join(review), encoding="utf-8")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "bench/out/real_zh_tw")
    ap.add_argument("--dedup", action="store_true")
    ap.add_argument("--sample", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--release", type=Path, help="report on this finished release instead of running the job")
    args = ap.parse_args(argv)
    if not real_root().exists():
        print(f"skipped: {real_root()} is absent (the real zh-TW sets are not on this machine)")
        return 0
    if args.release:
        print(report(args.release, [], args.sample, args.seed, args.out))
        return 0
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    job, missing = write_job(args.out, args.dedup)
    proc = subprocess.run([sys.executable, "-m", "curation.cli", "run", str(job)], capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stdout, proc.stderr, file=sys.stderr)
        return proc.returncode
    release = Path(proc.stdout.strip().splitlines()[-1])
    print(report(release, missing, args.sample, args.seed, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
