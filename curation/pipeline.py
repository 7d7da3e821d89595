"""Pipeline assembly: job config -> datatrove steps -> executor run -> published release with manifest."""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import shutil
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from datatrove.pipeline.base import PipelineStep

from curation import __version__
from curation.config import ExecutorConfig, JobConfig
from curation.errors import CurateError, UsageError, failure_line
from curation.executors import LocalExecutor, RayWorkerPool, TaskPeakMemory, stage_peak_rss_mb
from curation.release import ReleaseBuild, ReleaseLayout, resolve_version, strict_check
from curation.runlog import datatrove_logs_on_stderr
from curation.shards import ShardWriter, exclusion_writer
from curation.steps import STEPS, build_filter_steps
from filters.base import StatName
from filters.exclusions import EXCLUSIONS_DIR
from curation.sources import reader_for
from curation.stats import write_stats
from curation.workmirror import WorkMirror
from manifests import storage
from manifests.schema import IncrementInfo, Manifest, ModelInfo, SourceSummary, StepStats
from manifests.tokens import token_counter
from manifests.writer import (content_hash, describe_input, describe_shard, git_commit, in_threads, now_utc, seal_release, sha256_file, tokenizer_info, totals,
                              write_manifest)

READ_CLOCK = "read_clock"  # a label of the first stage's steps that is no step of the manifest


def filter_steps(job: JobConfig, rejects_root: Path | None, label_only: bool = False) -> list[tuple[str, PipelineStep]]:
    """The enabled filter steps in pipeline order (curation/steps.py), each with its exclusion writer unless labelling
    only."""
    path = lambda p: job.resolve(p) if p else None  # noqa: E731 - config paths are relative to the job file
    writer_for = (lambda name: exclusion_writer(rejects_root, name)) if rejects_root is not None else None
    return build_filter_steps(job.steps, path, STEPS, writer_for, label_only)


def build_cpt_pipeline(job: JobConfig, staging: Path, shard_dir: Path, sig_dir: Path | None,
                       inputs: dict[str, list[Path]], since: Path | None = None) -> list[tuple[str, PipelineStep]]:
    """Stage 1: read every source, filter, (fingerprint for dedup), write shards to `shard_dir`."""
    from curation.costs import ReadClock
    from filters.dedup import DedupSignatures, source_ranks
    from filters.exclusions import ExcludedDocuments, read_exclusions

    steps: list[tuple[str, PipelineStep]] = []
    for src in job.sources:
        files = [str(f) for f in inputs[src.name]]
        steps.append((f"read:{src.name}", reader_for(src, files, str(staging / "rejects" / "read"), redact=job.steps.pii.enabled,
                                                     ids_dir=str(staging.parent / "ids"))))  # ids unique across tasks
    steps.append((READ_CLOCK, ReadClock()))  # times the readers (curation/costs.py)
    ids, urls = read_exclusions(since) if since else (set(), set())
    if ids or urls:  # documents the lineage excluded stay out, however they come back
        steps.append(("excluded", ExcludedDocuments(ids, urls, exclusion_writer=exclusion_writer(staging / "rejects", "excluded"))))
    steps += filter_steps(job, staging / "rejects")
    if sig_dir is not None:
        ranks = source_ranks(job.steps.dedup, [s.name for s in job.sources])
        steps.append(("dedup_signatures", DedupSignatures(job.steps.dedup, str(sig_dir), ranks)))
    steps.append(("write", ShardWriter(str(shard_dir), job.tokenizer_spec())))
    return steps


def make_executor(config: ExecutorConfig, steps: list[PipelineStep], tasks: int, workers: int, logs: Path, verbose: bool = False,
                  mirror: WorkMirror | None = None):
    """The datatrove executor the config names; every stage of a job runs on it. `mirror`: the work folder's copy in
    object storage that Ray workers without the driver's filesystem exchange it through."""
    if config.kind == "ray":
        import ray

        if not ray.is_initialized():
            ray.init(address=config.ray_address, include_dashboard=False, log_to_driver=False,
                     **({} if config.ray_address else {"num_cpus": max(workers, config.cpus_per_task)}))
        return RayWorkerPool(steps, tasks=tasks, workers=min(workers, tasks), logging_dir=str(logs), skip_completed=True,
                             cpus_per_task=config.cpus_per_task, mem_per_cpu_gb=config.mem_per_cpu_gb, mirror=mirror)
    return LocalExecutor(steps, tasks=tasks, workers=min(workers, tasks), logging_dir=str(logs), skip_completed=True, verbose=verbose,
                         quiet_log=str(logs / "executor.log"))


