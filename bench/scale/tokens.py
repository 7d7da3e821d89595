"""What counting tokens by default costs a CPT run (issue 15: at most 10% slower).

    python -m bench.scale.tokens [--out bench/out/tokens] [--repeats 3] [--dedup]

(data from ../shared/data/real beside the checkout, or $TWCURATE_REAL_DATA)

Runs `curate run` over the real zh-TW sets of bench/quality/real_zh_tw.py (laws, wiki, news, PTT, LINE; default
steps) with `tokenizer: none` and with the default `tokenizer: qwen2.5`, alternating, `--repeats` times each, and
prints the median wall time of each, the slowdown, and the tokens per source of the counted release. Counting
happens in the shard writer tasks; this measures the whole job, so the number is what a user would see.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

from bench.common.paths import REPO, real_root
from bench.quality.real_zh_tw import write_job


def run_once(job: Path, tokenizer: str, out: Path) -> tuple[float, Path]:
    data = yaml.safe_load(job.read_text(encoding="utf-8"))
    data |= {"tokenizer": tokenizer, "output": str(out / f"releases-{tokenizer}")}
    shutil.rmtree(out / f"releases-{tokenizer}", ignore_errors=True)
    variant = out / f"job-{tokenizer}.yaml"
    variant.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "curation.cli", "run", str(variant)], capture_output=True, text=True, cwd=REPO)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"curate run failed ({tokenizer}):\n{proc.stderr[-3000:]}")
    return elapsed, Path(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "tokens")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dedup", action="store_true")
    args = ap.parse_args()
    if not real_root().is_dir():
        raise SystemExit(f"skipped: no real data at {real_root()} (set TWCURATE_REAL_DATA)")
    args.out.mkdir(parents=True, exist_ok=True)
    job, missing = write_job(args.out, args.dedup)
    times: dict[str, list[float]] = {"none": [], "qwen2.5": []}
    release = None
    for _ in range(args.repeats):
        for tokenizer in times:
            elapsed, path = run_once(job, tokenizer, args.out)
            times[tokenizer].append(elapsed)
            release = path if tokenizer != "none" else release
    import manifests

    m = manifests.load(release)
    base, counted = statistics.median(times["none"]), statistics.median(times["qwen2.5"])
    print(f"sets missing: {missing or '-'}; dedup: {args.dedup}; documents kept: {m.totals['documents']:,}, "
          f"characters {m.totals['characters']:,}")
    print("| tokenizer | runs (s) | median (s) |\n|---|---|---|")
    for tokenizer, ts in times.items():
        print(f"| {tokenizer} | {', '.join(f'{t:.1f}' for t in ts)} | {statistics.median(ts):.1f} |")
    print(f"\nslowdown with token counting: {counted / base - 1:+.1%}")
    print("\n| source | documents | characters | tokens (qwen2.5) | characters/token |\n|---|---|---|---|---|")
    for s in m.sources:
        print(f"| {s.name} | {s.documents:,} | {s.characters:,} | {s.tokens:,} | {s.characters / max(s.tokens, 1):.2f} |")


if __name__ == "__main__":
    main()
