"""`curate plan JOB.yaml`: what a run will need, before it runs. Validates the job and its paths, reads a sample of
every source with the real readers, runs the real filter steps over it on this machine, and scales up: documents,
characters and tokens expected, disk per stage, peak memory per task, time per stage for the configured tasks and
workers. It warns where a setting will not fit (memory per task, open files, Slurm's array size) and where the run
could not write (an output or work folder that is not writable or not a folder, less free disk than it will need).

Estimates scale the sample linearly by input bytes (a compressed file by its compressed bytes), so a source whose
files differ widely in content is estimated from its first files only. Times are this machine's per-core rates; a run
on other hardware scales with its per-core speed.
"""

from __future__ import annotations

import os
import resource
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from curation.config import JobConfig

# Measured on a 16-core machine, 50k and 400k generated documents, 64 and 128 tasks (bench/RESULTS.md, issue 32).
# Peak memory of a read-and-filter task process: Python, datatrove, the fastText models, OpenCC tables and the
# tokenizer, ~240-300 MB; 350 leaves room for long documents in flight
BASE_TASK_MB = 350
# dedup: 16 bytes per document and signature band in a bucket task holding one (band, hash range) shard (issue 14)
DEDUP_BYTES_PER_DOC = 16
# what each stage costs beyond its documents: worker processes start, import, load models, and the last tasks finish
# alone (a fixed ~7 s for read and filter at 16 workers, ~2.5 s for the dedup stages)
STAGE_START_S = {"read and filter": 7.0, "lsh buckets": 2.2, "dedup clusters": 1.0, "dedup filter": 2.6, "finalize": 0.6}
# the later stages per kept document, as shares of the first stage's per-document cost on one core (16-core
# machine: 3.7 ms a document read and filtered; buckets 183 us, clusters 41 us on one task, dedup filter 165 us,
# finalize (hashing and stats) 10 us). Since then the index's bucket shards moved from the clusters task to the dedup
# filter tasks (IndexBuckets): four fifths of the clusters task's time on the 2-core machine, so its share went there
STAGE_SHARE = {"lsh buckets": 0.050, "dedup clusters": 0.0033, "dedup filter": 0.053, "finalize": 0.003}
# issue 41 (2-core machine, dedup only, 100k, 300k and 1M documents in one input file, bench/RESULTS.md): a
# read-and-filter task grows ~140 bytes a document it reads (the reader's set of id hashes, the Parquet writer's row
# group metadata; dedup's signatures and fields are spooled to disk) and by bytes a character of the longest
# document in flight (its line, text, Parquet batch and token ids: 16 with no filter step on, 27 with the default
# steps; fingerprints take 512k characters at a time). The dedup stages copy signature rows out of a window of the
# file at a time (a whole-file map counted its touched pages as resident): bucket tasks ~110 bytes a document, the
# clusters task ~220, dedup filter tasks ~100, finalize (the driver, after the clusters task) 400 MB + ~105
READ_BYTES_PER_DOC = 140
READ_BYTES_PER_CHAR, READ_BYTES_PER_CHAR_FILTERED = 16, 27
BUCKETS_BYTES_PER_DOC = 110
CLUSTERS_BYTES_PER_DOC = 220
FILTER_BYTES_PER_DOC = 100
FINALIZE_MB, FINALIZE_BYTES_PER_DOC = 400, 105
PARALLEL_EFFICIENCY = 0.93  # read and filter on 16 workers at 400k documents, start-up excluded
SLURM_MAX_ARRAY = 1001  # Slurm's default MaxArraySize: an array job of more tasks is refused unless raised


@dataclass
class SourcePlan:
    name: str
    files: int
    bytes: int
    sample_bytes: int = 0
    sample_docs: int = 0
    sample_chars: int = 0
    sample_rejected: int = 0
    kept_docs: int = 0
    kept_chars: int = 0
    kept_tokens: int = 0
    seconds: float = 0.0  # reading + filtering the sample, one core
    longest_chars: int = 0  # the longest document of the sample

    @property
    def scale(self) -> float:
        return self.bytes / self.sample_bytes if self.sample_bytes else 0.0


