"""Where rows live: a document is a (part, row) reference packed into one integer; band and hash-range shard names;
sorted runs of (hash, reference) rows and their merging."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from filters.config import DedupConfig


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


def task_parts(sig_dir: Path) -> dict[int, str]:
    return {int(f.name.split(".")[0]): f.name.split(".")[0] for f in sorted(sig_dir.glob("*.docs.npz"))}
