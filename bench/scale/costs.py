"""The whole CPT job on one core, this tree against older commits, side by side (issue 40, cost of the whole job).

    python -m bench.scale.corpus generate bench/data/scale_pool.json.zst /tmp/scale50k --docs 50000 --files 64
    python -m bench.scale.costs /tmp/scale50k --base b52eacf --tasks 64 --rounds 2 --out bench/out/costs
    python -m bench.scale.costs /tmp/scale50k --tree base=/tmp/trees/b52eacf --tasks 64 --rounds 2 --parallel

Each `--base` commit is checked out once as a `git worktree` (under --out); `--tree LABEL=PATH` names a tree already
on disk (a machine without the git history). Every run is the same job (default steps + dedup, the scale bench's, one
worker) in a fresh Python process whose `curation` is that tree's. Sequentially (default) the trees alternate which
goes first each round; with `--parallel` every tree's every round runs at once, each pinned to a CPU of its own (a
machine with that many idle cores). Per run: wall seconds, the process's CPU seconds (user + system, children
included: on a shared machine the steadier number), both per input document, and the release's content hash, which
must be the same for every tree (exit 1 otherwise). Runs that log costs also print their breakdown (`curate stats
--costs`).
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


def run_once(tree: Path, input_dir: Path, out: Path, tasks: int, cpu: int | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), *filter(None, [os.environ.get("PYTHONPATH")])]),
           "PYTHONUNBUFFERED": "1"}
    pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
    return subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(job_dict(input_dir, out, tasks)), str(out)], cwd=tree,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=pin)


def result(tree: Path, proc: subprocess.Popen) -> dict:
    stdout, stderr = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"{tree}: run failed:\n{stderr[-3000:]}")
    row = json.loads(stdout.strip().splitlines()[-1])
    if not Path(row["curation"]).resolve().is_relative_to(tree.resolve()):
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
    ap.add_argument("--base", action="append", default=[], help="a commit to compare with (repeatable)")
    ap.add_argument("--tree", action="append", default=[], metavar="LABEL=PATH", help="a tree on disk to compare with")
    ap.add_argument("--tasks", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--parallel", action="store_true", help="every run at once, one CPU each")
    ap.add_argument("--out", type=Path, default=Path("bench/out/costs"))
    a = ap.parse_args(argv)
    out = a.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    trees = {f"base {rev}": base_tree(rev, out) for rev in a.base}
    trees.update({label: Path(path).resolve() for label, path in (t.split("=", 1) for t in a.tree)})
    trees["this tree"] = HERE
    rows: dict[str, list[dict]] = {k: [] for k in trees}
    runs = [(i, label) for i in range(a.rounds) for label in (list(trees) if i % 2 == 0 else list(reversed(trees)))]
    folder = lambda i, label: out / f"run-{label.replace(' ', '_')}-{i}"  # noqa: E731
    if a.parallel:
        cpus = sorted(os.sched_getaffinity(0))
        if len(runs) > len(cpus):
            raise SystemExit(f"--parallel: {len(runs)} runs and {len(cpus)} CPUs")
        procs = [(i, label, run_once(trees[label], a.input_dir.resolve(), folder(i, label), a.tasks, cpu))
                 for (i, label), cpu in zip(runs, cpus)]
        done = [(i, label, result(trees[label], p)) for i, label, p in procs]
    else:
        done = [(i, label, result(trees[label], run_once(trees[label], a.input_dir.resolve(), folder(i, label), a.tasks)))
                for i, label in runs]
    for i, label, row in done:
        rows[label].append(row)
        print(json.dumps({"round": i, "tree": label, **{k: v for k, v in row.items() if k != "costs"}}), flush=True)
    summaries = [summary(label, r) for label, r in rows.items()]
    for s in summaries:
        print(json.dumps(s))
    new = summaries[-1]
    for base in summaries[:-1]:
        print(f"per input document on one core, {base['tree']} -> this tree: wall {base['median_wall_ms']:.2f} -> "
              f"{new['median_wall_ms']:.2f} ms ({base['median_wall_ms'] / new['median_wall_ms']:.2f}x), CPU "
              f"{base['median_cpu_ms']:.2f} -> {new['median_cpu_ms']:.2f} ms ({base['median_cpu_ms'] / new['median_cpu_ms']:.2f}x)")
    from curation.costs import costs_table

    for label, r in rows.items():
        if r[-1].get("costs"):
            print(f"{label}: {costs_table(r[-1]['costs'])}")
    (out / "results.json").write_text(json.dumps({"summaries": summaries, "rows": rows}, indent=1))
    same = len({s["content_hash"] for s in summaries}) == 1
    print(f"content hash: {'same' if same else 'DIFFERENT'} ({', '.join(s['content_hash'][:12] for s in summaries)})")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