def work_mirror(job: JobConfig, layout: ReleaseLayout) -> WorkMirror | None:
    """The copy of the run's work folder under `executor.work_url`, for a Ray job whose nodes share no filesystem."""
    if job.executor.kind != "ray" or not job.executor.work_url:
        return None
    return WorkMirror(storage.join(job.executor.work_url, layout.name, layout.version), str(layout.work), uuid.uuid4().hex)


def _run_stage(name: str, steps: list[PipelineStep], tasks: int, workers: int, logs: Path, quiet: bool,
               config: ExecutorConfig, run_log=None, progress_every_s: float = 60.0, mirror: WorkMirror | None = None) -> list[int]:
    """Runs one stage's tasks an earlier run did not complete; returns their ranks (the tasks this run ran)."""
    from tqdm import tqdm

    from curation.costs import TaskClock
    from curation.progress import StageProgress

    executor = make_executor(config, [*steps, TaskClock(), TaskPeakMemory()], tasks, workers, logs, verbose=not quiet, mirror=mirror)
    if quiet:
        datatrove_logs_on_stderr(verbose=False)
    logs.mkdir(parents=True, exist_ok=True)
    ran = executor.get_incomplete_ranks(range(tasks))  # before: on --resume, completed tasks are skipped
    terminal = sys.stderr
    tty = terminal.isatty()
    # on a terminal a bar per stage (tasks done, rate, ETA); in cron and Airflow logs a `progress` line in the run log
    # every minute instead, so stderr stays clean
    with tqdm(total=tasks, desc=name, unit="task", file=terminal, disable=not tty, leave=False) as bar, \
            StageProgress(name, tasks, logs, bar=bar if tty else None, log=None if tty else run_log, log_every_s=progress_every_s):
        # datatrove logs every task at INFO to stderr; keep that in the run's log folder unless asked for
        # (Ray's executor also prints each stage's stats to stdout, whose last line must stay the release path)
        with open(logs / "executor.log", "a") as log, contextlib.redirect_stderr(log if quiet else terminal), \
                contextlib.redirect_stdout(log if quiet else sys.stdout):
            executor.run()
    if quiet:  # a task run in this process re-added datatrove's sink, on the stage's (now closed) log
        datatrove_logs_on_stderr(verbose=False)
    incomplete = executor.get_incomplete_ranks(range(tasks))
    if incomplete:
        raise CurateError(f"{name}: tasks {incomplete} did not complete; see {logs}/logs and rerun with --resume")
    return ran


def collect_step_stats(logs: Path, labels: list[str]) -> list[StepStats]:
    """Merge the per-task stats files datatrove wrote into one StepStats per step."""
    counters: list[dict[StatName, float]] = [defaultdict(float) for _ in labels]
    for f in sorted((logs / "stats").glob("*.json")):
        for i, step in enumerate(json.loads(f.read_text())[:len(labels)]):  # past the labels: TaskPeakMemory
            for key, value in step["stats"].items():
                counters[i][StatName.parse(key)] += value["total"] if isinstance(value, dict) else value
    out = []
    for label, c in zip(labels, counters):
        by_source: dict[str, dict[str, int]] = defaultdict(dict)
        step_wide: dict[str, float] = {}
        for stat, value in c.items():
            if stat.source is None:
                step_wide[stat.name] = value
            else:
                by_source[stat.source][stat.for_source(None).name] = int(value)
        reason_outcome = "rejected" if label.startswith("read:") else "dropped"
        reasons = {stat.reason: int(v) for stat, v in c.items() if stat.source is None and stat.outcome == reason_outcome and stat.reason}
        if label.startswith("read:"):
            docs = int(sum(v for stat, v in c.items() if stat.outcome == "documents"))
            out.append(StepStats(step=label, input=docs + sum(reasons.values()), kept=docs, dropped=sum(reasons.values()),
                                 dropped_by_reason=reasons, by_source=dict(by_source), other=other_stats(step_wide, reason_outcome)))
        else:
            out.append(StepStats(step=label, input=int(c.get(StatName("total"), 0)), kept=int(c.get(StatName("forwarded"), 0)),
                                 dropped=int(c.get(StatName("dropped"), 0)), dropped_by_reason=reasons, by_source=dict(by_source),
                                 other=other_stats(step_wide, reason_outcome)))
    return out


