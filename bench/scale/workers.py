"""A whole CPT job (default steps + dedup) over a generated corpus, per worker count and executor (issue 32).

    python -m bench.scale.corpus pool bench/data/scale_pool.json.zst
    python -m bench.scale.corpus generate bench/data/scale_pool.json.zst /data/scale --docs 2000000 --files 128
    python -m bench.scale.workers /data/scale --workers 1,2,4,8,16 --tasks 128 --out bench/out/scale

Each configuration runs in a fresh Python process (`one`), so peak memory and start-up are its own: per stage wall
time (from the run log's `stage_done` events), peak RSS of the largest task process and of the driver, and the
release's content hash, which must be the same for every worker count and executor. `--plan` also runs
`curate plan` on the same job (tasks and workers of the largest count) and prints its estimates beside the
measurement. `--ray ADDRESS` runs the same job on an existing Ray cluster (`ray start --head` + worker nodes).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def job_dict(input_dir: Path, out: Path, tasks: int, workers: int, kind: str = "local", address: str | None = None) -> dict:
    executor = {"kind": kind, "tasks": tasks, "workers": workers}
    if address:
        executor["ray_address"] = address
    return {"name": "scale", "version": "1.0.0", "output": str(out),
            "sources": [{"name": "crawl", "kind": "jsonl", "path": str(input_dir / "*.jsonl"), "id_field": "id"}],
            "steps": {"dedup": {"enabled": True}}, "executor": executor}


def one(input_dir: Path, out: Path, tasks: int, workers: int, kind: str, address: str | None) -> dict:
    from curation.config import parse_job
    from curation.pipeline import run_job
    from manifests import load

    job = parse_job(job_dict(input_dir, out, tasks, workers, kind, address), "bench", out)
    start = time.perf_counter()
    path = run_job(job, force=True)
    wall = time.perf_counter() - start
    m = load(path)
    events = [json.loads(line) for line in open(out / "logs" / "scale-1.0.0.jsonl")]
    done = [e for e in events if e["event"] == "stage_done"]
    stages = {e["stage"]: e["seconds"] for e in done}
    task_peak = max((e.get("task_peak_rss_mb") or 0 for e in done), default=0)  # logged by each task (TaskPeakMemory)
    docs_in = m.steps[0].input if m.steps else 0
    return {"kind": kind, "tasks": tasks, "workers": workers, "wall_s": round(wall, 2), "stages": stages,
            "task_peak_mb": task_peak, "stage_peak_mb": {e["stage"]: e.get("task_peak_rss_mb") for e in done},
            "driver_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "documents_in": docs_in, "documents_out": m.totals.get("documents", 0), "content_hash": m.content_hash}


def plan(input_dir: Path, out: Path, tasks: int, workers: int) -> dict:
    from curation.config import parse_job
    from curation.plan import make_plan

    p = make_plan(parse_job(job_dict(input_dir, out, tasks, workers), "bench", out))
    return {"stages": {s["stage"]: round(s["seconds"], 1) for s in p.stages}, "task_mb": {s["stage"]: round(s["task_mb"]) for s in p.stages},
            "seconds": round(p.totals["seconds"], 1), "documents_in": round(p.totals["documents_in"])}


def table(rows: list[dict]) -> str:
    stages = list(dict.fromkeys(s for r in rows for s in r["stages"]))
    base = {r["kind"]: r["wall_s"] for r in rows if r["workers"] == 1}
    head = "| executor | workers | wall s | speed-up | efficiency | " + " | ".join(stages) + " | task peak MB | driver peak MB | docs in | docs out | content |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        b = base.get(r["kind"]) or base.get("local")
        sp = b / r["wall_s"] if b else float("nan")
        lines.append(f"| {r['kind']} | {r['workers']} | {r['wall_s']:.1f} | {sp:.2f}x | {sp / r['workers']:.2f} | "
                     + " | ".join(f"{r['stages'].get(s, 0):.1f}" for s in stages)
                     + f" | {r['task_peak_mb'] or 0:.0f} | {r['driver_peak_mb']:.0f} | {r['documents_in']:,} | {r['documents_out']:,} | {r['content_hash'][:12]} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("input_dir", type=Path)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--tasks", type=int, default=16)
    ap.add_argument("--out", type=Path, default=Path("bench/out/scale"))
    ap.add_argument("--ray", metavar="ADDRESS", help="also run on this Ray cluster with the largest worker count")
    ap.add_argument("--plan", action="store_true", help="run `curate plan` on the job of the largest worker count")
    ap.add_argument("--one", nargs=2, metavar=("KIND", "WORKERS"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.one:
        kind, workers = a.one[0], int(a.one[1])
        print(json.dumps(one(a.input_dir.resolve(), a.out.resolve() / f"{kind}{workers}", a.tasks, workers, kind, a.ray)))
        return 0
    a.out.mkdir(parents=True, exist_ok=True)
    runs = [("local", int(w)) for w in a.workers.split(",")] + ([("ray", max(int(w) for w in a.workers.split(",")))] if a.ray else [])
    rows = []
    for kind, workers in runs:
        cmd = [sys.executable, "-m", "bench.scale.workers", str(a.input_dir), "--tasks", str(a.tasks), "--out", str(a.out),
               "--one", kind, str(workers)] + (["--ray", a.ray] if a.ray else [])
        res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        if res.returncode:
            print(res.stderr[-3000:], file=sys.stderr)
            return res.returncode
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
        with open(a.out / "results.jsonl", "a") as f:
            f.write(json.dumps(rows[-1]) + "\n")
    print(table(rows))
    if a.plan:
        w = max(int(x) for x in a.workers.split(","))
        p = plan(a.input_dir.resolve(), a.out.resolve() / "plan", a.tasks, w)
        measured = next(r for r in rows if r["kind"] == "local" and r["workers"] == w)
        print(json.dumps({"plan": p, "measured_wall_s": measured["wall_s"], "measured_task_peak_mb": measured["task_peak_mb"]}))
    hashes = {r["content_hash"] for r in rows}
    print(f"content hashes: {len(hashes)} distinct over {len(rows)} runs")
    return 0 if len(hashes) == 1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
