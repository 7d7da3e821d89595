"""Exact and MinHash near-duplicate removal across sources, as datatrove-style stages:

1. `DedupSignatures`  (every task)   fingerprint each document, save signatures per task;
2. `LshBuckets`       (tasks over band shards) documents sharing a band hash become candidate pairs, verified there;
3. `DedupClusters`    (one task)     join verified pairs into clusters, choose survivors, check the parent release;
4. `DedupShardFilter` (every task)   copy the staged shards into the release without the documents chosen for removal.

Survivor of a cluster: the first by source priority (config order), then the higher `survivor_score` annotation
(`quality_score`, or the quality model's `quality_model_score`) when present, then the earliest date, then the
smallest id. Removed id -> kept id with the similarity estimate is written to `dedup/clusters.parquet` in the
release; the release's signature index `dedup/index/` (this release plus its parent's) lets a later run dedup
against it without recomputing old signatures.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.batching import batched

from filters.base import ANNOTATIONS
from filters.config import DedupConfig
from filters.fingerprint import TextFingerprint, _splitmix64, estimate_similarity

BATCH = 256


def source_ranks(config: DedupConfig, source_names: list[str]) -> dict[str, int]:
    order = list(config.source_priority) + [s for s in source_names if s not in config.source_priority]
    return {name: i for i, name in enumerate(order)}


# A document is referred to by (part, row): the task that fingerprinted it (or an index part) and its row there,
# packed into one integer, so no stage needs a corpus-wide table of ids to talk about documents.
PART_SHIFT = np.uint64(40)
ROW_MASK = np.uint64((1 << 40) - 1)
EXACT_BAND = "exact"
PARENT_CANDIDATES = 4  # parent documents checked per shared bucket, per new document


def pack(part: int, rows: np.ndarray) -> np.ndarray:
    return (np.uint64(part) << PART_SHIFT) | rows.astype(np.uint64)


def unpack(refs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    refs = refs.astype(np.uint64)
    return (refs >> PART_SHIFT).astype(np.int64), (refs & ROW_MASK).astype(np.int64)


def band_names(config: DedupConfig) -> list[str]:
    """The buckets a document is filed under: one per LSH band (near) and its exact hash (exact)."""
    return ([f"b{b:03d}" for b in range(config.bands)] if config.near else []) + ([EXACT_BAND] if config.exact else [])


def shard_names(config: DedupConfig) -> list[str]:
    return [f"{band}-r{r:03d}" for band in band_names(config) for r in range(config.hash_ranges)]


CHUNK_ROWS = 65_536  # signature rows read at a time (64 MiB at 256 permutations)
SIGNATURE_ROWS_AT_ONCE = 32_768  # pairs whose two signatures are compared at once (2 x 32 MiB)
PAIRS_AT_ONCE = 1 << 20  # candidate pairs verified per slice


def bucket_entries(config: DedupConfig, band: str, h: np.ndarray, refs: np.ndarray) -> dict[str, np.ndarray]:
    """(hash, ref) rows of one band split by hash range, each sorted: the runs an LSH task merges."""
    ranges = (h % np.uint64(config.hash_ranges)).astype(np.int64)
    out = {}
    for r in range(config.hash_ranges):
        sel = ranges == r
        rows = np.stack([h[sel], refs[sel]], axis=1) if sel.any() else np.empty((0, 2), np.uint64)
        out[f"{band}-r{r:03d}"] = rows[np.lexsort((rows[:, 1], rows[:, 0]))]
    return out


def band_hash_columns(sig_file: Path, config: DedupConfig, rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Every LSH band's hash for the signatures in `sig_file` (only `rows` when given), read a chunk of rows at a
    time and unmapped after each, so a task's signatures are never all resident at once."""
    bands = [b for b in band_names(config) if b != EXACT_BAND]
    mapped = np.load(sig_file, mmap_mode="r")
    total = len(mapped)
    del mapped
    wanted = np.arange(total) if rows is None else rows
    out: list[np.ndarray] = []
    for start in range(0, len(wanted), CHUNK_ROWS):
        mapped = np.load(sig_file, mmap_mode="r")
        chunk = np.array(mapped[wanted[start:start + CHUNK_ROWS]])
        del mapped
        out.append(every_band_hash(chunk, len(bands), config.rows))
    return _band_columns(bands, out)


