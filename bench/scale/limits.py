"""Bounded resources (issue 31): a 50 MB single-line document through the filter path, and a gzip file holding one
1.5 GB line read by the JSONL reader (rejected as record_too_large) with its peak memory.

    python -m bench.scale.limits [--mb 50] [--gz-gb 1.5]

Text: real PTT posts from ../shared/data/real (or $TWCURATE_REAL_DATA) joined into one line until the size is reached;
without them, a generated Chinese sentence repeated. Each measurement runs in its own process so its peak RSS
(ru_maxrss) is its own.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common.paths import real_root


def big_text(mb: int) -> str:
    posts = real_root() / "ptt_boards_2024" / "ptt_posts.jsonl"
    pieces = ([json.loads(line)["text"].replace("\n", " ") for line in posts.read_text(encoding="utf-8").splitlines()]
              if posts.is_file() else ["今天天氣很好，我們去公園散步，晚上吃了牛肉麵。"])
    out, size, i = [], 0, 0
    while size < mb * 2**20:
        p = pieces[i % len(pieces)]
        out.append(p)
        size += len(p.encode())
        i += 1
    return " ".join(out)


def filter_path(mb: int) -> None:
    from datatrove.data import Document

    from curation.config import parse_job
    from curation.pipeline import filter_steps

    text = big_text(mb)
    job = parse_job({"name": "b", "version": "0.1.0", "output": "/tmp/x", "sources": [{"name": "x", "kind": "jsonl", "path": "/dev/null"}]},
                    "bench", Path.cwd())
    steps = [s for _, s in filter_steps(job, rejects_root=None, label_only=True)]
    doc = Document(text=text, id="big", metadata={"source": "x", "kind": "jsonl"})
    print(f"document: {len(text.encode()) / 2**20:.1f} MB, {len(text):,} characters, one line")
    total = 0.0
    for step in steps:
        start = time.perf_counter()
        step.filter(doc)
        took = time.perf_counter() - start
        total += took
        print(f"  {step.name:14s} {took:6.2f} s")
    print(f"  {'all':14s} {total:6.2f} s; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def huge_line(gb: float) -> None:
    from curation.config import SourceConfig
    from curation.sources import reader_for

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "one-line.jsonl.gz"
        chunk = ("長" * (1 << 19)).encode()  # 1.5 MB of one character
        with gzip.open(path, "wb", compresslevel=1) as f:
            f.write(b'{"text": "')
            written = 0
            while written < gb * 2**30:
                f.write(chunk)
                written += len(chunk)
            f.write(b'"}\n{"text": "after the huge line"}\n')
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start = time.perf_counter()
        reader = reader_for(SourceConfig(name="x", kind="jsonl", path=str(path)), [str(path)], str(Path(tmp) / "rejects"))
        docs = list(reader.run())
        took = time.perf_counter() - start
        rejects = [json.loads(line) for f in (Path(tmp) / "rejects").glob("*.jsonl") for line in f.read_text().splitlines()]
        print(f"gzip file {path.stat().st_size / 2**20:.1f} MB holding a {written / 2**30:.2f} GB line: read in {took:.1f} s, "
              f"{len(docs)} document(s) kept ({[d.text for d in docs]}), rejects {[r['reason'] for r in rejects]}; "
              f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB (before reading: {before:.0f} MB)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=50)
    ap.add_argument("--gz-gb", type=float, default=1.5)
    ap.add_argument("--only", choices=["filter", "gz"])
    args = ap.parse_args()
    if args.only == "filter":
        filter_path(args.mb)
    elif args.only == "gz":
        huge_line(args.gz_gb)
    else:  # each in its own process: its own peak RSS
        for what in ("filter", "gz"):
            subprocess.run([sys.executable, "-m", "bench.scale.limits", "--only", what, "--mb", str(args.mb), "--gz-gb", str(args.gz_gb)], check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
