"""Dedup at scale (issue 14): wall time per stage and peak RSS of the largest process, by corpus size.

    python -m bench.dedup.scale --sizes 200000 1000000 5000000 [--incremental 500000] [--tasks 8] [--workers 2]

(sentences from ../shared/data/real beside the checkout, or $TWCURATE_REAL_DATA: wiki, laws, news; read in place)

Documents of ~160 characters are built from real zh-TW sentences (seeded). 10% of the documents are near-copies of
an earlier one (punctuation changed, a few characters inserted or a short tag appended): the known near-duplicate
groups. Each size runs `curate run` as a child process on a dedup-only job (every content filter off) with
`tasks` tasks on `workers` processes; the stage times come from the run log, the peak RSS is the largest
`ru_maxrss` among the child's process tree (RUSAGE_CHILDREN). Recall = planted copies removed / planted copies.
With `--incremental N`, N more documents (10% copies of the largest corpus's documents, 10% copies among themselves)
are deduplicated against the largest release (`--since`-style `against:`), measured the same way.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import polars as pl
import yaml

from bench.common.paths import REPO, real_root

TAGS = ["（轉載）", "【快訊】", "（更新）", "（圖）", "——本報訊"]


def sentences() -> list[str]:
    texts = []
    for name in ("drcd_wiki_zh_tw/drcd_articles.jsonl", "tw_news/news_articles.jsonl"):
        path = real_root() / name
        if path.is_file():
            texts += [json.loads(line).get("text", "") for line in path.open(encoding="utf-8")]
    for f in sorted((real_root() / "tw_laws" / "FalVMingLing").glob("*.json"))[:300]:
        texts.append(f.read_text(encoding="utf-8"))
    if not texts:
        raise SystemExit(f"skipped: no real zh-TW text under {real_root()} (set TWCURATE_REAL_DATA)")
    out = []
    for t in texts:
        out += [s for s in re.split(r"(?<=[。！？])", t) if 12 <= len(s) <= 80 and len(re.findall(r"[\u4e00-\u9fff]", s)) >= 10]
    return sorted(set(out))


def near_copy(text: str, rng: random.Random) -> str:
    kind = rng.randrange(3)
    if kind == 0:
        return text.replace("，", ",").replace("。", ".")
    if kind == 1:
        i = rng.randrange(len(text))
        return text[:i] + rng.choice("的了是在有") + text[i:]
    return text + rng.choice(TAGS)


def write_corpus(folder: Path, n: int, pool: list[str], seed: int, prefix: str, parents: list[str] | None = None,
                 files: int = 8) -> tuple[dict[str, str], list[str]]:
    """n documents in `files` JSONL files; returns {copy id: origin id} and the texts (for a later incremental run)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    handles = [open(folder / f"part{k}.jsonl", "w", encoding="utf-8") for k in range(files)]
    texts, planted = [], {}
    for i in range(n):
        if parents and rng.random() < 0.1:
            j = rng.randrange(len(parents))
            text, origin = near_copy(parents[j], rng), f"p{j}"
            planted[f"{prefix}{i}"] = origin
        elif texts and rng.random() < (0.1 if not parents else 0.1 / 0.9):
            j = rng.randrange(len(texts))
            text = near_copy(texts[j], rng)
            planted[f"{prefix}{i}"] = f"{prefix}{j}"
        else:
            text = ""
            while len(text) < 160:
                text += rng.choice(pool)
        texts.append(text)
        handles[i % files].write(json.dumps({"id": f"{prefix}{i}", "text": text}, ensure_ascii=False) + "\n")
    for h in handles:
        h.close()
    return planted, texts