def save_bucket_runs(folder: Path, name: str, config: DedupConfig, sig_file: Path | None, exact: np.ndarray, refs: np.ndarray,
                     rows: np.ndarray | None = None, hashes: dict[str, np.ndarray] | None = None) -> None:
    """`folder/<band>-r<range>/<name>.npy` for every band and hash range: this part's sorted run of that shard. The
    band hashes are given (computed while the signatures streamed past) or read back from `sig_file`."""
    if hashes is None:
        hashes = band_hash_columns(sig_file, config, rows) if config.near else {}
    if config.exact:
        hashes[EXACT_BAND] = exact.astype(np.uint64)
    for band in band_names(config):
        for shard, entries in bucket_entries(config, band, hashes.pop(band), refs).items():
            (folder / shard).mkdir(parents=True, exist_ok=True)
            np.save(folder / shard / f"{name}.npy", entries)


NPY_HEADER_BYTES = 128  # a version 1.0 .npy header padded to a fixed size, so it can be rewritten in place


class NpyRowWriter:
    """Rows appended to an .npy file a batch at a time: a header with a placeholder row count first, the true count
    written over it on close. (Writing a raw file and copying it behind a header wrote every signature twice: 10 GB
    at 5M documents, past what the page cache absorbs before writes are throttled.)"""

    def __init__(self, path: Path, dtype, columns: int):
        self.path, self.dtype, self.columns, self.rows = path, np.dtype(dtype), columns, 0
        self.file = open(path, "wb")
        self.file.write(self._header())

    def _header(self) -> bytes:
        d = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (self.rows, self.columns)}
        body = repr(d).encode("latin1")
        size = NPY_HEADER_BYTES - 10  # magic (6), version (2), header length (2)
        if len(body) + 1 > size:
            raise ValueError(f"{self.path}: .npy header of {len(body)} bytes does not fit {size}")
        return b"\x93NUMPY\x01\x00" + size.to_bytes(2, "little") + body + b" " * (size - len(body) - 1) + b"\n"

    def write(self, rows: np.ndarray) -> None:
        self.file.write(np.ascontiguousarray(rows, dtype=self.dtype).tobytes())
        self.rows += len(rows)

    def close(self) -> None:
        self.file.seek(0)
        self.file.write(self._header())
        self.file.close()


def merge_runs(runs: list[np.ndarray]) -> np.ndarray:
    """Sorted (hash, ref) runs, given in ascending part order, merged into one array sorted by (hash, ref). Refs of a
    later part are larger, so a stable sort on the hash alone gives that order, and timsort merges the presorted
    runs in about linear time (a lexsort of the concatenation sorts from scratch, ~9x slower)."""
    rows = np.concatenate(runs) if runs else np.empty((0, 2), np.uint64)
    return rows[np.argsort(rows[:, 0], kind="stable")] if len(runs) > 1 else rows


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique by sorting in place: NumPy 2's hash-based unique is ~7x slower on tens of millions of int64 keys."""
    values.sort()
    return values[np.concatenate(([True], values[1:] != values[:-1]))] if len(values) else values


def sorted_runs(files: list[Path]) -> np.ndarray:
    """The sorted runs of one shard (a band's hash range), files named by part, merged."""
    return merge_runs([np.load(f) for f in files])


