"""Where a job's time goes: seconds per stage and per step, and per input document, from what datatrove already
records (every step's `time_stats` in each task's `stats/*.json`) plus each task's own clock (`TaskClock`).

A stage's parts are its timed steps (reading, timed by `ReadClock`; each filter; signatures with their disk writes;
the shard writer, with token counting shown apart), `hand-over` (task time no step accounts for: each step's
counting of its stats, writing dropped documents to `rejects/`, passing documents from step to step; for the later
stages, whose steps do not time themselves, the stage's whole work, under the stage's name) and `start-up` (stage
wall time times its workers less the tasks' time: process start, imports, copying the steps to each task, workers
idle at the end of a stage). Model loading happens on a step's first document and counts as that step's time. The
costs go into the run log (`stage_done` events and one `costs` event); `curate stats RELEASE --costs` prints them.
They never enter the manifest or the release: timings differ from run to run, a release's content must not."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

from datatrove.pipeline.base import PipelineStep

from curation.runlog import quick_log_handlers

# every stage's tasks run TaskClock, so every process that runs tasks (a local or Ray worker) imports this module
# before its first task's second log handler is added
quick_log_handlers()

TASK_SECONDS = "task_seconds"
TOKEN_SECONDS = "token_seconds"  # the shard writer's time counting tokens (curation/shards.py), shown as its own part
UNTIMED = "hand-over"
START_UP = "start-up"


class TaskClock(PipelineStep):
    """Placed last in every stage (before TaskPeakMemory): passes documents through unchanged and records the seconds
    from the task's first pull of a document to its last (`task_seconds`), the time every step of the task shares."""

    name = "task clock"
    type = "📊 - STATS"

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        start = time.perf_counter()
        if data:
            yield from data
        self.stat_update(TASK_SECONDS, value=time.perf_counter() - start)


class ReadClock(PipelineStep):
    """Placed right after the readers: passes documents through unchanged and times what it waits for each next
    document, which is the readers' work alone (opening, decompressing and parsing the input files; datatrove's
    readers time nothing). Recorded as this step's time under the name `read`."""

    name = "read"
    type = "📊 - STATS"

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        if not data:
            return
        waited, upstream, now = 0.0, iter(data), time.perf_counter
        while True:
            start = now()
            try:
                doc = next(upstream)
            except StopIteration:
                break
            waited += now() - start
            yield doc
        self.stats.time_stats.update(waited + now() - start)


def _total(value) -> float:
    return float(value.get("total", 0.0)) if isinstance(value, dict) else float(value or 0.0)


def step_name(full: str) -> str:
    """datatrove names a step's stats '<type>: <name>' ('🔻 - FILTER: language'): the name."""
    return full.split(": ", 1)[-1]


def stage_costs(logs: Path, wall_seconds: float, workers: int, untimed_as: str = UNTIMED, ranks: list[int] | None = None) -> dict:
    """One stage's costs from its tasks' stats files: {"tasks", "task_seconds", "parts": {part: seconds}}, the parts
    in pipeline order summing to `wall_seconds * workers` (the core-seconds the stage held). `untimed_as` names the
    task time no step timed (a later stage's steps time nothing: there it is the stage's work). `ranks`: the tasks
    this run ran (all, without it); a resumed run skips the tasks an earlier run completed, whose stats files stay
    beside its own but whose time this run did not spend."""
    parts: dict[str, float] = defaultdict(float)
    tasks, task_seconds = 0, 0.0
    files = sorted((logs / "stats").glob("*.json")) if ranks is None else [logs / "stats" / f"{r:05d}.json" for r in sorted(ranks)]
    for f in files:  # one file per task
        timed, task = 0.0, None
        for step in json.loads(f.read_text()):
            name, stats = step_name(step.get("name", "")), step.get("stats", {})
            if TASK_SECONDS in stats:
                task = _total(stats[TASK_SECONDS])
                continue
            seconds = _total(step.get("time_stats"))
            timed += seconds
            if TOKEN_SECONDS in stats:
                tokens = min(_total(stats[TOKEN_SECONDS]), seconds)
                parts["tokens"] += tokens
                seconds -= tokens
            parts[name] += seconds
        if task is not None:  # a task finished by an older version has no clock: its time goes to start-up
            tasks += 1
            task_seconds += task
            parts[UNTIMED] += max(0.0, task - timed)
    held = wall_seconds * max(1, workers)
    parts[START_UP] = max(0.0, held - task_seconds)
    start_up, untimed = parts.pop(START_UP), parts.pop(UNTIMED, 0.0)
    ordered = {START_UP: start_up, untimed_as: untimed}
    for k, v in parts.items():  # a step named like the untimed part (the stage's own step) adds to it
        if v > 0:
            ordered[k] = ordered.get(k, 0.0) + v
    return {"tasks": tasks, "task_seconds": round(task_seconds, 4), "parts": {k: round(v, 4) for k, v in ordered.items()}}


def job_costs(stages: list[dict], documents_in: int) -> dict:
    """The whole job's costs from its `stage_done` events (each with `stage`, `seconds`, `workers` and, but for
    finalize, `costs`): one row per stage and part with seconds, milliseconds per input document and share."""
    rows, total = [], 0.0
    for ev in stages:
        parts = (ev.get("costs") or {}).get("parts") or {"": ev["seconds"] * max(1, ev.get("workers", 1))}
        for part, seconds in parts.items():
            rows.append({"stage": ev["stage"], "part": part or ev["stage"], "seconds": seconds})
            total += seconds
    per = max(1, documents_in)
    for r in rows:
        r["ms_per_document"] = round(1000 * r["seconds"] / per, 4)
        r["share"] = round(r["seconds"] / total, 4) if total else 0.0
    return {"documents_in": documents_in, "core_seconds": round(total, 3), "ms_per_document": round(1000 * total / per, 4),
            "parts": rows}


def read_costs(run_log: Path, release: Path | None = None) -> dict | None:
    """The `costs` event of the newest run in `run_log` that published `release` (any, without it); None if none."""
    found = None
    if not run_log.is_file():
        return None
    costs: dict[str, dict] = {}
    for line in run_log.read_text(encoding="utf-8").splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("event") == "costs":
            costs[ev.get("run_id")] = ev
        elif ev.get("event") == "published" and ev.get("run_id") in costs:
            if release is None or Path(ev.get("path", "")).resolve() == release.resolve():
                found = costs[ev["run_id"]]
    return found


def costs_table(costs: dict) -> str:
    """A plain-text table of a `costs` event: stage, part, seconds, ms per input document, share."""
    lines = [f"{costs['documents_in']:,} input documents, {costs['core_seconds']:.1f} core-seconds, "
             f"{costs['ms_per_document']:.3f} ms per document",
             f"{'stage':<16} {'part':<22} {'seconds':>9} {'ms/doc':>9} {'share':>7}"]
    for r in costs["parts"]:
        lines.append(f"{r['stage']:<16} {r['part']:<22} {r['seconds']:>9.2f} {r['ms_per_document']:>9.3f} {100 * r['share']:>6.1f}%")
    return "\n".join(lines)
