"""Stage 1 of dedup (`DedupSignatures`, every task): fingerprint documents and save their signatures and sorted
bucket runs per task."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from filters.base import ANNOTATIONS
from filters.config import DedupConfig
from filters.fingerprint import TextFingerprint, _splitmix64
from filters.dedup.shards import CHUNK_ROWS, EXACT_BAND, band_names, pack
from filters.dedup.spool import TaskSpool


BATCH = 256
BATCH_CHARS = 1 << 20  # characters a fingerprint batch holds at most (a longer document is a batch of its own)


def source_ranks(config: DedupConfig, source_names: list[str]) -> dict[str, int]:
    order = list(config.source_priority) + [s for s in source_names if s not in config.source_priority]
    return {name: i for i, name in enumerate(order)}


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
        save_band_runs(folder, name, config, band, hashes.pop(band), refs)


def save_band_runs(folder: Path, name: str, config: DedupConfig, band: str, h: np.ndarray, refs: np.ndarray) -> None:
    """`folder/<band>-r<range>/<name>.npy` for one band's hashes `h` of the documents `refs`."""
    for shard, entries in bucket_entries(config, band, h.astype(np.uint64, copy=False), refs).items():
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
        bands = [b for b in band_names(self.config) if b != EXACT_BAND]
        # nothing is kept in memory per document: signatures go to disk a batch at a time, and so do the ids,
        # survivor-choice fields and band hashes (spooled, written out at the end a chunk or a band at a time)
        spool = TaskSpool(folder / "spool" / f"{rank:05d}", bands)
        sig_out = NpyRowWriter(folder / f"{rank:05d}.sigs.npy", np.uint32, self.config.num_perm)
        try:
            for batch in batched_by_chars(data or [], BATCH, BATCH_CHARS):  # a batch at a time, vectorized
                with self.track_time():  # the step's time: fingerprints and what goes to disk (the run's costs)
                    s, e = self.fingerprint.signatures([d.text for d in batch])
                    h = every_band_hash(s, len(bands), self.config.rows) if bands else None
                    sig_out.write(s)
                    anns = [d.metadata.get(ANNOTATIONS, {}) for d in batch]
                    spool.add({"ids": [d.id for d in batch], "exact": e,
                               "priority": [self.ranks.get(d.metadata.get("source"), len(self.ranks)) for d in batch],
                               "quality": [-float(a.get(self.config.survivor_score, 0.0)) for a in anns],
                               "date": [d.metadata.get("date") or "~" for d in batch],
                               "source": [d.metadata.get("source") or "" for d in batch]}, h)
                self.stat_update("documents", value=len(batch))
                yield from batch
        finally:
            sig_out.close()
            spool.close()
        with self.track_time():
            spool.write_docs(folder / f"{rank:05d}.docs.npz")
            refs = pack(rank, np.arange(spool.count))
            for band in band_names(self.config):  # one band's hashes in memory at a time (8 bytes a document)
                save_band_runs(folder / "buckets", f"{rank:05d}", self.config, band,
                               spool.exact() if band == EXACT_BAND else spool.band(band), refs)
            spool.cleanup()


def batched_by_chars(data, size: int, max_chars: int):
    """Batches of at most `size` documents and, past the first document, at most `max_chars` characters: the
    vectorized fingerprint costs ~80 bytes a character of its batch, so a batch of long documents is cut short."""
    batch, chars = [], 0
    for doc in data:
        if batch and (len(batch) >= size or chars + len(doc.text) > max_chars):
            yield batch
            batch, chars = [], 0
        batch.append(doc)
        chars += len(doc.text)
    if batch:
        yield batch


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
