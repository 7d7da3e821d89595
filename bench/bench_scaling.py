"""Throughput of a whole CPT job (read, normalize, language, script, dedup, write) for 1 and 2 tasks on the
local executor and on a local Ray.

    python -m bench.bench_scaling            # about a minute; prints a Markdown table

Input: 20,000 windows of 1,000 characters over the LibreOffice help pages (zh-TW and zh-CN), in 8 JSONL files;
the windows overlap, so dedup removes many of them (its cost is part of what is measured).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from bench.corpora import libreoffice_help
from curation.config import parse_job
from curation.pipeline import run_job


def make_input(folder: Path, n: int = 20_000) -> int:
    text = "\n".join(libreoffice_help("zh-TW") + libreoffice_help("zh-CN"))
    step = max(1, (len(text) - 1000) // n)  # overlapping windows when the corpus is short of n x 1,000 characters
    pieces = [text[i: i + 1000] for i in range(0, len(text) - 1000, step)][:n]
    for part in range(8):
        with open(folder / f"part{part}.jsonl", "w", encoding="utf-8") as f:
            for i in range(part, len(pieces), 8):
                f.write(json.dumps({"id": str(i), "text": pieces[i]}, ensure_ascii=False) + "\n")
    return len(pieces)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        n = make_input(tmp)
        rows = []
        for kind in ("local", "ray"):
            for tasks in (1, 2):
                job = parse_job({"name": f"s{kind}{tasks}", "version": "0.1.0", "output": str(tmp / "out"),
                                 "sources": [{"name": "x", "kind": "jsonl", "path": str(tmp / "part*.jsonl")}],
                                 "steps": {"script": {"action": "tag"}, "dedup": {"enabled": True}},
                                 "executor": {"kind": kind, "tasks": tasks, "workers": tasks}}, "bench", tmp)
                start = time.perf_counter()
                run_job(job)
                rows.append((kind, tasks, n / (time.perf_counter() - start)))
        if any(k == "ray" for k, _, _ in rows):
            import ray

            ray.shutdown()
    print(f"### Whole CPT job, {n:,} documents of ~1,000 characters, this 2-core machine\n")
    print("| executor | tasks = workers | docs/s | speed-up vs 1 task |\n|---|---|---|---|")
    base = {k: r for k, t, r in rows if t == 1}
    for kind, tasks, rate in rows:
        print(f"| {kind} | {tasks} | {rate:,.0f} | {rate / base[kind]:.2f}x |")


if __name__ == "__main__":
    main()
