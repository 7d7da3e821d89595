"""Stage 2 (`LshBuckets`, tasks over band shards): documents sharing a band hash become candidate pairs, verified
from the signature files, the rows asked for only (`Parts`)."""

from __future__ import annotations

import mmap
import os
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
    connect the bucket). Near candidates are verified here, in parallel (estimated Jaccard >= threshold from the
    signature rows read from the parts' files; a pair found in several of the task's bands once), and only verified
    pairs are written for the clusters task; exact-hash pairs need no verification. With a parent release index, new documents sharing
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
    """Per-part files (a task's fingerprints, or an index part) read a few rows at a time: only the signature rows
    asked for are copied (`SignatureFile`, a window of the file mapped at a time), so a bucket task that verifies
    pairs all over a part no longer grows towards the part's size (1 KB a document; issue 41)."""

    def __init__(self, folder: Path, names: dict[int, str]):
        self.folder, self.names = folder, names
        # one open file per part for the life of the task: verifying pairs goes part pair by part pair, and with T
        # read tasks there are up to T x T pairs; opening the files for each made bucket tasks grow as T squared
        self._open: dict[int, SignatureFile] = {}

    def _file(self, part: int) -> "SignatureFile":
        f = self._open.get(part)
        if f is None:
            f = self._open[part] = SignatureFile(self.folder / f"{self.names[part]}.sigs.npy")
        return f

    def sigs(self, part: int, rows: np.ndarray) -> np.ndarray:
        return self._file(part).read_rows(rows)

    def rows(self, part: int) -> int:
        """The part's documents: the rows of its signature file, one a document as its docs.npz has (both are written
        a batch of documents at a time), read from the file's header."""
        return self._file(part).rows

    def close(self) -> None:
        for f in self._open.values():
            f.close()
        self._open.clear()

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


class SignatureFile:
    """An .npy file of signature rows, read by row number a window at a time: each window (at most WINDOW_BYTES of
    the file) is memory-mapped only while its rows are copied out, then unmapped. A map of the whole file kept for the
    task's life (as before) let its touched pages count as the process's resident memory until the task ended, and
    with the page cache's large folios a few touches map megabytes: a bucket task verifying pairs all over a part of
    1M documents held ~1 GB. Positioned reads (one `os.preadv` a row) bound it too but cost 3-4x the time."""

    WINDOW_BYTES = 32 << 20

    def __init__(self, path: Path):
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            shape, fortran, dtype = (np.lib.format.read_array_header_1_0(f) if version == (1, 0)
                                     else np.lib.format.read_array_header_2_0(f))
            self.offset = f.tell()
        if fortran or len(shape) != 2:
            raise ValueError(f"{path}: not a C-ordered 2-d array")
        self.path, self.rows, self.columns, self.dtype = path, shape[0], shape[1], dtype
        self.row_bytes = self.columns * dtype.itemsize
        self.fd = os.open(path, os.O_RDONLY)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __del__(self):
        self.close()

    def read_rows(self, rows: np.ndarray) -> np.ndarray:
        """The rows `rows` (any order, repeats allowed) as a (len(rows), columns) array."""
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return np.empty((0, self.columns), self.dtype)
        if rows.min() < 0 or rows.max() >= self.rows:
            raise IndexError(f"{self.path}: row out of range 0-{self.rows - 1}")
        wanted, back = np.unique(rows, return_inverse=True)
        out = np.empty((len(wanted), self.columns), self.dtype)
        window = wanted // max(1, self.WINDOW_BYTES // self.row_bytes)
        cut = (np.flatnonzero(np.diff(window)) + 1).tolist()
        for lo, hi in zip([0, *cut], [*cut, len(wanted)]):
            first, last = int(wanted[lo]), int(wanted[hi - 1])
            start = self.offset + first * self.row_bytes
            aligned = start - start % mmap.ALLOCATIONGRANULARITY
            with mmap.mmap(self.fd, start - aligned + (last + 1 - first) * self.row_bytes, access=mmap.ACCESS_READ,
                           offset=aligned) as mapped:
                part = np.frombuffer(mapped, dtype=self.dtype, count=(last + 1 - first) * self.columns, offset=start - aligned)
                out[lo:hi] = part.reshape(-1, self.columns)[wanted[lo:hi] - first]
                del part  # the map closes only once no array looks at it
        return out[back.reshape(-1)]


def similarity(left: Parts, a: np.ndarray, right: Parts, b: np.ndarray) -> np.ndarray:
    """Estimated Jaccard of ref pairs (a[i] in `left`, b[i] in `right`), SIGNATURE_ROWS_AT_ONCE pairs at a time: each
    side's rows of a slice are read part by part (`gather`), one read a part. (Reading them part pair by part pair
    made a read per pair of parts: with T read tasks up to T x T reads of a few rows each, most of the bucket stage's
    time at 64 tasks.) The same estimates: each pair's two rows are compared alone."""
    est = np.zeros(len(a))
    for start in range(0, len(a), SIGNATURE_ROWS_AT_ONCE):
        end = start + SIGNATURE_ROWS_AT_ONCE
        est[start:end] = estimate_similarity(gather(left, a[start:end]), gather(right, b[start:end]))
    return est


def gather(parts: "Parts", refs: np.ndarray) -> np.ndarray:
    """The signature rows `refs` point to, in the order given: one read of each part they name."""
    part, row = unpack(refs)
    order = np.argsort(part, kind="stable")
    cuts = np.flatnonzero(np.diff(part[order])) + 1
    out = None
    for sel in np.split(order, cuts) if len(order) else []:
        rows = parts.sigs(int(part[sel[0]]), row[sel])
        if out is None:
            out = np.empty((len(refs), rows.shape[1]), rows.dtype)
        out[sel] = rows
    return out if out is not None else np.empty((0, 0), np.uint32)


def part_offsets(parts: "Parts", names: dict[int, str]) -> tuple[np.ndarray, int]:
    """Where each part's rows start in one global numbering of this run's documents, and how many there are. (Counted
    from the signature files' headers, which the task keeps open to verify pairs: each task opening every part's
    docs.npz for its length was T x T archive opens over the stage.)"""
    counts = {p: parts.rows(p) for p in names}
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
    verified a slice at a time from the signature rows they name."""
    kept = [np.empty(0, np.int64)]
    for start in range(0, len(keys), PAIRS_AT_ONCE):
        chunk = keys[start:start + PAIRS_AT_ONCE]
        ok = parts.similarity(to_ref(offsets, chunk // n), to_ref(offsets, chunk % n)) >= threshold
        kept.append(chunk[ok])
    return np.concatenate(kept)
