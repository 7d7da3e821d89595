"""What a fingerprinting task keeps per document, on disk instead of in memory (issue 41).

`DedupSignatures` used to hold, for every document it read, its id, survivor-choice fields and 32 band hashes in
Python lists until the end of the task, then copied them into arrays twice: about 1 KB a document (1M documents in one
task: 1.3 GB). `TaskSpool` appends each batch's values to files instead (one per field and one per LSH band) and at
the end writes the same `<task>.docs.npz` and bucket runs a chunk (or one band) at a time.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np

SPOOL_CHUNK = 1 << 16  # values converted at a time when the spooled fields are written out
BUFFER = 1 << 16  # write buffer per spool file (38 files a task with the default 32 bands)


class NumberSpool:
    """Values of one fixed dtype appended to a raw file."""

    def __init__(self, path: Path, dtype):
        self.path, self.dtype, self.count = path, np.dtype(dtype), 0
        self.file = open(path, "wb", buffering=BUFFER)

    def extend(self, values) -> None:
        a = np.ascontiguousarray(values, dtype=self.dtype)
        self.file.write(a.tobytes())
        self.count += len(a)

    def close(self) -> None:
        if not self.file.closed:
            self.file.close()

    def array(self) -> np.ndarray:
        """Everything spooled, as one array (for a band or the exact hashes: 8 bytes a document)."""
        self.close()
        return np.fromfile(self.path, dtype=self.dtype, count=self.count)

    def chunks(self):
        self.close()
        with open(self.path, "rb") as f:
            for start in range(0, self.count, SPOOL_CHUNK):
                n = min(SPOOL_CHUNK, self.count - start)
                yield np.frombuffer(f.read(n * self.dtype.itemsize), dtype=self.dtype, count=n)

    def npy_dtype(self) -> np.dtype:
        return self.dtype


class StringSpool:
    """Strings appended as UTF-8 with their byte lengths; the longest (in characters) is tracked, so the numpy
    `<U{width}` array `np.array(all_strings, dtype=str)` would have is known without building it."""

    def __init__(self, path: Path):
        self.path, self.count, self.width = path, 0, 1  # numpy gives an empty or all-empty str array width 1
        self.file = open(path.with_suffix(".utf8"), "wb", buffering=BUFFER)
        self.lengths = NumberSpool(path.with_suffix(".len"), np.int64)

    def extend(self, values: list[str]) -> None:
        values = [v if isinstance(v, str) else str(v) for v in values]  # as np.array(values, dtype=str) would
        encoded = [v.encode("utf-8", "surrogatepass") for v in values]
        self.file.write(b"".join(encoded))
        self.lengths.extend([len(e) for e in encoded])
        self.width = max(self.width, max(map(len, values), default=0))
        self.count += len(values)

    def close(self) -> None:
        if not self.file.closed:
            self.file.close()
        self.lengths.close()

    def chunks(self):
        self.close()
        with open(self.path.with_suffix(".utf8"), "rb") as f:
            for lengths in self.lengths.chunks():
                raw = f.read(int(lengths.sum()))
                ends = np.cumsum(lengths).tolist()
                starts = [0] + ends[:-1]
                values = [raw[s:e].decode("utf-8", "surrogatepass") for s, e in zip(starts, ends)]
                yield np.array(values, dtype=self.npy_dtype())

    def npy_dtype(self) -> np.dtype:
        return np.dtype(f"<U{self.width}")


def write_npz(path: Path, fields: dict[str, NumberSpool | StringSpool]) -> None:
    """`np.savez(path, **arrays)` from spooled fields, a chunk at a time: the same archive members (`<name>.npy`,
    stored, zip64) with the same dtypes and values, never a whole array in memory."""
    tmp = path.with_name(path.name + ".partial")
    with zipfile.ZipFile(tmp, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as z:
        for name, spool in fields.items():
            header = np.lib.format.header_data_from_array_1_0(np.empty(0, dtype=spool.npy_dtype()))
            header["shape"] = (spool.count,)
            with z.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array_header_1_0(member, header)
                for chunk in spool.chunks():
                    member.write(np.ascontiguousarray(chunk).tobytes())
    tmp.replace(path)


class TaskSpool:
    """One fingerprinting task's per-document values, spooled under `folder` (removed by `cleanup`)."""

    STRINGS = ("ids", "date", "source")
    NUMBERS = {"exact": np.uint64, "priority": np.int64, "quality": np.float64}
    ORDER = ("ids", "exact", "priority", "quality", "date", "source")  # the members of <task>.docs.npz

    def __init__(self, folder: Path, bands: list[str]):
        shutil.rmtree(folder, ignore_errors=True)  # a killed earlier attempt of this task
        folder.mkdir(parents=True)
        self.folder, self.bands = folder, bands
        self.fields: dict[str, NumberSpool | StringSpool] = {}
        for name in self.ORDER:
            self.fields[name] = (StringSpool(folder / name) if name in self.STRINGS
                                 else NumberSpool(folder / f"{name}.bin", self.NUMBERS[name]))
        self.band_spools = {b: NumberSpool(folder / f"band-{b}.bin", np.uint64) for b in bands}

    @property
    def count(self) -> int:
        return self.fields["ids"].count

    def add(self, values: dict[str, object], band_hashes: np.ndarray | None) -> None:
        """One batch: a list or array per field, and its (documents, bands) band hashes."""
        for name, spool in self.fields.items():
            spool.extend(values[name])
        for i, b in enumerate(self.bands):
            self.band_spools[b].extend(band_hashes[:, i])

    def write_docs(self, path: Path) -> None:
        write_npz(path, self.fields)

    def band(self, name: str) -> np.ndarray:
        return self.band_spools[name].array()

    def exact(self) -> np.ndarray:
        return self.fields["exact"].array()

    def close(self) -> None:
        for spool in [*self.fields.values(), *self.band_spools.values()]:
            spool.close()

    def cleanup(self) -> None:
        self.close()
        shutil.rmtree(self.folder, ignore_errors=True)