# what every step counts in the same way (the step's own counts go to `other`): documents in, kept and dropped,
# and datatrove's document-length summaries
STRUCTURAL_STATS = frozenset({"total", "forwarded", "dropped", "doc_len", "doc_len_tokens"})


def other_stats(step_wide: dict[str, float], reason_outcome: str) -> dict[str, float]:
    """A step's own step-wide counts (url_checked, region_tw, edited_<kind>, candidate_pairs, any new one): every stat
    but the structural ones and the reasons, so a stat a step starts counting reaches the manifest without a list here
    to extend."""
    return {k: v for k, v in sorted(step_wide.items()) if k not in STRUCTURAL_STATS and StatName.parse(k).outcome != reason_outcome}


def new_input_files(job: JobConfig, parent: Path) -> dict[str, list[Path]]:
    """Per source, the input files the parent release did not record (new, or changed since: other sha256)."""
    from manifests import load

    seen = {s.name: {(f.path, f.sha256) for f in s.input_files} for s in load(parent).sources}
    out = {}
    for src in job.sources:
        files = job.source_files(src)
        known = seen.get(src.name, set())
        out[src.name] = [f for f in files if ((d := describe_input(f, Path(job.base_dir))).path, d.sha256) not in known]  # a URL too
    return out


def carry_parent_shards(parent: Path, staging: Path, mode: str) -> None:
    """Bring the parent's shards into this release (hard link when possible, else copy) under
    `data/<source>/parent-<version>-<file>` so the new release holds old and new documents and stays self-contained."""
    from manifests import load

    m = load(parent)
    for shard in m.shards:
        src = parent / shard.path
        rel = Path(shard.path)
        dst = staging / rel.parent / f"parent-{m.version}-{rel.name}"
        dst.parent.mkdir(parents=True, exist_ok=True)
        if mode == "hardlink":
            try:
                os.link(src, dst)
                continue
            except OSError:
                pass  # another filesystem: fall back to a copy
        shutil.copy2(src, dst)


def run_job(job: JobConfig, force: bool = False, resume: bool = False, quiet: bool = True, since: Path | str | None = None,
            strict: bool = False) -> Path | str | None:
    """Run the CPT job and publish `<output>/<name>/<version>/`; returns that path.

    With `since` (a previous release; with the job's `incremental: true`, its newest one), only input files that
    release did not record are read, new documents are deduplicated against it, and its shards are carried into the
    new release; returns None when nothing is new. `strict` (or the job's own) fails the run on any alert before
    publishing. Holds the release lock for the whole run (ReleaseBuild) and logs JSON events to
    `<output>/logs/<name>-<version>.jsonl`. The CLI is a thin caller: Python callers get the same rules. An output
    in object storage: `since` is a release URL there, and the parent is copied into the work folder under the lock."""
    if strict:
        job = job.model_copy(update={"strict": True})
    output = job.prepare_output_dir()
    parent_url = None
    if storage.is_url(job.output):  # read in place until the lock is held: only its manifest, to see what is new
        parent_url = since = parent_in_bucket(job, since)
    elif since is None and job.incremental:
        from curation.release import released_versions

        versions = released_versions(output, job.name)
        since = output / job.name / versions[-1] if versions else None
    if since is not None and not parent_url and not (Path(since) / "manifest.json").is_file():
        raise UsageError(f"--since {since}: not a release (no manifest.json)")
    inputs = {src.name: job.source_files(src) for src in job.sources}
    if since is not None:
        inputs = new_input_files(job, since)
        if not any(inputs.values()):
            print(f"nothing new since {since}: every input file is recorded there", file=sys.stderr)
            return None
    from curation.runlog import RunLog

    version = resolve_version(output, job.name, job.version)
    if parent_url:
        since = ReleaseLayout(output, job.name, version).parent_copy(parent_url.rsplit("/", 1)[-1])
    if since is not None and job.steps.dedup.enabled:
        job = job.model_copy(update={"steps": job.steps.model_copy(update={
            "dedup": job.steps.dedup.model_copy(update={"against": str(since)})})})
    if job.executor.kind == "slurm":
        ids = submit_to_slurm(job, version, force, resume, inputs, since, parent_url)
        print(f"submitted Slurm jobs {', '.join(ids)}; the release appears at "
              f"{ReleaseLayout(output, job.name, version).remote or output / job.name / version} when the last one finishes",
              file=sys.stderr)
        return None
    build = ReleaseBuild(job.output_dir, job.name, version, force=force, resume=resume, strict=job.strict)
    log = RunLog(job.output_dir / "logs" / f"{job.name}-{version}.jsonl", build.run_id, name=job.name, version=version)
    with build:
        if build.lock.stale_taken_over:
            log.event("stale_lock_taken_over", previous=build.lock.stale_taken_over)
        log.event("start", resume=resume, force=force, config_hash=job.config_hash())
        try:
            mirror = work_mirror(job, build.layout)
            if mirror is not None and not resume:  # before the local folder goes: --resume after a stop here must
                mirror.clear()                     # not take an earlier run's stages back from the copy
            build.prepare()
            if parent_url:
                fetch_parent(parent_url, since)
            path = _run_locked(job, build, quiet, log, inputs, since, mirror)
        except BaseException as e:
            log.event("failed", error=f"{type(e).__name__}: {e}")
            raise
        finally:
            if parent_url:  # publish removed it with the work folder; a failed run does not keep a copy for --resume
                shutil.rmtree(since, ignore_errors=True)
        from manifests import load

        alerts = load(path).alerts
        if alerts:
            log.event("alerts", alerts=alerts)
        log.event("published", path=str(path))
        return path