def run(folder: Path, name: str, tasks: int, workers: int, against: Path | None = None) -> dict:
    job = {"name": name, "version": "0.1.0", "output": str(folder / "out"),
           "sources": [{"name": "x", "kind": "jsonl", "path": str(folder / "input" / "*.jsonl"), "id_field": "id"}],
           "tokenizer": "none",
           "steps": {s: {"enabled": False} for s in ("language", "script", "quality", "spam", "toxicity", "pii")}
           | {"dedup": {"enabled": True, **({"against": str(against)} if against else {})}},
           "executor": {"kind": "local", "tasks": tasks, "workers": workers}}
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump(job, allow_unicode=True), encoding="utf-8")
    shutil.rmtree(folder / "out", ignore_errors=True)
    # a fresh wrapper per run: its RUSAGE_CHILDREN covers exactly this run's process tree
    wrapper = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
               "print('MAXRSS', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(r.returncode)")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "-m", "curation.cli", "run", str(path)],
                          capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    peak = int(re.findall(r"MAXRSS (\d+)", proc.stderr)[-1])
    events = [json.loads(line) for line in (folder / "out" / "logs" / f"{name}-0.1.0.jsonl").open()]
    times, last = {}, None
    for e in events:
        t = datetime.fromisoformat(e.get("time") or e.get("ts"))
        if e["event"] == "start":
            last = t
        elif e["event"] in ("stage_done", "published"):
            times[e.get("stage", "finalize")] = (t - last).total_seconds()
            last = t
    release = Path(proc.stdout.strip().splitlines()[-1])
    removed = set(pl.read_parquet(release / "dedup" / "clusters.parquet")["removed_id"].to_list())
    return {"wall": wall, "peak_mb": peak / 1024, "stages": times, "removed": removed, "release": release}


def caught(planted: dict[str, str], removed: set[str]) -> float:
    """A planted copy is caught when it and its origin are not both kept (one survivor per group; which one
    survives is the survivor rule's business: ids compare as strings)."""
    return sum(1 for c, o in planted.items() if f"x/{c}" in removed or f"x/{o}" in removed) / max(len(planted), 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[200_000, 1_000_000])
    ap.add_argument("--incremental", type=int, default=0)
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("/tmp/twcurate-dedup-scale"))
    args = ap.parse_args()
    pool = sentences()
    print(f"{len(pool):,} distinct real sentences; tasks {args.tasks}, workers {args.workers}\n")
    print("| documents | wall (s) | read+signatures | lsh buckets | clusters | dedup filter | finalize | peak RSS (MB) | planted | recall |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    largest = None
    for n in args.sizes:
        folder = args.out / f"n{n}"
        shutil.rmtree(folder, ignore_errors=True)
        planted, texts = write_corpus(folder / "input", n, pool, seed=n, prefix="")
        r = run(folder, "scale", args.tasks, args.workers)
        st = r["stages"]
        print(f"| {n:,} | {r['wall']:.0f} | {st.get('read and filter', 0):.0f} | {st.get('lsh buckets', 0):.0f} | "
              f"{st.get('dedup clusters', 0):.0f} | {st.get('dedup filter', 0):.0f} | {st.get('finalize', 0):.0f} | "
              f"{r['peak_mb']:,.0f} | {len(planted):,} | {caught(planted, r['removed']):.4f} |", flush=True)
        largest = (folder, r["release"], texts)
    if args.incremental and largest:
        folder, parent, parent_texts = largest
        inc = args.out / "incremental"
        shutil.rmtree(inc, ignore_errors=True)
        planted, _ = write_corpus(inc / "input", args.incremental, pool, seed=7, prefix="n", parents=parent_texts)
        del parent_texts
        r = run(inc, "incremental", args.tasks, args.workers, against=parent)
        # a copy of a released document must go (the released one is never removed)
        from_parent = [c for c, o in planted.items() if o.startswith("p")]
        got_parent = sum(1 for c in from_parent if f"x/{c}" in r["removed"])
        within = {c: o for c, o in planted.items() if not o.startswith("p")}
        st = r["stages"]
        print(f"\nincremental: {args.incremental:,} new documents against the {args.sizes[-1]:,}-document release: "
              f"wall {r['wall']:.0f} s (read+signatures {st.get('read and filter', 0):.0f}, buckets {st.get('lsh buckets', 0):.0f}, "
              f"clusters {st.get('dedup clusters', 0):.0f}, filter {st.get('dedup filter', 0):.0f}, finalize {st.get('finalize', 0):.0f}), "
              f"peak RSS {r['peak_mb']:,.0f} MB; recall of copies of released documents {got_parent / max(len(from_parent), 1):.4f} "
              f"({len(from_parent):,}), of copies among the new documents {caught(within, r['removed']):.4f} ({len(within):,})")


if __name__ == "__main__":
    main()
