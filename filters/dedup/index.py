"""The release's signature index (`dedup/index/`): parts, bucket shards (`IndexBuckets`, in stage 4's tasks),
parameters, and preparing a parent release's index for a later run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from filters.config import DedupConfig
from filters.dedup.shards import CHUNK_ROWS, merge_runs, pack, shard_names, task_parts, unpack
from filters.dedup.signatures import save_bucket_runs


# -- the release's signature index ------------------------------------------------------------------------------
# dedup/index/params.json                  fingerprint and banding parameters (a later run must use the same)
# dedup/index/parts/<part>.sigs.npy        signatures of one part (a task of one release), read by row
# dedup/index/parts/<part>.docs.npz        its ids, exact hashes and `live` (not removed as a duplicate)
# dedup/index/buckets/<band>-r<range>.npy  sorted (band hash, ref) rows of every live document released so far


def index_params(config: DedupConfig) -> dict:
    return {"ngram": config.ngram, "num_perm": config.num_perm, "seed": config.seed, "bands": config.bands, "rows": config.rows,
            "hash_ranges": config.hash_ranges, "near": config.near, "exact": config.exact}


def index_parts(index: Path) -> dict[int, str]:
    return {int(f.name.split(".")[0]): f.name.split(".")[0] for f in sorted((index / "parts").glob("*.docs.npz"))}


def check_index_params(index: Path, config: DedupConfig) -> None:
    have = json.loads((index / "params.json").read_text())
    want = index_params(config)
    if have != want:
        diff = {k: (have.get(k), v) for k, v in want.items() if have.get(k) != v}
        raise ValueError(f"{index}: the parent release's dedup index was built with other parameters "
                         f"({', '.join(f'{k}: {a} there, {b} here' for k, (a, b) in diff.items())}); dedup against it needs the same")


def write_index(out: Path, config: DedupConfig, sig_dir: Path, names: dict[int, str], removed: set[str], parent: str | None) -> None:
    """This run's live documents added to the parent's index (cumulative: a run against this release also sees
    everything before it), in one task: parts, then every bucket shard. Signatures saved without bucket runs (a
    converted legacy index) get theirs here first, under `runs/`, which the bucket shards then take in."""
    import shutil

    write_index_parts(out, config, sig_dir, names, removed, parent)
    runs = out / "runs"
    if not (sig_dir / "buckets").is_dir():
        base = index_base(parent)
        for task in sorted(names):
            part = base + task
            with np.load(out / "parts" / f"{part:05d}.docs.npz") as z:
                exact, rows = z["exact"], np.flatnonzero(z["live"])
            save_bucket_runs(runs, f"{part:05d}", config, out / "parts" / f"{part:05d}.sigs.npy", exact[rows], pack(part, rows), rows)
    write_index_buckets(out, config, sig_dir, names, parent, shard_names(config))
    shutil.rmtree(runs, ignore_errors=True)


def index_base(parent: str | None) -> int:
    """The first index part number of this run: after the parent's parts."""
    return max(index_parts(Path(parent)), default=-1) + 1 if parent else 0


class LiveRows:
    """Which rows of each task's part are live (not removed as duplicates), for the bucket shards. Every index bucket
    task needs every task's rows: read from each part's docs.npz, that was T x T archive opens over a stage (4,096 at
    64 tasks, ~0.3 ms each); `write_index_parts` also saves them all in one work file beside the signatures
    (`index-live.npz`: the same arrays, tasks, where each starts), which each bucket task opens once. A work folder
    without it (written by an older version) is read part by part as before."""

    FILE = "index-live.npz"

    @classmethod
    def save(cls, sig_dir: Path, out: Path, lives: dict[int, np.ndarray]) -> None:
        tasks = sorted(lives)
        starts = np.cumsum([0] + [len(lives[t]) for t in tasks])
        tmp = sig_dir / f"{cls.FILE}.partial.npz"
        np.savez(tmp, index=np.array([str(out.resolve())]), tasks=np.array(tasks, dtype=np.int64), starts=starts,
                 live=np.concatenate([lives[t] for t in tasks] or [np.empty(0, bool)]))
        tmp.replace(sig_dir / cls.FILE)

    @classmethod
    def load(cls, sig_dir: Path, out: Path, names: dict[int, str], base: int) -> dict[int, np.ndarray]:
        path = sig_dir / cls.FILE
        if path.is_file():
            with np.load(path) as z:
                tasks, starts, live = z["tasks"].tolist(), z["starts"], z["live"]
                same_index = str(z["index"][0]) == str(out.resolve())
            if same_index and set(tasks) == set(names):
                return {t: live[starts[i]:starts[i + 1]] for i, t in enumerate(tasks)}
        live_of = {}
        for task in names:
            with np.load(out / "parts" / f"{base + task:05d}.docs.npz") as z:
                live_of[task] = z["live"]
        return live_of