def every_band_hash(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(documents, bands) array of `band_hashes` for every band at once: the same mixing, one array operation per
    row of the band instead of one per band and row (a batch of 256 documents made the per-band loop ~1,600 calls)."""
    cols = sigs[:, :bands * rows].reshape(len(sigs), bands, rows).astype(np.uint64)
    h = np.zeros((len(sigs), bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for r in range(rows):
            h = _splitmix64(h ^ cols[:, :, r])
    return h


def band_hashes(sigs: np.ndarray, band: int, rows: int) -> np.ndarray:
    """One band's hashes (`every_band_hash` of that band's columns)."""
    return every_band_hash(sigs[:, band * rows:(band + 1) * rows], 1, rows)[:, 0]


class DedupSignatures(PipelineStep):
    """Passes documents through unchanged. Per task it saves the documents' signatures (`<task>.sigs.npy`), what
    survivor choice needs (`<task>.docs.npz`: id, exact hash, source rank, quality, date, source) and, per LSH band
    and hash range, the sorted (band hash, document) rows (`buckets/<band>-r<range>/<task>.npy`)."""

    name = "dedup signatures"
    type = "🫂 - DEDUP"

    def __init__(self, config: DedupConfig, directory: str, ranks: dict[str, int]):
        super().__init__()
        self.config = config
        self.directory = directory
        self.ranks = ranks
        self.fingerprint = TextFingerprint(config.ngram, config.num_perm, config.seed)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        folder = Path(self.directory)
        folder.mkdir(parents=True, exist_ok=True)
        ids, exact, meta = [], [], []
        bands = [b for b in band_names(self.config) if b != EXACT_BAND]
        hashes: list[np.ndarray] = []  # 8 bytes per band and document
        # signatures go to disk a batch at a time, never held for the whole task; their band hashes are taken on the
        # way, so the bucket runs need not read the signatures back
        sig_out = NpyRowWriter(folder / f"{rank:05d}.sigs.npy", np.uint32, self.config.num_perm)
        try:
            for batch in batched(data or [], BATCH):  # signatures are computed a batch at a time, vectorized
                with self.track_time():
                    s, e = self.fingerprint.signatures([d.text for d in batch])
                    if bands:
                        hashes.append(every_band_hash(s, len(bands), self.config.rows))
                sig_out.write(s)
                exact.append(e)
                for d in batch:
                    ids.append(d.id)
                    ann = d.metadata.get(ANNOTATIONS, {})
                    meta.append((self.ranks.get(d.metadata.get("source"), len(self.ranks)), -float(ann.get(self.config.survivor_score, 0.0)),
                                 d.metadata.get("date") or "~", d.metadata.get("source") or ""))
                self.stat_update("documents", value=len(batch))
                yield from batch
        finally:
            sig_out.close()
        save_task_fingerprints(folder, rank, self.config, ids=np.array(ids, dtype=str),
                               sigs=None, exact=np.concatenate(exact) if exact else np.empty(0, np.uint64),
                               priority=np.array([m[0] for m in meta], dtype=np.int64), quality=np.array([m[1] for m in meta]),
                               date=np.array([m[2] for m in meta], dtype=str), source=np.array([m[3] for m in meta], dtype=str),
                               band_hashes=_band_columns(bands, hashes))


def _band_columns(bands: list[str], batches: list[np.ndarray]) -> dict[str, np.ndarray]:
    table = np.concatenate(batches) if batches else np.empty((0, len(bands)), np.uint64)
    return {b: np.ascontiguousarray(table[:, i]) for i, b in enumerate(bands)}


def save_task_fingerprints(folder: Path, rank: int, config: DedupConfig, *, ids: np.ndarray, sigs: np.ndarray | None,
                           exact: np.ndarray, priority: np.ndarray, quality: np.ndarray, date: np.ndarray, source: np.ndarray,
                           band_hashes: dict[str, np.ndarray] | None = None) -> None:
    """One task's files: signatures (written here unless `sigs` is None: already on disk), survivor-choice fields,
    and its sorted run of every (band, hash range) shard (from `band_hashes` when given, else read from the signatures)."""
    folder.mkdir(parents=True, exist_ok=True)
    if sigs is not None:
        np.save(folder / f"{rank:05d}.sigs.npy", sigs)
    np.savez(folder / f"{rank:05d}.docs.npz", ids=ids, exact=exact, priority=priority, quality=quality, date=date, source=source)
    save_bucket_runs(folder / "buckets", f"{rank:05d}", config, folder / f"{rank:05d}.sigs.npy", exact, pack(rank, np.arange(len(ids))),
                     hashes=None if band_hashes is None else dict(band_hashes))


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


def components(n: int, edges: np.ndarray) -> np.ndarray:
    """Connected components over `edges` (global row pairs), vectorized: every node ends labelled with the
    smallest row of its component (min-label propagation with pointer jumping)."""
    labels = np.arange(n, dtype=np.int64)
    if not len(edges):
        return labels
    a, b = edges[:, 0], edges[:, 1]
    while True:
        low = np.minimum(labels[a], labels[b])
        np.minimum.at(labels, a, low)
        np.minimum.at(labels, b, low)
        while True:
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
        if np.array_equal(labels[a], labels[b]):
            return labels


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


def task_parts(sig_dir: Path) -> dict[int, str]:
    return {int(f.name.split(".")[0]): f.name.split(".")[0] for f in sorted(sig_dir.glob("*.docs.npz"))}


CLUSTERS_SCHEMA = pa.schema([("removed_id", pa.string()), ("kept_id", pa.string()), ("removed_source", pa.string()),
                             ("kept_source", pa.string()), ("reason", pa.string()), ("similarity", pa.float64())])


class DedupClusters(PipelineStep):
    """Joins exact pairs and the LSH tasks' verified near pairs into connected components, keeps one survivor per component, removes new documents that duplicate the parent release, and
    writes `removed.parquet` (work), `clusters.parquet` and the release's sharded signature index `index/`.
    Only arrays of one integer per document are corpus-sized (component labels); ids, dates and signatures are read
    for the documents in multi-member components and candidate pairs only."""

    name = "dedup clusters"
    type = "🫂 - DEDUP"

    def __init__(self, config: DedupConfig, sig_dir: str, pair_dir: str, out_dir: str, removed_path: str,
                 parent_index: str | None = None):
        super().__init__()
        self.config, self.sig_dir, self.pair_dir = config, sig_dir, pair_dir
        self.out_dir, self.removed_path, self.parent_index = out_dir, removed_path, parent_index

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        cfg, sig_dir, pair_dir = self.config, Path(self.sig_dir), Path(self.pair_dir)
        names = task_parts(sig_dir)
        parts = Parts(sig_dir, names)
        offsets, n = part_offsets(parts, names)
        edges = [np.empty((0, 2), np.int64)]
        if cfg.exact:
            exact_pairs = [np.load(f) for f in sorted(pair_dir.glob(f"{EXACT_BAND}-*.npy"))]
            edges += [np.stack([to_global(offsets, p[:, 0]), to_global(offsets, p[:, 1])], axis=1) for p in exact_pairs if len(p)]
        if cfg.near:  # verified by the LSH tasks; a pair verified by several tasks counts once
            keys = [np.load(f) for f in sorted(pair_dir.glob("verified-*.npy"))]
            keys = sorted_unique(np.concatenate(keys)) if keys else np.empty(0, np.int64)
            self.stat_update("verified_pairs", value=len(keys))
            edges.append(np.stack([keys // n, keys % n], axis=1))
            del keys
        labels = components(n, np.concatenate(edges))
        within = self._clusters(labels, offsets, names, parts)
        del labels
        released = self._against_parent(parts, offsets, set(within.column("removed_id").to_pylist()))
        table = pa.concat_tables([within, released]).sort_by("removed_id")
        self.stat_update("removed", value=table.num_rows)
        out = Path(self.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, out / "clusters.parquet")
        pq.write_table(table.select(["removed_id", "reason"]), self.removed_path)
        # the bucket shards follow in the dedup filter stage, in parallel (IndexBuckets)
        write_index_parts(out / "index", self.config, sig_dir, names, set(table.column("removed_id").to_pylist()), self.parent_index)
        return
        yield

    def _clusters(self, labels: np.ndarray, offsets: np.ndarray, names: dict[int, str], parts: Parts) -> pa.Table:
        """Survivor per multi-member component: smallest (source priority, -quality, date, id)."""
        sizes = np.bincount(labels, minlength=len(labels))
        members = np.flatnonzero(sizes[labels] > 1)
        del sizes
        if not len(members):
            return CLUSTERS_SCHEMA.empty_table()
        fields = ("ids", "exact", "priority", "quality", "date", "source")
        meta: dict[str, list] = {f: [] for f in fields}
        refs = []
        for p in sorted(names):
            mine = members[(members >= offsets[p]) & (members < offsets[p + 1])]
            got = parts.docs(p, fields, mine - offsets[p])
            for f in fields:
                meta[f].append(got[f])
            refs.append(pack(p, mine - offsets[p]))
        m = {f: np.concatenate(v) for f, v in meta.items()}
        refs, comp = np.concatenate(refs), labels[members]
        order = np.lexsort((m["ids"], m["date"], m["quality"], m["priority"], comp))
        first = np.ones(len(order), dtype=bool)
        first[1:] = comp[order][1:] != comp[order][:-1]
        survivor_of = dict(zip(comp[order][first].tolist(), order[first].tolist()))
        removed = order[~first]
        kept = np.array([survivor_of[int(c)] for c in comp[removed]], dtype=np.int64)
        sim = parts.similarity(refs[removed], refs[kept]) if len(removed) else np.empty(0)
        exact = m["exact"][removed] == m["exact"][kept]
        return pa.table({"removed_id": pa.array(m["ids"][removed].tolist(), pa.string()),
                         "kept_id": pa.array(m["ids"][kept].tolist(), pa.string()),
                         "removed_source": pa.array(m["source"][removed].tolist(), pa.string()),
                         "kept_source": pa.array(m["source"][kept].tolist(), pa.string()),
                         "reason": pa.array(np.where(exact, "exact_duplicate", "near_duplicate").tolist(), pa.string()),
                         "similarity": pa.array(np.where(exact, 1.0, sim), pa.float64())}, schema=CLUSTERS_SCHEMA)

    def _against_parent(self, parts: Parts, offsets: np.ndarray, removed: set[str]) -> pa.Table:
        """New documents that share a bucket with a released one: exact hash shared, or estimated Jaccard >=
        threshold; the parent's signatures are read for those candidates only."""
        if not self.parent_index:
            return CLUSTERS_SCHEMA.empty_table()
        cfg, pair_dir = self.config, Path(self.pair_dir)
        parent = Parts(Path(self.parent_index) / "parts", index_parts(Path(self.parent_index)))
        found: dict[int, tuple[float, int]] = {}  # new ref -> (similarity, parent ref)
        exact = [np.load(f) for f in sorted(pair_dir.glob(f"parent-{EXACT_BAND}-*.npy"))]
        for p in exact:
            for new, old in p.tolist():
                found.setdefault(new, (1.0, old))
        near = [np.load(f) for f in sorted(pair_dir.glob("parent-b*.npy"))]
        near = np.unique(np.concatenate(near), axis=0) if near else np.empty((0, 2), np.uint64)
        if len(near):
            near = near[~np.isin(near[:, 0], np.array(list(found), dtype=np.uint64))]
            est = similarity(parts, near[:, 0], parent, near[:, 1])
            for (new, old), s in zip(near[est >= cfg.threshold].tolist(), est[est >= cfg.threshold].tolist()):
                if s > found.get(new, (0.0, 0))[0]:
                    found[new] = (s, old)
        if not found:
            return CLUSTERS_SCHEMA.empty_table()
        items = sorted(found.items())
        new = parts.lookup(np.array([k for k, _ in items], dtype=np.uint64), ("ids", "source"))
        old = parent.lookup(np.array([v[1] for _, v in items], dtype=np.uint64), ("ids",))
        return pa.Table.from_pylist(
            [{"removed_id": str(doc_id), "kept_id": str(kept_id), "removed_source": str(source), "kept_source": "(parent release)",
              "reason": "released_duplicate", "similarity": float(sim)}
             for (_, (sim, _)), doc_id, source, kept_id in zip(items, new["ids"], new["source"], old["ids"])
             if str(doc_id) not in removed], schema=CLUSTERS_SCHEMA)