def parent_in_bucket(job: JobConfig, since: str | Path | None) -> str | None:
    """The URL of the parent release of a run whose output is in object storage: `since` (a release of the job's name
    there), else with `incremental: true` the newest one; None when the run has no parent."""
    from curation.release import released_versions

    if since is None:
        versions = released_versions(job.output_dir, job.name) if job.incremental else []
        if not versions:
            return None
        version = versions[-1]
    else:
        prefix, since = storage.join(job.output, job.name) + "/", str(since)
        version = since[len(prefix):].strip("/") if since.startswith(prefix) else ""
        if not version or "/" in version:
            raise UsageError(f"--since {since}: the output is {job.output}: name a release there ({prefix}VERSION)")
    url = storage.join(job.output, job.name, version)
    if not storage.exists(storage.join(url, "manifest.json")):
        raise UsageError(f"--since {url}: not a release (no manifest.json)")
    return url


def fetch_parent(url: str, local: Path) -> None:
    """The parent release copied from the bucket into the run's work folder, where it is read, carried and deduped
    against as a local release. Only the lock's holder writes there, and publish removes it with the work folder
    (a Slurm run's finalize job too), so no other run can take it away mid-run."""
    shutil.rmtree(local, ignore_errors=True)  # a resumed run's: fetched whole again
    storage.download(url, local)


@dataclass
class Stage:
    """One datatrove executor run: its steps, how many tasks, where its logs and completions go."""

    name: str
    steps: list[PipelineStep]
    tasks: int
    logs: Path