@dataclass
class Plan:
    sources: list[SourcePlan] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stages: list[dict] = field(default_factory=list)
    totals: dict = field(default_factory=dict)


def _sample_files(files: list[Path], max_bytes: int) -> list[Path]:
    out, size = [], 0
    for f in files:
        out.append(f)
        size += f.stat().st_size
        if size >= max_bytes:
            break
    return out


def make_plan(job: JobConfig, sample_mb: float = 8.0, work: Path | None = None) -> Plan:
    from datatrove.data import Document

    from curation.pipeline import filter_steps
    from curation.sources import reader_for
    from manifests.tokens import token_counter

    plan = Plan()
    steps = [s for _, s in filter_steps(job, rejects_root=None)]
    counter = token_counter(job.tokenizer_spec())
    fingerprint = None
    if job.steps.dedup.enabled:
        from filters.fingerprint import TextFingerprint

        d = job.steps.dedup
        fingerprint = TextFingerprint(d.ngram, d.num_perm, d.seed)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        for src in job.sources:
            files = job.source_files(src)
            sp = SourcePlan(src.name, len(files), sum(f.stat().st_size for f in files))
            sample = _sample_files(files, int(sample_mb * 2**20))
            sp.sample_bytes = sum(f.stat().st_size for f in sample)
            reader = reader_for(src, [str(f) for f in sample], str(Path(tmp) / "rejects"))
            start = time.perf_counter()
            kept_texts = []
            for doc in reader.run():
                sp.sample_docs += 1
                sp.sample_chars += len(doc.text)
                sp.longest_chars = max(sp.longest_chars, len(doc.text))
                d = Document(text=doc.text, id=doc.id, metadata=dict(doc.metadata))
                for step in steps:  # in pipeline order; a dropped document goes no further, as in a run
                    result = step.filter(d)
                    if result is not True and not (isinstance(result, tuple) and result[0]):
                        break
                else:
                    kept_texts.append(d.text)
            # what the first stage does after the filters: fingerprint for dedup, count tokens, write
            sp.kept_tokens = sum(counter.count_batch(kept_texts)) if counter and kept_texts else 0
            if fingerprint is not None and kept_texts:
                fingerprint.signatures(kept_texts)
            sp.seconds = time.perf_counter() - start
            sp.sample_rejected = int(sum(v["total"] if isinstance(v, dict) else v for k, v in reader.stats.to_dict().items() if k.startswith("rejected_")))
            sp.kept_docs, sp.kept_chars = len(kept_texts), sum(map(len, kept_texts))
            plan.sources.append(sp)

    c = job.executor
    tasks, workers = c.tasks, min(c.workers, c.tasks)
    cores = os.cpu_count() or 1
    parallel = max(1, min(workers, cores if c.kind == "local" else workers))
    scaled = lambda attr: sum(getattr(s, attr) * s.scale for s in plan.sources)  # noqa: E731
    docs_in, docs_kept = scaled("sample_docs"), scaled("kept_docs")
    chars_kept, tokens = scaled("kept_chars"), scaled("kept_tokens")
    seconds_one_core = sum(s.seconds * s.scale for s in plan.sources)
    shard_bytes = chars_kept * 1.2  # Parquet (zstd) of zh-TW text with its annotations: ~1.2 bytes a character here
    rejects_bytes = max(scaled("sample_chars") - chars_kept, 0) * 1.0  # gzip JSON lines with their annotations
    per_task_docs = docs_in / max(tasks, 1)
    per_doc = seconds_one_core / max(docs_in, 1)  # one core, read and filter, this machine

    def stage_seconds(stage: str, one_core: float, stage_tasks: int) -> float:
        lanes = max(1, min(parallel, stage_tasks))
        return STAGE_START_S[stage] + one_core / (lanes * (PARALLEL_EFFICIENCY if lanes > 1 else 1.0))

    plan.stages.append({"stage": "read and filter", "tasks": tasks, "seconds": stage_seconds("read and filter", seconds_one_core, tasks),
                        "disk_bytes": shard_bytes + rejects_bytes, "task_mb": read_task_mb(job, plan)})
    if job.steps.dedup.enabled:
        d = job.steps.dedup
        sig_bytes = docs_kept * d.num_perm * 4
        bucket_tasks = min(tasks, d.bands * d.hash_ranges)
        plan.stages += [
            {"stage": "lsh buckets", "tasks": bucket_tasks,
             "seconds": stage_seconds("lsh buckets", docs_kept * per_doc * STAGE_SHARE["lsh buckets"], bucket_tasks),
             "disk_bytes": sig_bytes, "task_mb": BASE_TASK_MB / 2 + docs_kept * (DEDUP_BYTES_PER_DOC / d.hash_ranges + BUCKETS_BYTES_PER_DOC) / 2**20},
            {"stage": "dedup clusters", "tasks": 1, "seconds": stage_seconds("dedup clusters", docs_kept * per_doc * STAGE_SHARE["dedup clusters"], 1),
             # component labels, the survivors' ids and fields, the index parts' live flags
             "disk_bytes": docs_kept * 40, "task_mb": BASE_TASK_MB / 2 + docs_kept * CLUSTERS_BYTES_PER_DOC / 2**20},
            {"stage": "dedup filter", "tasks": tasks, "seconds": stage_seconds("dedup filter", docs_kept * per_doc * STAGE_SHARE["dedup filter"], tasks),
             # every task reads all removed ids and, for its index bucket shards, every part's `live` flags
             "disk_bytes": shard_bytes, "task_mb": BASE_TASK_MB + docs_kept * FILTER_BYTES_PER_DOC / 2**20},
        ]
    plan.stages.append({"stage": "finalize", "tasks": 1, "seconds": stage_seconds("finalize", docs_kept * per_doc * STAGE_SHARE["finalize"], 1),
                        "disk_bytes": 0, "task_mb": FINALIZE_MB + docs_kept * FINALIZE_BYTES_PER_DOC / 2**20})
    plan.totals = {"documents_in": docs_in, "documents_kept": docs_kept, "characters_kept": chars_kept, "tokens": tokens,
                   "input_bytes": sum(s.bytes for s in plan.sources), "seconds": sum(s["seconds"] for s in plan.stages),
                   "disk_bytes": sum(s["disk_bytes"] for s in plan.stages), "per_task_documents": per_task_docs}

    # settings that will not fit
    peak = max(s["task_mb"] for s in plan.stages)
    if c.kind in ("slurm", "ray") and peak > c.mem_per_cpu_gb * 1024 * c.cpus_per_task:
        plan.warnings.append(f"memory: a task may need ~{peak:.0f} MB, the job gives {c.mem_per_cpu_gb * c.cpus_per_task:.1f} GB "
                             f"(executor.mem_per_cpu_gb x cpus_per_task)")
    if c.kind == "local":
        try:
            import psutil

            free_mb = psutil.virtual_memory().available / 2**20
        except ImportError:
            free_mb = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**20
        if peak * workers > free_mb:
            plan.warnings.append(f"memory: {workers} workers x ~{peak:.0f} MB exceed the {free_mb:.0f} MB available now")
    if c.kind == "slurm" and max(s["tasks"] for s in plan.stages) > SLURM_MAX_ARRAY:
        plan.warnings.append(f"slurm: {tasks} tasks make an array job larger than Slurm's default MaxArraySize "
                             f"({SLURM_MAX_ARRAY}); raise it in slurm.conf or use fewer tasks")
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    open_files = workers * (len(job.sources) + 16)  # per task: its input file, shard and reject writers, logs
    if open_files > soft:
        plan.warnings.append(f"open files: ~{open_files} at once with {workers} workers, the limit (ulimit -n) is {soft}")
    if tasks > sum(s.files for s in plan.sources) and job.sources:
        plan.warnings.append(f"tasks: {tasks} tasks for {sum(s.files for s in plan.sources)} input files: tasks take whole "
                             f"files, so {tasks - sum(s.files for s in plan.sources)} will have nothing to read")
    plan.warnings += output_warnings(job.output_dir, plan.totals["disk_bytes"])
    return plan