# -- the release's signature index ------------------------------------------------------------------------------
# dedup/index/params.json                  fingerprint and banding parameters (a later run must use the same)
# dedup/index/parts/<part>.sigs.npy        signatures of one part (a task of one release), memory-mapped on read
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
    everything before it), in one task: parts, then every bucket shard."""
    write_index_parts(out, config, sig_dir, names, removed, parent)
    write_index_buckets(out, config, sig_dir, names, parent, shard_names(config))


def index_base(parent: str | None) -> int:
    """The first index part number of this run: after the parent's parts."""
    return max(index_parts(Path(parent)), default=-1) + 1 if parent else 0


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
    for task, name in sorted(names.items()):
        part = base + task
        with np.load(sig_dir / f"{name}.docs.npz") as z:
            ids, exact = z["ids"], z["exact"]
        live = ~np.isin(ids.astype(str), removed_ids)
        np.savez(out / "parts" / f"{part:05d}.docs.npz", ids=ids, exact=exact, live=live)
        _link_or_copy(sig_dir / f"{name}.sigs.npy", out / "parts" / f"{part:05d}.sigs.npy")


def write_index_buckets(out: Path, config: DedupConfig, sig_dir: Path, names: dict[int, str], parent: str | None,
                        shards: list[str]) -> None:
    """The bucket shards `shards` of the index: the parent's rows plus the fingerprinting tasks' own sorted runs,
    minus removed documents and renumbered to index parts (no re-hashing). Shards are independent, so the dedup
    filter stage's tasks write them in parallel (`IndexBuckets`); `write_index_parts` must have run."""
    base = index_base(parent)
    live_of = {}
    for task in names:
        with np.load(out / "parts" / f"{base + task:05d}.docs.npz") as z:
            live_of[task] = z["live"]
    runs = out / "runs"  # only for signatures without bucket runs (a converted legacy index)
    if not (sig_dir / "buckets").is_dir():
        for task in sorted(names):
            part, rows = base + task, np.flatnonzero(live_of[task])
            with np.load(out / "parts" / f"{part:05d}.docs.npz") as z:
                exact = z["exact"]
            save_bucket_runs(runs, f"{part:05d}", config, out / "parts" / f"{part:05d}.sigs.npy", exact[rows], pack(part, rows), rows)
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
    import shutil

    shutil.rmtree(runs, ignore_errors=True)


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


