"""Stage 2 (`LshBuckets`, tasks over band shards): documents sharing a band hash become candidate pairs, verified
from memory-mapped signatures (`Parts`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from filters.config import DedupConfig
from filters.fingerprint import estimate_similarity
from filters.dedup.shards import EXACT_BAND, PAIRS_AT_ONCE, PARENT_CANDIDATES, PART_SHIFT, SIGNATURE_ROWS_AT_ONCE, shard_names, sorted_runs, sorted_unique, task_parts, unpack


class LshBuckets(PipelineStep):
    """Task `rank` takes every `world_size`-th (band, hash range) shard: merges the tasks' sorted runs of that shard,
    and documents with equal hashes become candidate pairs (each with the previous one in its bucket: enough to
    connect the bucket). Near candidates are verified here, in parallel (estimated Jaccard >= threshold from
    memory-mapped signatures; a pair found in several of the task's bands once), and only verified pairs are written
    for the clusters task; exact-hash pairs need no verification. With a parent release index, new documents sharing
    a bucket with released ones become parent candidates. Memory: one shard and the task's candidate keys."""

    name = "lsh buckets"
    type = "🫂 - DEDUP"

    def __init__(self, config: DedupConfig, sig_dir: str, pair_dir: str, parent_index: str | None = None):
        super().__init__()
        self.config, self.sig_dir, self.pair_dir, self.parent_index = config, sig_dir, pair_dir, parent_index

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        out = Path(self.pair_dir)
        out.mkdir(parents=True, exist_ok=True)
        sig_dir = Path(self.sig_dir)
        names = task_parts(sig_dir)
        parts = Parts(sig_dir, names)
        offsets, n = part_offsets(parts, names)
        near_keys = [np.empty(0, np.int64)]
        for shard in shard_names(self.config)[rank::world_size]:
            rows = sorted_runs(sorted((sig_dir / "buckets" / shard).glob("*.npy")))
            same = np.flatnonzero(rows[1:, 0] == rows[:-1, 0])
            if shard.startswith(EXACT_BAND):  # equal exact hashes need no verification
                np.save(out / f"{shard}.npy", np.stack([rows[same, 1], rows[same + 1, 1]], axis=1))
            else:  # a pair seen in several of this task's bands is verified once
                a, b = to_global(offsets, rows[same, 1]), to_global(offsets, rows[same + 1, 1])
                near_keys.append(sorted_unique(np.minimum(a, b) * n + np.maximum(a, b)))
            if self.parent_index:
                np.save(out / f"parent-{shard}.npy", self._parent_pairs(shard, rows))
        keys = sorted_unique(np.concatenate(near_keys))
        self.stat_update("candidate_pairs", value=len(keys))
        verified = verify_keys(parts, offsets, n, keys, self.config.threshold)
        self.stat_update("verified_pairs", value=len(verified))
        np.save(out / f"verified-{rank:05d}.npy", verified)
        return
        yield

    def _parent_pairs(self, shard: str, rows: np.ndarray) -> np.ndarray:
        released = np.load(Path(self.parent_index) / "buckets" / f"{shard}.npy")
        if not len(released) or not len(rows):
            return np.empty((0, 2), np.uint64)
        first = np.searchsorted(released[:, 0], rows[:, 0], side="left")
        found = []
        for k in range(PARENT_CANDIDATES):
            j = np.minimum(first + k, len(released) - 1)
            hit = (first + k < len(released)) & (released[j, 0] == rows[:, 0])
            found.append(np.stack([rows[hit, 1], released[j[hit], 1]], axis=1))
        return np.concatenate(found)


class Parts:
    """Per-part files (a task's fingerprints, or an index part) read a few rows at a time: signatures are
    memory-mapped and only the rows asked for are copied."""

    def __init__(self, folder: Path, names: dict[int, str]):
        self.folder, self.names = folder, names
        # one mapping per part for the life of the task: verifying pairs goes part pair by part pair, and with T
        # read tasks there are up to T x T pairs; opening the files for each made bucket tasks grow as T squared
        self._mapped: dict[int, np.ndarray] = {}

    def sigs(self, part: int, rows: np.ndarray) -> np.ndarray:
        mapped = self._mapped.get(part)
        if mapped is None:
            mapped = self._mapped[part] = np.load(self.folder / f"{self.names[part]}.sigs.npy", mmap_mode="r")
        return np.array(mapped[rows])

    def docs(self, part: int, fields: tuple[str, ...], rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
        with np.load(self.folder / f"{self.names[part]}.docs.npz") as z:
            return {f: (z[f] if rows is None else z[f][rows]) for f in fields}

    def similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Estimated Jaccard of ref pairs, read part pair by part pair."""
        return similarity(self, a, self, b)

    def lookup(self, refs: np.ndarray, fields: tuple[str, ...]) -> dict[str, np.ndarray]:
        """`fields` of the documents `refs` points to, in the order given."""
        part, row = unpack(refs)
        out = {f: np.empty(len(refs), dtype=object) for f in fields}
        for p in np.unique(part).tolist():
            sel = np.flatnonzero(part == p)
            got = self.docs(p, fields, row[sel])
            for f in fields:
                out[f][sel] = got[f]
        return out


def similarity(left: Parts, a: np.ndarray, right: Parts, b: np.ndarray) -> np.ndarray:
    """Estimated Jaccard of ref pairs (a[i] in `left`, b[i] in `right`), read part pair by part pair."""
    (pa_, ra), (pb, rb) = unpack(a), unpack(b)
    est = np.zeros(len(a))
    key = pa_ * (1 << 24) + pb
    for k in np.unique(key).tolist():
        group = np.flatnonzero(key == k)
        for start in range(0, len(group), SIGNATURE_ROWS_AT_ONCE):
            sel = group[start:start + SIGNATURE_ROWS_AT_ONCE]
            est[sel] = estimate_similarity(left.sigs(k >> 24, ra[sel]), right.sigs(k & ((1 << 24) - 1), rb[sel]))
    return est


def part_offsets(parts: "Parts", names: dict[int, str]) -> tuple[np.ndarray, int]:
    """Where each part's rows start in one global numbering of this run's documents, and how many there are."""
    counts = {p: len(parts.docs(p, ("exact",))["exact"]) for p in names}
    offsets = np.zeros(max(names, default=-1) + 2, dtype=np.int64)
    for p in sorted(counts):
        offsets[p + 1:] += counts[p]
    return offsets, int(sum(counts.values()))


def to_global(offsets: np.ndarray, refs: np.ndarray) -> np.ndarray:
    part, row = unpack(refs)
    return offsets[part] + row


def to_ref(offsets: np.ndarray, rows: np.ndarray) -> np.ndarray:
    part = np.searchsorted(offsets, rows, side="right") - 1
    return (part.astype(np.uint64) << PART_SHIFT) | (rows - offsets[part]).astype(np.uint64)


def verify_keys(parts: "Parts", offsets: np.ndarray, n: int, keys: np.ndarray, threshold: float) -> np.ndarray:
    """The candidate pair keys (low * n + high, sorted, unique) whose estimated Jaccard reaches `threshold`,
    verified a slice at a time from memory-mapped signatures."""
    kept = [np.empty(0, np.int64)]
    for start in range(0, len(keys), PAIRS_AT_ONCE):
        chunk = keys[start:start + PAIRS_AT_ONCE]
        ok = parts.similarity(to_ref(offsets, chunk // n), to_ref(offsets, chunk % n)) >= threshold
        kept.append(chunk[ok])
    return np.concatenate(kept)