def write_index_parts(out: Path, config: DedupConfig, sig_dir: Path, names: dict[int, str], removed: set[str],
                      parent: str | None) -> None:
    """params.json, the parent's parts (hard-linked, copied across filesystems) and one part per task of this run:
    its signatures linked, its ids, exact hashes and `live` (not removed as a duplicate)."""
    (out / "parts").mkdir(parents=True, exist_ok=True)
    (out / "buckets").mkdir(parents=True, exist_ok=True)
    (out / "params.json").write_text(json.dumps(index_params(config), sort_keys=True))
    if parent:
        for f in sorted((Path(parent) / "parts").iterdir()):
            _link_or_copy(f, out / "parts" / f.name)
    base = index_base(parent)
    removed_ids = np.array(sorted(removed), dtype=str) if removed else np.empty(0, dtype=str)
    lives = {}
    for task, name in sorted(names.items()):
        part = base + task
        with np.load(sig_dir / f"{name}.docs.npz") as z:
            ids, exact = z["ids"], z["exact"]
        # a chunk of ids at a time: np.isin of strings sorts copies of both arrays (4 bytes a character each)
        live = np.concatenate([~np.isin(ids[i:i + CHUNK_ROWS].astype(str), removed_ids) for i in range(0, len(ids), CHUNK_ROWS)]
                              or [np.empty(0, bool)])
        np.savez(out / "parts" / f"{part:05d}.docs.npz", ids=ids, exact=exact, live=live)
        _link_or_copy(sig_dir / f"{name}.sigs.npy", out / "parts" / f"{part:05d}.sigs.npy")
        lives[task] = live
    LiveRows.save(sig_dir, out, lives)


def write_index_buckets(out: Path, config: DedupConfig, sig_dir: Path, names: dict[int, str], parent: str | None,
                        shards: list[str]) -> None:
    """The bucket shards `shards` of the index: the parent's rows plus the fingerprinting tasks' own sorted runs,
    minus removed documents and renumbered to index parts (no re-hashing). Shards are independent, so the dedup
    filter stage's tasks write them in parallel (`IndexBuckets`); `write_index_parts` must have run."""
    base = index_base(parent)
    live_of = LiveRows.load(sig_dir, out, names, base)
    runs = out / "runs"  # only for signatures without bucket runs (`write_index` makes them)
    for shard in shards:
        merged = [np.load(Path(parent) / "buckets" / f"{shard}.npy")] if parent else []
        for task, name in sorted(names.items()):
            f = sig_dir / "buckets" / shard / f"{name}.npy"
            if f.is_file():
                entries = np.load(f)
                _, row = unpack(entries[:, 1])
                keep = live_of[task][row]
                entries = entries[keep]
                entries[:, 1] = pack(base + task, row[keep])
                merged.append(entries)
        merged += [np.load(f) for f in sorted((runs / shard).glob("*.npy"))]
        tmp = out / "buckets" / f"{shard}.partial.npy"
        np.save(tmp, merge_runs(merged))
        tmp.replace(out / "buckets" / f"{shard}.npy")  # a task killed mid-write leaves no half shard under its name


class IndexBuckets(PipelineStep):
    """In the dedup filter stage, after the clusters task wrote the index parts: task `rank` merges every
    `world_size`-th bucket shard of the release's signature index. This was the clusters task's largest cost (about
    four fifths of it), done there alone while the other cores waited (bench/RESULTS.md, issue 32)."""

    name = "index buckets"
    type = "🫂 - DEDUP"

    def __init__(self, config: DedupConfig, sig_dir: str, index_dir: str, parent_index: str | None = None):
        super().__init__()
        self.config, self.sig_dir, self.index_dir, self.parent_index = config, sig_dir, index_dir, parent_index

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        sig_dir = Path(self.sig_dir)
        shards = shard_names(self.config)[rank::world_size]
        write_index_buckets(Path(self.index_dir), self.config, sig_dir, task_parts(sig_dir), self.parent_index, shards)
        self.stat_update("shards", value=len(shards))


def _link_or_copy(src: Path, dst: Path) -> None:
    """Signature files are large and never change once written: a hard link where the filesystem allows."""
    import shutil

    dst.unlink(missing_ok=True)
    try:
        dst.hardlink_to(src)
    except OSError:
        shutil.copy2(src, dst)


def convert_legacy_index(npz: Path, out: Path, config: DedupConfig) -> Path:
    """A parent release written before the sharded index (one `dedup/index.npz`) as a sharded index in `out`."""
    legacy = dict(np.load(npz))
    work = out / "legacy-signatures"
    work.mkdir(parents=True, exist_ok=True)
    np.save(work / "00000.sigs.npy", legacy["sigs"])
    n = len(legacy["ids"])
    np.savez(work / "00000.docs.npz", ids=legacy["ids"], exact=legacy["exact"], priority=np.zeros(n, np.int64),
             quality=np.zeros(n), date=np.array(["~"] * n, dtype=str), source=np.array([""] * n, dtype=str))
    write_index(out / "index", config, work, {0: "00000"}, set(), None)
    return out / "index"


def has_index(release: Path) -> bool:
    return (release / "dedup" / "index" / "params.json").is_file() or (release / "dedup" / "index.npz").is_file()


def prepare_parent_index(release: Path, config: DedupConfig, work: Path) -> Path:
    """The parent release's sharded index, checked against this run's parameters; a release from before the
    sharded layout (`dedup/index.npz`) is converted into `work` first."""
    index = release / "dedup" / "index"
    if not (index / "params.json").is_file():
        index = convert_legacy_index(release / "dedup" / "index.npz", work, config)
    check_index_params(index, config)
    return index