def plan_stages(job: JobConfig, layout: ReleaseLayout, inputs: dict[str, list[Path]], since: Path | None = None) -> tuple[list[Stage], list[str]]:
    """The stages of a CPT run and the step labels of the first one (read, filter, write; with dedup:
    fingerprint, LSH buckets, clusters, filter). An incremental run (`since`) first drops what its parent's lineage
    excluded (`curate exclude`)."""
    from filters.dedup import DedupClusters, DedupShardFilter, IndexBuckets, LshBuckets, prepare_parent_index, shard_names

    dedup, tasks, work = job.steps.dedup, job.executor.tasks, layout.work
    named = build_cpt_pipeline(job, layout.staging, work / "stage1" if dedup.enabled else layout.staging / "data",
                               work / "dedup" / "signatures" if dedup.enabled else None, inputs, since)
    stages = [Stage("read and filter", [s for _, s in named], tasks, layout.logs)]
    if dedup.enabled:
        print(f"dedup: {dedup.bands} bands x {dedup.rows} rows of {dedup.num_perm} permutations: pairs become candidates "
              f"around Jaccard {dedup.lsh_threshold:.3f}; duplicates at estimated Jaccard >= {dedup.threshold}", file=sys.stderr)
        sig_dir, pair_dir, removed = work / "dedup" / "signatures", work / "dedup" / "pairs", work / "dedup" / "removed.parquet"
        parent_index = str(prepare_parent_index(job.resolve(dedup.against), dedup, work / "dedup" / "parent")) if dedup.against else None
        stages += [
            Stage("lsh buckets", [LshBuckets(dedup, str(sig_dir), str(pair_dir), parent_index)],
                  max(1, min(len(shard_names(dedup)), tasks)), work / "logs-buckets"),
            Stage("dedup clusters", [DedupClusters(dedup, str(sig_dir), str(pair_dir), str(layout.staging / "dedup"), str(removed),
                                                   parent_index)], 1, work / "logs-clusters"),
            Stage("dedup filter", [DedupShardFilter(str(work / "stage1"), str(removed), str(layout.staging / "data"),
                                                    exclusion_writer(layout.staging / "rejects", "dedup")),
                                   IndexBuckets(dedup, str(sig_dir), str(layout.staging / "dedup" / "index"), parent_index)],
                  tasks, work / "logs-filter"),
        ]
    return stages, [n for n, _ in named]


def finalize_release(job: JobConfig, version: str, stage1_labels: list[str], since: Path | None) -> Path:
    """After the last stage: merge stats, carry parent shards, write manifest and stats, publish the release."""
    layout = ReleaseLayout(job.output_dir, job.name, version)
    work, dedup = layout.work, job.steps.dedup
    steps = collect_step_stats(layout.logs, stage1_labels)
    # the writer repeats the last filter's counts; the read clock counts nothing
    steps = [s for s in steps if s.step not in ("write", "dedup_signatures", READ_CLOCK)]
    parent = str(job.resolve(dedup.against)) if dedup.enabled and dedup.against else None
    if dedup.enabled:
        dedup_stats = collect_step_stats(work / "logs-filter", ["dedup"])[0]
        cluster_counts = collect_step_stats(work / "logs-clusters", ["clusters"])[0]
        bucket_counts = collect_step_stats(work / "logs-buckets", ["buckets"])[0]  # candidates: unique per LSH task, summed
        dedup_stats.other = {"lsh_threshold": round(dedup.lsh_threshold, 4),
                             "candidate_pairs": bucket_counts.other.get("candidate_pairs", 0), **cluster_counts.other}
        steps.append(dedup_stats)
    increment = None
    if since is not None:
        carry_parent_shards(since, layout.staging, job.incremental_carry)
        parent = str(since)
        if (since / EXCLUSIONS_DIR).is_dir():  # the lineage's exclusion lists travel to every later release
            shutil.copytree(since / EXCLUSIONS_DIR, layout.staging / EXCLUSIONS_DIR, dirs_exist_ok=True)
        from manifests import load

        parent_manifest = load(since)
        increment = IncrementInfo(parent_version=parent_manifest.version, steps=steps,
                                  input_files={n: int(s.other.get("input_files", 0)) for n, s in
                                               ((st.step[len("read:"):], st) for st in steps if st.step.startswith("read:"))})
        steps = cumulative_steps(parent_manifest.steps, steps)
    # relative to the release's own folder ("../0.1.0"): lineage survives moving or copying the whole output folder
    parent = layout.lineage(Path(parent)) if parent else None
    manifest = build_manifest(job, version, layout.staging, steps, parent)
    manifest.increment = increment
    if since is not None:
        manifest.exclusions = load(since).exclusions
    from curation.alerts import release_alerts, run_alerts

    # alerts judge what this run read: an incremental run's own steps, where a source with no new file is normal
    manifest.alerts = run_alerts([s.name for s in job.sources], increment.steps if increment else steps, job.alert_drop_share,
                                 job.alert_min_documents, incremental=increment is not None)
    manifest.alerts += release_alerts(manifest, job.alert_drop_share, job.alert_min_documents, manifest.alerts)
    from curation.alerts import input_file_alerts

    manifest.alerts = input_file_alerts([s.name for s in job.sources], steps, layout.staging / "rejects" / "read",
                                        job.alert_min_documents) + manifest.alerts  # a truncated or mixed-encoding file, by name
    strict_check(manifest.alerts, job.strict, layout.work)  # finalize may run as a Slurm job: the rule, not the build
    write_manifest(layout.staging, manifest)
    write_stats(layout.staging, manifest)
    (layout.staging / "stats" / "steps.json").write_text(json.dumps([s.model_dump() for s in steps], ensure_ascii=False, indent=2))
    seal_release(layout.staging)
    return layout.publish()


