"""Peak memory of every process of a dedup job (issue 41): many documents in one input file, or one very long line.

    python -m bench.scale.corpus generate bench/data/scale_pool.json.zst /tmp/c1m --docs 1000000 --files 1
    python -m bench.scale.memory docs /tmp/c1m --tasks 8 --workers 2 --out /tmp/mem-out
    python -m bench.scale.memory oneline --mb 30 --out /tmp/mem-out [--all-steps]

`docs`: the files of a folder, dedup only (every filter step off, token counting on unless `--no-tokens`).
`oneline`: one JSONL file holding a document of `--mb` MB on one line (real PTT posts joined, as bench.scale.limits) and 200
ordinary documents, dedup on; `--all-steps` keeps the default filter steps too.

The job runs in a child process (`curate`'s `run_job`, as `curate run` does); this process samples `/proc` every 0.2 s
for the child and all its descendants (datatrove's forkserver and worker processes are not the driver's children in
the `wait` sense, so RUSAGE_CHILDREN misses them) and keeps each process's VmHWM (its peak resident set, which the
kernel keeps, so a sample shortly before the process ends still holds its true peak). Printed: the largest process,
the driver, the per-stage task peaks the tasks logged themselves (`TaskPeakMemory`), wall time and the content hash.
`PYTHONPATH` decides which code runs (a worktree of an older commit to measure "before").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.scale.limits import big_text

OFF = ["normalize", "language", "script", "pii", "domains", "clean", "quality", "quality_model", "spam", "toxicity", "decontaminate"]


def job_dict(pattern: str, out: Path, tasks: int, workers: int, all_steps: bool, tokens: bool) -> dict:
    steps = {"dedup": {"enabled": True}}
    if not all_steps:
        steps.update({s: {"enabled": False} for s in OFF})
    job = {"name": "mem", "version": "1.0.0", "output": str(out),
           "sources": [{"name": "crawl", "kind": "jsonl", "path": pattern, "id_field": "id"}],
           "steps": steps, "executor": {"kind": "local", "tasks": tasks, "workers": workers}}
    if not tokens:
        job["tokenizer"] = "none"
    return job


def run_one(job: dict, out: Path) -> dict:
    """In the child: the job as `curate run` runs it; stage times and task peaks from the run log."""
    from curation.config import parse_job
    from curation.pipeline import run_job
    from manifests import load

    start = time.perf_counter()
    path = run_job(parse_job(job, "bench", out), force=True)
    wall = time.perf_counter() - start
    m = load(path)
    events = [json.loads(line) for line in open(out / "logs" / "mem-1.0.0.jsonl")]
    done = [e for e in events if e["event"] == "stage_done"]
    return {"wall_s": round(wall, 1), "stages": {e["stage"]: e["seconds"] for e in done},
            "stage_task_peak_mb": {e["stage"]: e.get("task_peak_rss_mb") or e.get("driver_peak_rss_mb") for e in done},
            "documents_out": m.totals.get("documents", 0), "content_hash": m.content_hash}


def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            out += [int(c) for c in open(f"/proc/{pid}/task/{tid}/children").read().split()]
    except OSError:
        pass
    return out


def _hwm(pid: int) -> tuple[float, str] | None:
    try:
        status = open(f"/proc/{pid}/status").read()
        cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")[:120]
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024, cmd
    return None


def measure(job: dict, out: Path) -> dict:
    """Run the job in a child process and sample the peak RSS of it and every descendant."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "job.json").write_text(json.dumps(job))
    child = subprocess.Popen([sys.executable, "-m", "bench.scale.memory", "--child", str(out)], stdout=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    peaks: dict[int, tuple[float, str]] = {}
    while child.poll() is None:
        todo, seen = [child.pid], set()
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            got = _hwm(pid)
            if got and got[0] >= peaks.get(pid, (0, ""))[0]:
                peaks[pid] = got
            todo += _children(pid)
        time.sleep(0.2)
    stdout = child.stdout.read()
    if child.returncode:
        raise SystemExit(f"job failed ({child.returncode}): {stdout[-2000:]}")
    res = json.loads(stdout.strip().splitlines()[-1])
    driver = peaks.get(child.pid, (0, ""))[0]
    largest = max(peaks.values(), default=(0, ""))
    res.update({"largest_process_mb": round(largest[0]), "largest_process": largest[1], "driver_mb": round(driver),
                "processes": len(peaks)})
    return res


def oneline_file(folder: Path, mb: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"oneline-{mb}mb.jsonl"
    if not path.exists():
        normal = big_text(1)[:400_000]
        with open(path, "w", encoding="utf-8") as f:
            for i in range(100):
                f.write(json.dumps({"id": f"a{i}", "text": normal[i * 2000:(i + 1) * 2000]}, ensure_ascii=False) + "\n")
            f.write(json.dumps({"id": "big", "text": big_text(mb)}, ensure_ascii=False) + "\n")
            for i in range(100):
                f.write(json.dumps({"id": f"b{i}", "text": normal[i * 2000 + 1000:(i + 1) * 2000 + 1000]}, ensure_ascii=False) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    sub = ap.add_subparsers(dest="case")
    d = sub.add_parser("docs")
    d.add_argument("input_dir", type=Path)
    o = sub.add_parser("oneline")
    o.add_argument("--mb", type=int, default=30)
    for p in (d, o):
        p.add_argument("--tasks", type=int, default=8)
        p.add_argument("--workers", type=int, default=2)
        p.add_argument("--out", type=Path, default=Path("bench/out/memory"))
        p.add_argument("--all-steps", action="store_true", help="keep the default filter steps (default: dedup only)")
        p.add_argument("--no-tokens", action="store_true", help="tokenizer: none")
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(run_one(json.loads((a.child / "job.json").read_text()), a.child)))
        return 0
    out = a.out.resolve()
    if a.case == "docs":
        pattern = str(a.input_dir.resolve() / "*.jsonl")
        label = f"{a.input_dir.name}, tasks {a.tasks}, workers {a.workers}"
    else:
        pattern = str(oneline_file(out / "input", a.mb))
        label = f"{a.mb} MB one-line document, tasks {a.tasks}, workers {a.workers}"
    job = job_dict(pattern, out / "release", a.tasks, a.workers, a.all_steps, not a.no_tokens)
    res = {"case": label + (", all steps" if a.all_steps else ", dedup only") + (", no tokens" if a.no_tokens else ""), **measure(job, out / "release")}
    print(json.dumps(res))
    with open(out / "results.jsonl", "a") as f:
        f.write(json.dumps(res) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
