"""The whole CPT job on one core, this tree against an older commit, side by side (issue 40, cost of the whole job).

    python -m bench.scale.corpus generate bench/data/scale_pool.json.zst /tmp/scale50k --docs 50000 --files 64
    python -m bench.scale.costs /tmp/scale50k --base b52eacf --tasks 64 --rounds 2 --out bench/out/costs

The base commit is checked out once as a `git worktree` (under --out); every round runs the same job (default steps +
dedup, the scale bench's, one worker) first on one tree and then on the other, alternating which goes first, each in a
fresh Python process whose `curation` is that tree's. Per run: wall seconds, the process's CPU seconds (user + system,
children included: on a shared machine the steadier number), both per input document, and the release's content
hash, which must be the same for both trees (exit 1 otherwise). This tree's runs also print the cost breakdown of its
run log (`curate stats --costs`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[2]

# what runs in the child, with the tree's own `curation` first on sys.path
CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import curation
from curation.config import parse_job
from curation.pipeline import run_job
from manifests import load
job_data, out = json.loads(sys.argv[1]), Path(sys.argv[2])
job = parse_job(job_data, "bench", out)
start = time.perf_counter()
path = run_job(job, force=True)
wall = time.perf_counter() - start
usage = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
m = load(path)
events = [json.loads(line) for line in open(out / "logs" / f"{job.name}-{job.version}.jsonl")]
print(json.dumps({"curation": curation.__file__, "wall_s": wall, "cpu_s": sum(u.ru_utime + u.ru_stime for u in usage),
                  "documents_in": sum(s.input for s in m.steps if s.step.startswith("read:")),
                  "documents_out": m.totals.get("documents", 0), "content_hash": m.content_hash,
                  "stages": {e["stage"]: e["seconds"] for e in events if e["event"] == "stage_done"},
                  "costs": next((e for e in reversed(events) if e["event"] == "costs"), None)}))
"""


def job_dict(input_dir: Path, out: Path, tasks: int) -> dict:
    """The scale bench's job (bench/scale/workers.py) on one worker."""
    return {"name": "scale", "version": "1.0.0", "output": str(out),
            "sources": [{"name": "crawl", "kind": "jsonl", "path": str(input_dir / "*.jsonl"), "id_field": "id"}],
            "steps": {"dedup": {"enabled": True}}, "executor": {"kind": "local", "tasks": tasks, "workers": 1}}


def base_tree(rev: str, out: Path) -> Path:
    """A worktree of `rev` (made once; reused while it is at that commit)."""
    sha = subprocess.run(["git", "rev-parse", rev], cwd=HERE, capture_output=True, text=True, check=True).stdout.strip()
    tree = out / f"tree-{sha[:10]}"
    if not (tree / "curation").is_dir():
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), sha], cwd=HERE, check=True, capture_output=True)
    return tree


def run_once(tree: Path, input_dir: Path, out: Path, tasks: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONUNBUFFERED": "1"}
    res = subprocess.run([sys.executable, "-c", CHILD, json.dumps(job_dict(input_dir, out, tasks)), str(out)], cwd=tree,
                         capture_output=True, text=True, env=env)
    if res.returncode:
        raise SystemExit(f"{tree}: run failed:\n{res.stderr[-3000:]}")
    row = json.loads(res.stdout.strip().splitlines()[-1])
    if not row["curation"].startswith(str(tree)):
        raise SystemExit(f"{tree}: the run imported {row['curation']}, not this tree's curation")
    return row


def summary(label: str, rows: list[dict]) -> dict:
    docs = rows[0]["documents_in"]
    wall = [1000 * r["wall_s"] / docs for r in rows]
    cpu = [1000 * r["cpu_s"] / docs for r in rows]
    return {"tree": label, "runs": len(rows), "documents_in": docs, "documents_out": rows[0]["documents_out"],
            "wall_ms_per_doc": [round(x, 3) for x in wall], "cpu_ms_per_doc": [round(x, 3) for x in cpu],
            "median_wall_ms": round(statistics.median(wall), 3), "median_cpu_ms": round(statistics.median(cpu), 3),
            "content_hash": rows[0]["content_hash"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("input_dir", type=Path)
    ap.add_argument("--base", default="b52eacf", help="the commit to compare with")
    ap.add_argument("--tasks", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("bench/out/costs"))
    a = ap.parse_args(argv)
    out = a.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    trees = {"base " + a.base: base_tree(a.base, out), "this tree": HERE}
    rows: dict[str, list[dict]] = {k: [] for k in trees}
    for i in range(a.rounds):
        order = list(trees) if i % 2 == 0 else list(reversed(trees))
        for label in order:
            row = run_once(trees[label], a.input_dir.resolve(), out / f"run-{'base' if label != 'this tree' else 'new'}", a.tasks)
            rows[label].append(row)
            print(json.dumps({"round": i, "tree": label, **{k: v for k, v in row.items() if k != "costs"}}), flush=True)
    summaries = [summary(label, r) for label, r in rows.items()]
    for s in summaries:
        print(json.dumps(s))
    base, new = summaries
    print(f"per input document on one core: wall {base['median_wall_ms']:.2f} -> {new['median_wall_ms']:.2f} ms "
          f"({base['median_wall_ms'] / new['median_wall_ms']:.2f}x), CPU {base['median_cpu_ms']:.2f} -> "
          f"{new['median_cpu_ms']:.2f} ms ({base['median_cpu_ms'] / new['median_cpu_ms']:.2f}x)")
    costs = rows["this tree"][-1]["costs"]
    if costs:
        from curation.costs import costs_table

        print(costs_table(costs))
    (out / "results.json").write_text(json.dumps({"summaries": summaries, "rows": rows}, indent=1))
    same = len({s["content_hash"] for s in summaries}) == 1
    print(f"content hash: {'same' if same else 'DIFFERENT'} ({', '.join(s['content_hash'][:12] for s in summaries)})")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