# step values that describe a setting, not a count: the newest run's stands
SETTINGS = frozenset({"lsh_threshold"})


def cumulative_steps(parent: list[StepStats], run: list[StepStats]) -> list[StepStats]:
    """The parent release's step stats plus this run's, step by step, reason by reason and source by source: what
    an incremental release holds (the parent's documents carried over, the new ones filtered) counted as one run."""
    before = {s.step: s for s in parent}
    out = []
    for st in run:
        old = before.pop(st.step, None)
        if old is None:
            out.append(st)
            continue
        by_source = {src: dict(c) for src, c in old.by_source.items()}
        for src, counts in st.by_source.items():
            mine = by_source.setdefault(src, {})
            for k, v in counts.items():
                mine[k] = mine.get(k, 0) + v
        reasons = dict(old.dropped_by_reason)
        for k, v in st.dropped_by_reason.items():
            reasons[k] = reasons.get(k, 0) + v
        other = {k: (v if k in SETTINGS else old.other.get(k, 0) + v) for k, v in st.other.items()}
        other.update({k: v for k, v in old.other.items() if k not in other})
        out.append(StepStats(step=st.step, input=old.input + st.input, kept=old.kept + st.kept, dropped=old.dropped + st.dropped,
                             dropped_by_reason=dict(sorted(reasons.items())), by_source=by_source, other=other))
    return out + list(before.values())


class FinalizeRelease(PipelineStep):
    """The last Slurm job of a run: `finalize_release` once every stage before it has finished."""

    name = "finalize release"
    type = "📦 - RELEASE"

    def __init__(self, job: JobConfig, version: str, stage1_labels: list[str], since: str | None):
        super().__init__()
        self.job, self.version, self.stage1_labels, self.since = job, version, stage1_labels, since

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        path = finalize_release(self.job, self.version, self.stage1_labels, Path(self.since) if self.since else None)
        self.stat_update("published")
        print(path)
        return
        yield


