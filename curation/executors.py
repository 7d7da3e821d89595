"""What a stage runs on besides datatrove's own executors: a per-task memory probe and a Ray executor that keeps its
worker processes for the whole stage."""

from __future__ import annotations

import copy
import json
import os
import resource
import socket
import sys
import uuid
from collections import defaultdict
from pathlib import Path

from datatrove.executor.local import LocalPipelineExecutor
from datatrove.executor.ray import RayPipelineExecutor
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.logging import logger
from datatrove.utils.stats import PipelineStats

from curation.errors import ConfigError

MAX_RETRIES = 3  # a rank whose worker process died (a node lost, killed for memory) runs again on a new one


class TaskPeakMemory(PipelineStep):
    """The last step of every stage: passes documents through unchanged and, when the task is done, records the task
    process's peak resident memory so far as the stat `peak_rss_mb` (the run log's `stage_done` event reports the
    largest over the stage's tasks; `curate plan` is checked against it)."""

    name = "task memory"
    type = "📊 - STATS"

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        if data:
            yield from data
        self.stat_update("peak_rss_mb", value=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def stage_peak_rss_mb(logs: Path) -> float | None:
    """The largest `peak_rss_mb` any task of the stage logged under `logs`, or None when none did."""
    peaks = []
    for f in (logs / "stats").glob("*.json"):
        for step in json.loads(f.read_text()):
            v = step.get("stats", {}).get("peak_rss_mb")
            if v is not None:
                peaks.append(v.get("max", v.get("total", 0)) if isinstance(v, dict) else v)
    return round(max(peaks), 1) if peaks else None


class LocalExecutor(LocalPipelineExecutor):
    """datatrove's local executor, except that unless `verbose` nothing of datatrove's reaches the terminal: its
    worker processes log every step and every finished task at INFO to their stderr (170 lines for the 2-worker demo),
    which redirecting the driver's stderr does not reach. Each worker points its stderr at `quiet_log` (the stage's
    `executor.log`) before its first task; every task's full log stays in `logs/task_*.log` as before."""

    def __init__(self, *args, verbose: bool = False, quiet_log: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.verbose, self.quiet_log, self._driver_pid = verbose, quiet_log, os.getpid()

    # A private datatrove method, overridden on purpose: it is the one place that runs inside the worker process before
    # its first task, where stderr must be pointed away; no public hook does that. datatrove is pinned in pyproject,
    # and tests/test_run.py checks the quiet terminal, so a change of this method's signature fails there.
    def _launch_run_for_rank(self, rank: int, ranks_q, completed=None, completed_lock=None):
        if not self.verbose and self.quiet_log and os.getpid() != self._driver_pid and not getattr(sys.stderr, "_curate_quiet", False):
            quiet = open(self.quiet_log, "a", buffering=1)
            quiet._curate_quiet = True
            sys.stderr = quiet  # datatrove's task and default loggers are added on sys.stderr as it is then
        return super()._launch_run_for_rank(rank, ranks_q, completed, completed_lock)


class _RankRunner:
    """One long-lived Ray actor: runs ranks of one stage, one after another."""

    def __init__(self, executor: RayPipelineExecutor):
        self.executor = executor

    def sees(self, name: str, token: str) -> tuple[str, bool, str]:
        """(this node's host name, whether the stage's log folder, as this node sees it, holds `name` reading `token`,
        the Ray node's id)."""
        import ray

        folder, node = self.executor.logging_dir, ray.get_runtime_context().get_node_id()
        if not folder.exists(name):
            return socket.gethostname(), False, node
        with folder.open(name, "r") as f:
            return socket.gethostname(), f.read() == token, node

    def pull(self) -> int:
        """Fetches the work folder's copy onto this node (`executor.work_url`); what an earlier run left at the same
        path is deleted first."""
        return self.executor.mirror.pull(worker=True)

    def push(self) -> int:
        """Sends what this node's tasks wrote into the work folder to its copy."""
        return self.executor.mirror.push()

    def run(self, rank: int) -> None:
        # a fresh copy per rank, as the local executor unpickles one per task: steps count their stats on themselves.
        # `_run_for_rank` is datatrove's private per-rank runner (stats, completion marker, logs): calling it is what
        # lets one actor run many ranks; datatrove is pinned and tests/test_executors.py runs a real Ray stage.
        copy.deepcopy(self.executor)._run_for_rank(rank)


class RayWorkerPool(RayPipelineExecutor):
    """datatrove's Ray executor with one change: a stage starts `workers` actors (each `cpus_per_task` CPUs and
    `mem_per_cpu_gb` x CPUs of memory) that take the stage's ranks as they free up, like the local executor's process
    pool, instead of a new actor and placement group per rank. Each new actor is a Python process that imports the
    pipeline and loads its models; with 64 tasks on a 16-CPU, 4-node cluster that start-up made every stage ~17-20 s
    longer than on the local executor (bench/RESULTS.md, issue 32). Same ranks, same output: a rank that raises stays
    incomplete (the run stops and `--resume` reruns it); a rank whose actor died runs again on a new actor. A worker
    that does not see the work folder stops the stage before its first task (`check_work_folder`), unless the job
    names a `work_url` (`mirror`): then such workers exchange the work folder through it (curation/workmirror.py),
    and only then does anything cross."""

    def __init__(self, *args, mirror=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.mirror = mirror

    def check_work_folder(self, actors: list) -> dict:
        """The workers that do not see the job's work folder (which holds the stage's log folder) at the driver's path,
        with the folder's copy fetched onto their nodes when the job names a `work_url`. Without one, such a worker
        stops the stage before any task runs: a task on its node would write its shards, signatures and completion
        marker where the driver never looks, and the run would end in "tasks did not complete" however often it is
        resumed. The test is a file with a fresh token that the driver writes into the log folder. Returns
        {actor: its Ray node id} of the workers that do not see it."""
        import ray

        name, token = f"work-folder-check-{uuid.uuid4().hex}", uuid.uuid4().hex
        self.write_check_file(name, token)
        seen = {}
        try:
            for actor, ref in [(actor, actor.sees.remote(name, token)) for actor in actors]:
                try:
                    seen[actor] = ray.get(ref)
                except ray.exceptions.RayActorError:
                    pass  # died before it answered: its first rank fails and `run` starts (and checks) another
        finally:
            if self.logging_dir.exists(name):
                self.logging_dir.rm(name)
        blind = sorted({host for host, ok, _ in seen.values() if not ok})
        if blind and self.mirror is None:
            for actor in actors:
                ray.kill(actor)
            raise ConfigError(f"Ray workers on {', '.join(blind)} do not see the work folder {self.logging_dir.path} "
                              f"(written on {socket.gethostname()}): Ray across nodes needs the work folder on a "
                              "filesystem every node mounts at the same path (set CURATE_STAGING to one), or an "
                              "object-storage URL to exchange it through (executor.work_url)")
        blind_actors = {actor: node for actor, (_, ok, node) in seen.items() if not ok}
        if blind_actors:
            self.mirror.push()  # what the driver's folder gained since the last exchange
            ray.get([actor.pull.remote() for actor in blind_actors])  # one per node does the work, under a file lock
        return blind_actors

    def write_check_file(self, name: str, token: str) -> None:
        with self.logging_dir.open(name, "w") as f:
            f.write(token)

    def run(self):
        import ray

        ranks = self.get_incomplete_ranks(range(self.world_size))
        if not ranks:
            return
        self.save_executor_as_json()
        runner = ray.remote(_RankRunner).options(
            num_cpus=self.cpus_per_task, memory=int(self.mem_per_cpu_gb * self.cpus_per_task * 2**30), max_restarts=0)
        me = ray.put(self)

        blind, tainted = {}, set()  # workers without the driver's folder -> node; nodes where one of them died

        def start(n: int) -> list:
            actors = [runner.remote(me) for _ in range(n)]
            blind.update(self.check_work_folder(actors))
            return actors

        idle = start(min(self.workers, len(ranks)))
        pending, running, tries = list(ranks), {}, defaultdict(int)
        while pending or running:
            while pending and idle:
                actor, rank = idle.pop(), pending.pop(0)
                running[actor.run.remote(rank)] = (actor, rank)
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                actor, rank = running.pop(ref)
                try:
                    ray.get(ref)
                    idle.append(actor)
                except ray.exceptions.RayActorError as e:  # the process is gone: a new actor, the rank again
                    if actor in blind:
                        tainted.add(blind[actor])
                    tries[rank] += 1
                    if tries[rank] <= MAX_RETRIES:
                        pending.append(rank)
                    logger.warning(f"rank {rank}: its Ray worker died ({e}); attempt {tries[rank]} of {MAX_RETRIES}")
                    idle += start(1)  # it may come up on another node: checked as the first ones were
                except ray.exceptions.RayTaskError as e:
                    logger.error(f"rank {rank} failed: {e}")
                    idle.append(actor)
        if blind:  # every task is done: what the workers wrote goes across whole (nothing crosses on a shared folder),
            # except from a node where a worker died: its task may have left part of a file there, which would replace
            # the whole one its retry wrote elsewhere; that node's tasks stay incomplete and --resume runs them again
            for node in tainted:
                logger.warning(f"a Ray worker died on node {node}: what this stage's tasks wrote there is not sent")
            ray.get([actor.push.remote() for actor in idle if actor in blind and blind[actor] not in tainted])
            self.mirror.pull()
        for actor in idle:
            ray.kill(actor)
        stats = PipelineStats()
        for rank in range(self.world_size):
            path = f"stats/{rank:05d}.json"
            if self.logging_dir.exists(path):
                with self.logging_dir.open(path, "r") as f:
                    stats += PipelineStats.from_json(json.load(f))
        with self.logging_dir.open("stats.json", "wt") as f:
            stats.save_to_disk(f)
        return stats
