"""Fault injection: kill -9 a CPT job with dedup at seeded random moments, then `--resume`; and a disk that fills up
part-way (the output on a small tmpfs), then `--resume` after space is freed. Every resumed release must have the
content hash of an uninterrupted run: no document lost or duplicated.

    python -m bench.scale.faults [--docs 20000] [--kills 20] [--seed 0] [--no-disk-full]

Documents: real PTT and LINE text from ../shared/data/real (or $TWCURATE_REAL_DATA), numbered so each is distinct,
in 4 files read by 4 tasks on 2 workers. The kill moments are drawn uniformly over the uninterrupted run's wall time.
The disk-full case needs root (mount -t tmpfs); it is skipped with a note otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.common.paths import real_root


def write_inputs(folder: Path, n: int) -> None:
    texts = []
    for rel in ("ptt_boards_2024/ptt_posts.jsonl", "cofacts_line_msgs/cofacts_msgs.jsonl"):
        path = real_root() / rel
        if path.is_file():
            texts += [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]
    if not texts:
        texts = ["今天天氣很好，我們一家人去陽明山走走，山上的風景很漂亮，晚上回來吃了牛肉麵。"]
    folder.mkdir(parents=True, exist_ok=True)
    for part in range(4):
        with open(folder / f"in{part}.jsonl", "w", encoding="utf-8") as f:
            for i in range(part, n, 4):
                f.write(json.dumps({"id": f"d{i}", "text": f"第{i}篇。" + texts[i % len(texts)]}, ensure_ascii=False) + "\n")


def write_job(folder: Path, inputs: Path, output: Path) -> Path:
    job = {"name": "faults", "version": "0.1.0", "output": str(output),
           "sources": [{"name": "x", "kind": "jsonl", "path": str(inputs / "in*.jsonl"), "id_field": "id"}],
           "steps": {"dedup": {"enabled": True}}, "executor": {"kind": "local", "tasks": 4, "workers": 2},
           "alert_drop_share": 1.0}
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump(job, allow_unicode=True))
    return path


def run(job: Path, *extra: str, kill_after: float | None = None) -> tuple[int | None, float]:
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "curation.cli", "run", str(job), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return None, time.perf_counter() - start
    out, err = proc.communicate()
    if proc.returncode not in (0, 5):
        raise SystemExit(f"run failed ({proc.returncode}): {err[-2000:]}")
    return proc.returncode, time.perf_counter() - start


def content(release: Path) -> tuple[str, int]:
    m = json.loads((release / "manifest.json").read_text())
    return m["content_hash"], m["totals"]["documents"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=20000)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-disk-full", action="store_true")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_inputs(tmp / "in", args.docs)
        ref_job = write_job(tmp, tmp / "in", tmp / "ref")
        _, wall = run(ref_job)
        ref_hash, ref_docs = content(tmp / "ref/faults/0.1.0")
        print(f"uninterrupted: {args.docs:,} documents in, {ref_docs:,} released, {wall:.1f} s, content {ref_hash[:16]}…\n")
        print("| # | killed at (s) | runs to finish | released documents | same content hash |\n|---|---|---|---|---|")
        same = 0
        for k in range(args.kills):
            out = tmp / f"k{k}"
            job = write_job(tmp, tmp / "in", out)
            at = rng.uniform(0.5, wall)
            code, _ = run(job, kill_after=at)
            runs = 1
            while not (out / "faults/0.1.0/manifest.json").is_file():
                run(job, "--resume")
                runs += 1
            h, docs = content(out / "faults/0.1.0")
            same += h == ref_hash
            print(f"| {k + 1} | {at:.1f}{' (finished first)' if code is not None else ''} | {runs} | {docs:,} | {'yes' if h == ref_hash else 'NO'} |")
            shutil.rmtree(out)
        print(f"\n{same} of {args.kills} resumed releases equal the uninterrupted one")
        if not args.no_disk_full:
            disk_full(tmp, ref_hash, wall)
    return 0


def disk_full(tmp: Path, ref_hash: str, wall: float) -> None:
    """The output on a tmpfs too small for the run: it fails with one I/O error line (exit 6); the tmpfs is then grown
    and `--resume` finishes the release."""
    mnt = tmp / "small"
    mnt.mkdir()
    ref_size = sum(f.stat().st_size for f in (tmp / "ref").rglob("*") if f.is_file())
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={max(ref_size // 3, 1 << 20)}", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        print("\ndisk full: skipped (mounting a tmpfs needs root)")
        return
    try:
        job = write_job(tmp, tmp / "in", mnt / "out")
        proc = subprocess.run([sys.executable, "-m", "curation.cli", "run", str(job)], capture_output=True, text=True)
        err_lines = [line for line in proc.stderr.splitlines() if line.startswith("curate: error:")]
        subprocess.run(["mount", "-o", f"remount,size={ref_size * 4}", str(mnt)], check=True)
        run(job, "--resume")
        h, docs = content(mnt / "out/faults/0.1.0")
        print(f"\ndisk full at a third of the release's size: exit {proc.returncode}, {len(err_lines)} error line "
              f"({err_lines[0][:120] if err_lines else proc.stderr[-300:]!r}); after growing the disk, --resume: "
              f"{docs:,} documents, same content hash: {'yes' if h == ref_hash else 'NO'}")
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


if __name__ == "__main__":
    raise SystemExit(main())