def read_task_mb(job: JobConfig, plan: Plan) -> float:
    """Peak memory of the busiest read-and-filter task (issue 41). Each source's files go to tasks round-robin
    (`files[rank::tasks]`), so with few or uneven files one task reads far more than documents / tasks (one file:
    all of them); its documents are estimated from its files' bytes at the sample's documents per byte. The longest
    document is the sample's (a longer one later in the input costs more)."""
    tasks = max(job.executor.tasks, 1)
    docs = [0.0] * tasks
    for src in job.sources:
        sp = next((p for p in plan.sources if p.name == src.name), None)
        per_byte = sp.sample_docs / sp.sample_bytes if sp and sp.sample_bytes else 0.0
        for i, f in enumerate(job.source_files(src)):
            docs[i % tasks] += f.stat().st_size * per_byte
    longest = max((p.longest_chars for p in plan.sources), default=0)
    filtered = any(cfg.enabled for name, cfg in job.steps if name != "dedup")
    per_char = READ_BYTES_PER_CHAR_FILTERED if filtered else READ_BYTES_PER_CHAR
    return BASE_TASK_MB + (max(docs) * READ_BYTES_PER_DOC + longest * per_char) / 2**20


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _cannot_write(folder: Path, probe: bool) -> str | None:
    """Why nothing can be created in `folder`, or None. `probe`: also create and remove a file there (the truth where
    permission bits do not tell it: root, ACLs, NFS); otherwise only os.access, which still sees a read-only mount."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return "read-only file system" if _read_only_mount(folder) else "permission denied"
    if probe:
        try:
            fd, name = tempfile.mkstemp(dir=folder, prefix=".curate-plan-")
            os.close(fd)
            os.unlink(name)
        except OSError as e:
            return (e.strerror or str(e)).lower()
    return None


def _read_only_mount(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def output_warnings(output: Path, disk_bytes: float) -> list[str]:
    """One line each for an output or work folder (`<output>/.work`) a run could not write, and for less free disk
    under the output than the plan's disk estimate. A folder that does not exist yet is judged by the nearest one that
    does, where the run would create it."""
    warnings, seen = [], set()
    for label, folder in (("output", output), ("work folder", output / ".work")):
        existing = _nearest_existing(folder)
        if existing in seen:
            continue
        seen.add(existing)
        if not existing.is_dir():
            warnings.append(f"{label}: {existing} is not a folder, so {folder} cannot be created (a run fails with exit 6)")
            break
        why = _cannot_write(existing, probe=existing == folder)
        if why:
            where = folder if existing == folder else f"{existing} (where {folder} would be created)"
            warnings.append(f"{label}: cannot write in {where}: {why} (a run fails with exit 6)")
    existing = _nearest_existing(output)
    if existing.is_dir():
        free = shutil.disk_usage(existing).free
        if disk_bytes > free:
            warnings.append(f"disk: the run needs ~{_size(disk_bytes)} under {output}, {_size(free)} free there")
    return warnings


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def _duration(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min" if s < 7200 else f"{s / 3600:.1f} h"


def format_plan(job: JobConfig, plan: Plan) -> str:
    t = plan.totals
    lines = [f"plan for {job.name} ({job.executor.kind} executor, {job.executor.tasks} tasks, {job.executor.workers} workers)", "",
             "source        files    input   sample docs  est. docs in  est. kept    chars kept   tokens"]
    for s in plan.sources:
        lines.append(f"{s.name:12s} {s.files:6d} {_size(s.bytes):>9s} {s.sample_docs:11d} {s.sample_docs * s.scale:13,.0f} "
                     f"{s.kept_docs * s.scale:10,.0f} {s.kept_chars * s.scale:13,.0f} {s.kept_tokens * s.scale:10,.0f}")
    lines += ["", "stage              tasks   time (est.)   disk      peak memory per task"]
    for st in plan.stages:
        lines.append(f"{st['stage']:18s} {st['tasks']:5d}   {_duration(st['seconds']):>10s}   {_size(st['disk_bytes']):>8s}  ~{st['task_mb']:.0f} MB")
    lines += ["", f"total: ~{t['documents_in']:,.0f} documents in, ~{t['documents_kept']:,.0f} kept, ~{t['tokens']:,.0f} tokens; "
                  f"~{_duration(t['seconds'])}, ~{_size(t['disk_bytes'])} of disk"]
    lines += [f"warning: {w}" for w in plan.warnings] or ["no setting looks too small"]
    return "\n".join(lines)