def staged_row_document(row: dict) -> Document:
    """A row of a staged (stage 1) Parquet shard as the Document the shard writer was given."""
    import orjson

    meta = orjson.loads(row.pop("metadata") or "{}")
    meta[ANNOTATIONS] = orjson.loads(row.pop("annotations") or "{}")
    text, doc_id = row.pop("text"), row.pop("id")
    meta.update({k: v for k, v in row.items() if v is not None})
    return Document(text=text, id=doc_id, metadata=meta)


class DedupShardFilter(PipelineStep):
    """The last dedup stage. Copies each staged shard of stage 1 (`<source>/<task>.parquet`, tokens already counted)
    into the release without the documents `DedupClusters` chose for removal, a record batch at a time in Arrow:
    kept rows are never turned into Documents or re-encoded, so the stage costs a Parquet read and write, not a
    pass of Python over the corpus. Removed documents go to the exclusion writer (`rejects/dedup/`) with
    `filter_reason` `dedup:<reason>` (`exact_duplicate`, `near_duplicate`, `released_duplicate`), like every
    filter's drops. Counts `total`, `forwarded`, `dropped_<reason>` and per source, as a filter step does."""

    name = "dedup"
    type = "🫂 - DEDUP"

    def __init__(self, staged_dir: str, removed_path: str, out_dir: str, exclusion_writer=None, batch_rows: int = 8192):
        super().__init__()
        self.staged_dir, self.removed_path, self.out_dir = staged_dir, removed_path, out_dir
        self.exclusion_writer, self.batch_rows = exclusion_writer, batch_rows

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        import contextlib

        import pyarrow.compute as pc

        removed = pq.read_table(self.removed_path, columns=["removed_id", "reason"])
        removed_ids, reasons = removed.column("removed_id").combine_chunks(), removed.column("reason").to_numpy(zero_copy_only=False)
        staged = Path(self.staged_dir)
        with self.exclusion_writer if self.exclusion_writer else contextlib.nullcontext() as rejects:
            for f in sorted(staged.rglob("*.parquet"))[rank::world_size]:
                out = Path(self.out_dir) / f.relative_to(staged)
                out.parent.mkdir(parents=True, exist_ok=True)
                partial = out.with_suffix(".parquet.partial")
                source_file = pq.ParquetFile(f)
                kept_rows, start = 0, 0
                # one lookup per file: index_in builds a hash table of the removed ids on every call
                where_all = pc.index_in(pq.read_table(f, columns=["id"]).column("id"), value_set=removed_ids).combine_chunks()
                with pq.ParquetWriter(partial, source_file.schema_arrow) as writer:
                    for batch in source_file.iter_batches(batch_size=self.batch_rows):
                        where = where_all.slice(start, batch.num_rows)
                        start += batch.num_rows
                        gone = pc.is_valid(where)
                        kept = batch.filter(pc.invert(gone))
                        writer.write_batch(kept)
                        kept_rows += kept.num_rows
                        self._count(batch, gone, where, reasons)
                        if rejects is not None and kept.num_rows < batch.num_rows:
                            dropped = batch.filter(gone)
                            why = reasons[pc.drop_null(where).to_numpy()]
                            for row, reason in zip(dropped.to_pylist(), why.tolist()):
                                doc = staged_row_document(row)
                                doc.metadata["filter_reason"] = f"{self.name}:{reason}"
                                rejects.write(doc, rank)
                if kept_rows:
                    partial.replace(out)
                else:
                    partial.unlink()
        return
        yield

    def _count(self, batch: pa.RecordBatch, gone: pa.Array, where: pa.Array, reasons: np.ndarray) -> None:
        import pyarrow.compute as pc

        sources = batch.column("source").fill_null("unknown").to_numpy(zero_copy_only=False)
        chars = pc.utf8_length(batch.column("text")).fill_null(0).to_numpy(zero_copy_only=False)
        is_gone = gone.to_numpy(zero_copy_only=False)
        why = np.full(len(sources), "", dtype=object)
        why[is_gone] = reasons[pc.drop_null(where).to_numpy()]
        self.stat_update("total", value=len(sources))
        self.stat_update("forwarded", value=int((~is_gone).sum()))
        if is_gone.any():
            self.stat_update("dropped", value=int(is_gone.sum()))
        for source in np.unique(sources).tolist():
            mine = sources == source
            self.stat_update(f"source:{source}/in", value=int(mine.sum()))
            kept = mine & ~is_gone
            if kept.any():
                self.stat_update(f"source:{source}/kept", value=int(kept.sum()))
                self.stat_update(f"source:{source}/chars_kept", value=int(chars[kept].sum()))
            for reason in np.unique(why[mine & is_gone]).tolist():
                sel = mine & is_gone & (why == reason)
                self.stat_update(f"dropped_{reason}", value=int(sel.sum()))
                self.stat_update(f"source:{source}/dropped_{reason}", value=int(sel.sum()))
                self.stat_update(f"source:{source}/chars_dropped_{reason}", value=int(chars[sel].sum()))