def _run_locked(job: JobConfig, build: ReleaseBuild, quiet: bool, log, inputs: dict[str, list[Path]], since: Path | None,
                mirror: WorkMirror | None = None) -> Path:
    from curation.costs import UNTIMED, job_costs, stage_costs

    layout, version = build.layout, build.version
    stages, labels = plan_stages(job, layout, inputs, since)
    if mirror is not None:  # --resume takes back what the workers sent (a fresh run's copy was emptied before)
        mirror.pull()
    done, skipped, costs_failed = [], 0, None
    for stage in stages:
        start = time.perf_counter()
        ran = _run_stage(stage.name, stage.steps, stage.tasks, job.executor.workers, stage.logs, quiet, job.executor, run_log=log,
                         progress_every_s=job.progress_every_s, mirror=mirror)
        # rounded as logged, so a stage's logged parts add up to its logged seconds x workers
        seconds, workers = round(time.perf_counter() - start, 3), max(1, min(job.executor.workers, len(ran)))
        skipped += stage.tasks - len(ran)
        done.append({"stage": stage.name, "tasks": stage.tasks, "seconds": seconds, "workers": workers})
        try:  # timings are a report: a failure there never fails a release
            done[-1]["costs"] = stage_costs(stage.logs, seconds, workers, untimed_as=UNTIMED if stage is stages[0] else stage.name, ranks=ran)
        except Exception as e:
            costs_failed = costs_failed or f"{stage.name}: {failure_line(e)}"
        log.event("stage_done", **done[-1], task_peak_rss_mb=stage_peak_rss_mb(stage.logs))
    start = time.perf_counter()
    path = finalize_release(job, version, labels, since)
    if mirror is not None:  # published: the work folder and its copy are done with
        try:
            mirror.clear()
        except Exception as e:  # the release stands; what is left in the bucket is said
            log.event("work_copy_left", url=mirror.url, error=failure_line(e))
    done.append({"stage": "finalize", "tasks": 1, "seconds": round(time.perf_counter() - start, 3), "workers": 1})
    log.event("stage_done", **done[-1], driver_peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
    from manifests import load

    try:
        if costs_failed is None:
            m = load(path)
            read = [s for s in (m.increment.steps if m.increment else m.steps) if s.step.startswith("read:")]  # this run's own
            log.event("costs", **job_costs(done, sum(s.input for s in read)), resumed=build.resume, skipped_tasks=skipped)
    except Exception as e:
        costs_failed = failure_line(e)
    if costs_failed is not None:
        log.event("costs_failed", error=costs_failed)
    return path


def submit_to_slurm(job: JobConfig, version: str, force: bool, resume: bool, inputs: dict[str, list[Path]],
                    since: Path | None, parent_url: str | None = None) -> list[str]:
    """Submit every stage plus the finalize job as Slurm array jobs chained with afterok dependencies
    (datatrove's Slurm executor); returns the job ids. The release appears when the last job ends."""
    from datatrove.executor.slurm import SlurmPipelineExecutor

    layout = ReleaseLayout(job.output_dir, job.name, version)
    layout.prepare(force=force, resume=resume)
    if parent_url:  # into the work folder, which the finalize job's publish removes
        fetch_parent(parent_url, since)
    stages, labels = plan_stages(job, layout, inputs, since)
    stages.append(Stage("finalize", [FinalizeRelease(job, version, labels, str(since) if since else None)], 1, layout.work / "logs-finalize"))
    cfg, previous, executors = job.executor, None, []
    for i, stage in enumerate(stages):
        previous = SlurmPipelineExecutor(
            pipeline=stage.steps, tasks=stage.tasks, workers=cfg.workers, logging_dir=str(stage.logs), depends=previous,
            job_name=f"{job.name}-{version}-{i}-{stage.name.replace(' ', '-')}", partition=cfg.partition, time=cfg.time,
            # sbatch wants whole units ("2G", not "1.5G")
            cpus_per_task=cfg.cpus_per_task, mem_per_cpu_gb=math.ceil(cfg.mem_per_cpu_gb), sbatch_args=dict(cfg.sbatch_args),
            venv_path=str(Path(cfg.venv_path or sys.prefix) / "bin" / "activate"), slurm_logs_folder=str(stage.logs / "slurm"), skip_completed=True)
        executors.append(previous)
    previous.run()  # launches the chain: each stage's dependencies are submitted first
    return [str(e.job_id) for e in executors]


def models_used(job: JobConfig) -> list[ModelInfo]:
    """The models the enabled steps decide with (each step names its own), identified by file content."""
    return [ModelInfo(step=name, name=m.name, path=m.origin, sha256=sha256_file(m.file), card_threshold=m.threshold)
            for name, step in filter_steps(job, rejects_root=None) for m in step.models()]


def build_manifest(job: JobConfig, version: str, release_dir: Path, steps: list[StepStats], parent: str | None = None) -> Manifest:
    counter = token_counter(job.tokenizer_spec())
    shards = in_threads(lambda p: describe_shard(release_dir, p, counter), sorted((release_dir / "data").rglob("*.parquet")))
    sources = []
    for src in job.sources:
        mine = [s for s in shards if s.source == src.name]
        sources.append(SourceSummary(name=src.name, kind=src.kind, license=src.license, weight=src.weight,
                                     documents=sum(s.documents for s in mine), characters=sum(s.characters for s in mine),
                                     tokens=sum(s.tokens for s in mine) if counter else None,
                                     input_files=[describe_input(f, Path(job.base_dir)) for f in job.source_files(src)]))
    weighted = {s.name: s.weight for s in sources if s.documents}
    total_weight = sum(weighted.values()) or 1.0
    rejects: dict[str, int] = defaultdict(int)
    for st in steps:
        if st.step.startswith("read:"):
            for reason, n in st.dropped_by_reason.items():
                rejects[reason] += n
    return Manifest(name=job.name, kind="cpt", version=version, created=now_utc(), content_hash=content_hash(shards),
                    tool_version=__version__, git_commit=git_commit(), config=job.as_dict(), config_hash=job.config_hash(),
                    shards=shards, sources=sources, steps=steps, rejects=dict(rejects),
                    totals=totals(shards), tokenizer=tokenizer_info(counter), parent=parent, models=models_used(job),
                    mixture_weights={k: round(v / total_weight, 6) for k, v in weighted.items()})
