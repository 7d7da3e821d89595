"""Source readers: one datatrove reader step per source kind.

Every reader yields Documents with `id` = "<source>/<id in source>", normalized-later `text`, and metadata
`source`, `kind`, `license`, plus `url`, `title`, `date` where the format has them. A record that cannot
be read (bad JSON, invalid UTF-8, missing or mistyped field, truncated archive, empty file) is counted as
`rejected_<reason>` and written to the run's `rejects/read/` folder with its file and line; the run goes on.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import lzma
import os
import re
import xml.etree.ElementTree as ET
import zlib
from array import array
from functools import cached_property
from itertools import count
from pathlib import Path
from typing import Iterator

import fsspec
import orjson
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.readers.base import BaseReader

from curation.config import SourceConfig
from curation.rejects import RejectLog
from manifests import storage
from filters.base import DeferredStats, StatName, count_for_source

try:
    import fcntl
except ImportError:  # no file locks: two tasks may list the same file's ids, with the same result
    fcntl = None


SAMPLE_HEAD = 256 << 10  # bytes read at the start of a file ...
SAMPLE_SPREAD = 64 << 10  # ... and at each of SAMPLE_PLACES places spread over it, the end included
SAMPLE_PLACES = 12
SAMPLE_COMPRESSED = 4 << 20  # decompressed bytes read from the start of a compressed file (seeking there costs a full read)
SAMPLE_AHEAD = 256 << 10  # evidence gathered at the first non-ASCII line when the samples were all ASCII


def _decodes(unit: bytes, encoding: str) -> bool:
    try:
        unit.decode(encoding)
        return True
    except UnicodeDecodeError:
        return False


def choose_encoding(units: list[bytes]) -> str | None:
    """The encoding most of these pieces of a file (lines, or runs of bytes between ASCII punctuation) are in, or None
    when none of them has a byte over 127 (ASCII reads the same in UTF-8, Big5 and GB18030).

    UTF-8 when at least half the non-ASCII pieces are valid UTF-8 (text in another encoding is almost never valid UTF-8);
    else, among the pieces that are not, Big5 (cp950) when it decodes 99% of their characters, else GB18030 (which
    decodes Big5's bytes too, as other characters, so it is chosen only when Big5 does not fit). A file that is mixed is
    read as its majority; the other lines are rejected, named, and alerted on (curation.alerts)."""
    units = [u for u in units if not u.isascii()]
    if not units:
        return None
    rest = [u for u in units if not _decodes(u, "utf-8")]
    if 2 * len(rest) <= len(units):
        return "utf-8"
    chars = sum(sum(b > 127 for b in u) for u in rest) / 2 or 1
    bad_big5 = sum(u.decode("cp950", errors="replace").count("\ufffd") for u in rest)
    if bad_big5 <= 0.01 * chars:
        return "cp950"
    bad_gb = sum(u.decode("gb18030", errors="replace").count("\ufffd") for u in rest)
    return "gb18030" if bad_gb <= bad_big5 else "cp950"


def _units(chunk: bytes, at_start: bool, at_end: bool) -> list[bytes]:
    """The whole lines in a chunk read from some place in a file: a line cut by the chunk's start or end is dropped (a
    chunk inside one long line is cut at ASCII punctuation or space instead, which no multi-byte character contains)."""
    if not at_start:
        cut = chunk.find(b"\n")
        cut = cut if cut >= 0 else next((i for i, b in enumerate(chunk) if b < 0x30), len(chunk))
        chunk = chunk[cut + 1:]
    if not at_end:
        cut = chunk.rfind(b"\n")
        cut = cut if cut >= 0 else next((i for i in range(len(chunk) - 1, -1, -1) if chunk[i] < 0x30), 0)
        chunk = chunk[:cut]
    return chunk.split(b"\n")


def sample_units(fh, size: int | None) -> list[bytes]:
    """Lines from the head, the end and SAMPLE_PLACES places in between of a seekable file of `size` bytes (the whole
    file when it is small), or from the first SAMPLE_COMPRESSED bytes when `size` is None (a compressed stream)."""
    if size is None:
        chunk = fh.read(SAMPLE_COMPRESSED)
        return _units(chunk, True, len(chunk) < SAMPLE_COMPRESSED)
    if size <= SAMPLE_HEAD + SAMPLE_PLACES * SAMPLE_SPREAD:
        return _units(fh.read(), True, True)
    units = _units(fh.read(SAMPLE_HEAD), True, False)
    for k in range(1, SAMPLE_PLACES + 1):
        start = SAMPLE_HEAD + (size - SAMPLE_HEAD - SAMPLE_SPREAD) * k // SAMPLE_PLACES
        fh.seek(start)
        units += _units(fh.read(SAMPLE_SPREAD), False, start + SAMPLE_SPREAD >= size)
    return units


def detect_encoding(sample: bytes) -> str:
    """A text encoding for bytes of a file (all of it, or a sample): from a byte-order mark, else the encoding most of
    its non-ASCII lines are in (`choose_encoding`), else UTF-8."""
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8"
    return choose_encoding(_units(sample, True, True)) or "utf-8"  # a UTF-8 mark is stripped from the first line


def corruption_errors() -> tuple[type[BaseException], ...]:
    """What a reader raises when its file is cut short or damaged: gzip, bz2, xz and zstd streams, XML, Parquet (ValueError)."""
    errors: list[type[BaseException]] = [EOFError, OSError, zlib.error, lzma.LZMAError, ET.ParseError, ValueError, csv.Error]
    try:
        import zstandard

        errors.append(zstandard.ZstdError)
    except ImportError:
        pass
    try:
        from warcio.exceptions import ArchiveLoadFailed

        errors.append(ArchiveLoadFailed)
    except ImportError:
        pass
    return tuple(errors)


CORRUPTION_ERRORS = corruption_errors()


class ZstdStream(io.RawIOBase):
    """A zstd file decompressed frame after frame; a file that ends inside a frame raises EOFError, as gzip, bz2 and xz do."""

    def __init__(self, raw):
        import zstandard

        self._raw, self._new = raw, zstandard.ZstdDecompressor().decompressobj
        self._obj, self._out, self._in_frame = self._new(), b"", False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._out:
            data = self._raw.read(1 << 13)  # small steps: a corrupt block loses little of what came before it
            if not data:
                if self._in_frame:
                    raise EOFError("Compressed file ended before the end-of-stream marker was reached")
                return 0
            while data:
                self._in_frame = True
                self._out += self._obj.decompress(data)
                data = b""
                if self._obj.eof:  # a frame ended: what follows starts the next one
                    data, self._obj, self._in_frame = self._obj.unused_data, self._new(), False
        n = min(len(buffer), len(self._out))
        buffer[:n], self._out = self._out[:n], self._out[n:]
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def id_hash(doc_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(doc_id.encode(), digest_size=8).digest(), "little")


class SourceReader(BaseReader):
    """Shared file loop: files are split across tasks round-robin, bad records go to the reject log.

    Ids are unique within a release whatever the task count: a repeated id becomes "<id>#2", "#3", ... in the order of
    the source's files and of the records in each. Within one task that is a count of the ids it has read; a source of
    several files (read by several tasks) first has each file's ids listed (hashed, in `ids_dir`, each file once,
    by whichever task gets to it first), so that a task knows how often each id of its files came in earlier files."""

    name = "read"
    _ids_only = False  # listing a file's ids: no reject written, no expensive text extraction

    def __init__(self, source: SourceConfig, files: list[str], rejects_dir: str, redact: bool = False, ids_dir: str | None = None):
        super().__init__()
        self.source = source
        self.files = list(files)
        self.rejects = RejectLog(rejects_dir, source.name, redact=redact)
        self.ids_dir = ids_dir
        # each file's id list is named by the file's path and version: looked up once, here in the driver (a stat, or a
        # HEAD request in a bucket), not again for every file in every task
        self._id_lists = [self._id_list_name(i) for i in range(len(self.files))] if ids_dir and len(self.files) > 1 else []
        self._file_rejects = 0

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        self.rejects.open_for(rank)
        mine = list(range(rank, len(self.files), world_size))
        # per file index: (how often each id of the file came in earlier files, the ids to count within it); None:
        # every id this task reads is remembered instead (one file, or no folder for the id lists)
        self._id_plans = self._plan_ids(mine) if self.ids_dir and len(self.files) > 1 and mine else None
        self._seen, self._again = set(), {}
        # documents read and their lengths, counted per document and written to the stats at the end (DeferredStats: the
        # same values as a stat_update each)
        self._counts = DeferredStats(self)
        try:
            for i in mine:
                self.stat_update("input_files")
                yield from self._read_one(self.files[i], i)
        finally:
            self._counts.flush()
            self.rejects.close()

    def _repeat_number(self, h: int, index: int | None) -> int:
        """How many documents before this one had its id (hash `h`): in earlier files and earlier in this file."""
        plan = self._id_plans.get(index) if self._id_plans is not None else None
        if plan is None:
            if h not in self._seen:
                self._seen.add(h)
                return 0
            n = self._again.get(h, 1)
        else:
            before, counted = plan
            if h not in counted:
                return 0
            n = self._again.get(h, before.get(h, 0))
        self._again[h] = n + 1
        return n

    def _read_one(self, path: str, index: int | None = None) -> Iterator[Document]:
        self._file_rejects, self._line, docs = 0, 0, 0
        if self._id_plans is not None:
            self._again = {}  # counts start from the plan's for each file
        try:
            for doc in self.read_file(path):
                if len(doc.text) > self.source.max_document_chars:
                    self.reject(path, self._line or None, "document_too_long",
                                raw=f"{doc.id}: {len(doc.text)} characters, more than {self.source.max_document_chars}")
                    continue
                # a repeated id never makes a document disappear (dedup and rejects key by id): the second copy of an id
                # becomes "<id>#2", and so on, and is counted
                seen = self._repeat_number(id_hash(doc.id), index)
                if seen:
                    doc.id = f"{doc.id}#{seen + 1}"
                    count_for_source(self, "repeated_id", self.source.name)
                docs += 1
                self._count_document(doc)
                yield doc
        except CORRUPTION_ERRORS as e:
            # the stream broke part-way (truncated .bz2/.gz, cut-off XML): keep what was read, log where it broke
            self.reject(path, self._line + 1, "truncated_or_corrupt_file", raw=f"{type(e).__name__}: {e}")
        if docs == 0 and self._file_rejects == 0:
            self.reject(path, None, "empty_file")

    def read_file(self, path: str) -> Iterator[Document]:
        raise NotImplementedError

    def _count_document(self, doc: Document) -> None:
        """`documents` of the source and datatrove's `update_doc_stats` (doc_len, doc_len_tokens), held in `_counts`
        while the run reads (a step run outside `run` counts at once)."""
        counts = getattr(self, "_counts", None)
        if counts is None:
            self.stat_update(self._documents_label)
            self.update_doc_stats(doc)
            return
        counts.count(self._documents_label)
        counts.count("doc_len", len(doc.text))
        if token_count := doc.metadata.get("token_count", None):
            counts.count("doc_len_tokens", token_count)
        counts.documents += 1
        if counts.documents >= DeferredStats.HOLD_DOCUMENTS:
            counts.flush()

    @cached_property
    def _documents_label(self) -> str:
        return StatName("documents", source=self.source.name).name

    # -- ids across files ------------------------------------------------------------------------------
    def _id_list_name(self, index: int) -> str:
        path = self.files[index]
        key = hashlib.blake2b(f"{path}\0{storage.version_key(path)}".encode(), digest_size=6).hexdigest()
        return f"{self.source.name}-{index:06d}-{key}.npz"

    def _ids_path(self, index: int) -> Path:
        return Path(self.ids_dir) / self._id_lists[index]

    def _made_once(self, final: Path, lock_name: str, arrays, wait: bool = True) -> bool:
        """Writes the npz `final` from `arrays()` (name -> array) unless it exists, under a lock so that one task makes
        it and the others wait for it (or, with `wait` off, get False while another task is making it); written whole
        under another name and renamed, so a reader never sees part of it."""
        import numpy as np

        if final.exists():
            return True
        with open(Path(self.ids_dir) / lock_name, "a") as lock:
            if fcntl is not None:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
                except BlockingIOError:
                    return False
                except OSError:
                    pass  # a filesystem without locks: made here too (the same file, replaced whole)
            if final.exists():
                return True
            tmp = final.with_name(f"{final.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays())
            os.replace(tmp, final)
        return True

    def _list_ids(self, index: int, wait: bool) -> bool:
        """Write file `index`'s id hashes and how often each comes (sorted), unless listed already; False when another
        task is listing it and `wait` is off."""
        import numpy as np

        def listed():
            lister = type(self)(self.source, [self.files[index]], str(self.rejects.directory))
            lister._ids_only, lister._line = True, 0
            hashes = array("Q")
            try:
                for doc in lister.read_file(self.files[index]):
                    if len(doc.text) <= self.source.max_document_chars:
                        hashes.append(id_hash(doc.id))
            except CORRUPTION_ERRORS:
                pass  # the ids before the break: the documents the reader yields too
            h, c = np.unique(np.frombuffer(hashes, dtype=np.uint64), return_counts=True)
            return {"h": h, "c": c.astype(np.uint32)}

        return self._made_once(self._ids_path(index), f"{self.source.name}-{index:06d}.lock", listed, wait)

    def _plan_ids(self, mine: list[int]) -> dict[int, tuple[dict[int, int], set[int]]]:
        """For each file this task reads: how many times each of its ids came in the files before it (only those that
        did), and the ids to count while reading it (those, and ids the file itself repeats). Read from the source's
        census of repeated ids (`_make_census`), so a task loads one small file whatever the number of files (each task
        loaded the lists of all files before its own: quadratic in the file count, 33 s of CPU for 500 files of 40
        documents)."""
        import numpy as np

        census = self._census_path()
        if not census.exists():  # every file's ids listed (mine first, then whichever no other task is listing), once
            Path(self.ids_dir).mkdir(parents=True, exist_ok=True)
            others = sorted(set(range(len(self.files))) - set(mine), key=lambda j: (j - mine[0]) % len(self.files))
            busy = [j for j in [*mine, *others] if not self._list_ids(j, wait=False)]
            for j in busy:
                self._list_ids(j, wait=True)
            self._make_census(census)
        with np.load(census) as z:
            files, hashes, counts = z["f"], z["h"], z["c"]
        # rows are sorted by (hash, file): a row's prior is the count of its hash in the rows before it, same hash
        ends = np.cumsum(counts, dtype=np.int64)
        first = np.r_[True, hashes[1:] != hashes[:-1]] if len(hashes) else np.zeros(0, bool)
        prior = ends - counts - np.maximum.accumulate(np.where(first, ends - counts, 0))
        plans = {}
        for j in mine:
            row = files == j
            h, c, before = hashes[row], counts[row], prior[row]
            earlier = {int(k): int(v) for k, v in zip(h[before > 0], before[before > 0])}
            plans[j] = (earlier, set(earlier) | {int(k) for k in h[c > 1]})
        return plans

    def _census_path(self) -> Path:
        key = hashlib.blake2b("\0".join(self._id_lists).encode(), digest_size=6).hexdigest()
        return Path(self.ids_dir) / f"{self.source.name}-census-{key}.npz"

    def _make_census(self, final: Path) -> None:
        """The source's census, made once by whichever task gets to it first: every id hash that comes more than once
        in the source (twice in one file, or in two files), with the file it comes in and how often, one row per
        (hash, file), sorted by hash then file. Its making holds all the source's id hashes at once (8 bytes an id)
        and reads every file's list twice; ids rarely repeat, so the census itself is small."""
        import numpy as np

        def load(j: int):
            with np.load(self._ids_path(j)) as z:
                return z["h"], z["c"]

        def census():
            every, within = [], []
            for j in range(len(self.files)):
                h, c = load(j)
                every.append(h)
                within.append(h[c > 1])
            every = np.concatenate(every)  # a source of several files: never empty lists
            every.sort()
            repeated = np.union1d(every[1:][every[1:] == every[:-1]], np.concatenate(within))
            del every
            f, h, c = [], [], []
            for j in range(len(self.files)):
                hj, cj = load(j)
                hit = np.isin(hj, repeated, assume_unique=True)
                f.append(np.full(int(hit.sum()), j, dtype=np.int64))
                h.append(hj[hit])
                c.append(cj[hit])
            f, h, c = map(np.concatenate, (f, h, c))
            order = np.lexsort((f, h))
            return {"f": f[order], "h": h[order], "c": c[order]}

        self._made_once(final, f"{self.source.name}-census.lock", census)

    # -- helpers for subclasses -------------------------------------------------------------------------
    def reject(self, file: str, line: int | None, reason: str, field: str | None = None, raw: object = None) -> None:
        self._file_rejects += 1
        if self._ids_only:
            return
        self.stat_update(f"rejected_{reason}")
        self.rejects.write(file, line, reason, field, raw)

    def make_document(self, local_id: object, text: str, **meta: object) -> Document:
        metadata = {"source": self.source.name, "kind": self.source.kind, "license": self.source.license}
        metadata.update({k: (None if v is None else str(v)) for k, v in meta.items()})
        return Document(text=text, id=f"{self.source.name}/{local_id}", metadata=metadata)

    def open_binary(self, path: str):
        if path.lower().endswith((".zst", ".zstd")):  # fsspec's zstd reader has no readline and ends a cut stream quietly
            return io.BufferedReader(ZstdStream(storage.open_input(path)), 1 << 16)
        fh = fsspec.open(path, "rb", compression="infer").open()
        if storage.is_url(path) and fsspec.utils.infer_compression(path) is None:
            return io.BufferedReader(fh, 1 << 16)  # an object-storage file's readline takes no size limit
        return fh

    def _sampled_encoding(self, path: str) -> str | None:
        """The file's text encoding from a byte-order mark, else the encoding most of its non-ASCII lines are in,
        sampled at its start, its end and 12 places between (a compressed file: its first 4 MB); None when the samples
        hold no byte over 127 (the caller reads such a file as UTF-8 until a line says otherwise)."""
        plain = fsspec.utils.infer_compression(path) is None and not path.lower().endswith((".zst", ".zstd"))
        with (storage.open_input(path) if plain else self.open_binary(path)) as fh:
            head = fh.read(4)
            if head.startswith((b"\xff\xfe", b"\xfe\xff")):
                return "utf-16"
            if head.startswith(b"\xef\xbb\xbf"):
                return "utf-8"
            fh.seek(0) if plain else None
            if not plain:  # a compressed stream: keep the 4 bytes already read; a break is the reader's to report
                chunks = [head]
                try:
                    while sum(map(len, chunks)) < SAMPLE_COMPRESSED and (chunk := fh.read(SAMPLE_SPREAD)):
                        chunks.append(chunk)
                except CORRUPTION_ERRORS:
                    pass
                return choose_encoding(_units(b"".join(chunks), True, False))
            return choose_encoding(sample_units(fh, storage.size(path)))

    def lines(self, path: str) -> Iterator[tuple[int, int, bytes | None]]:
        """(line number, byte offset, raw line in the file's encoding, or None when it is longer than
        `max_record_bytes`: that line is skipped without being held in memory, and rejected)."""
        limit = self.source.max_record_bytes
        with self.open_binary(path) as fh:
            offset = 0
            for lineno in count(1):
                raw = fh.readline(limit + 1)
                if not raw:
                    return
                self._line = lineno
                start = offset
                offset += len(raw)
                if len(raw) > limit and not raw.endswith(b"\n"):
                    while raw and not raw.endswith(b"\n"):  # the rest of the line, a chunk at a time
                        raw = fh.readline(1 << 20)
                        offset += len(raw)
                    self.reject(path, lineno, "record_too_large", raw=f"line of more than {limit} bytes at byte {start}")
                    yield lineno, start, None
                    continue
                yield lineno, start, raw

    def decoded_lines(self, path: str) -> Iterator[tuple[int, str]]:
        """(line number, text) of each line in the file's encoding; a line that does not decode is rejected with its
        byte offset."""
        encoding = self.source.encoding or self._sampled_encoding(path)  # None: all ASCII so far
        if encoding and encoding.replace("-", "").lower().startswith("utf16"):
            # two-byte newlines: read as text (UTF-16 files are small exports, not crawls)
            with self.open_binary(path) as fh:
                text = fh.read().decode(encoding, errors="replace")
            for lineno, line in enumerate(text.splitlines(), 1):
                self._line = lineno
                yield lineno, line.lstrip("\ufeff") if lineno == 1 else line
            return
        lines = self.lines(path)
        for lineno, offset, raw in lines:
            if raw is None:
                continue
            if encoding is None and not raw.isascii():
                # the samples were all ASCII: decide at the first line that is not, from it and what follows
                ahead, size = [(lineno, offset, raw)], len(raw)
                for item in lines:
                    ahead.append(item)
                    size += len(item[2] or b"")
                    if size >= SAMPLE_AHEAD:
                        break
                encoding = choose_encoding([r for _, _, r in ahead if r]) or "utf-8"
                for n, at, line in ahead:
                    if line is not None:
                        yield from self._decode_line(path, n, at, line, encoding)
                continue
            yield from self._decode_line(path, lineno, offset, raw, encoding or "utf-8")

    def _decode_line(self, path: str, lineno: int, offset: int, raw: bytes, encoding: str) -> Iterator[tuple[int, str]]:
        self._line = lineno
        try:
            line = raw.decode(encoding)
        except UnicodeDecodeError as e:
            self.reject(path, lineno, "invalid_utf8" if encoding == "utf-8" else "invalid_encoding",
                        field=f"{encoding} at byte {offset + e.start}", raw=raw)
            return
        yield lineno, (line.lstrip("\ufeff") if lineno == 1 else line)

    def iter_json_lines(self, path: str) -> Iterator[tuple[int, dict]]:
        """(line number, object) for each well-formed JSON object line; the rest go to rejects."""
        for lineno, line in self.decoded_lines(path):
            if not line.strip():
                continue
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                self.reject(path, lineno, "malformed_json", raw=line, field=str(e)[:120])
                continue
            if not isinstance(rec, dict):
                self.reject(path, lineno, "not_a_json_object", raw=line)
                continue
            yield lineno, rec

    def iter_csv_rows(self, path: str) -> Iterator[tuple[int, dict]]:
        reader = csv.DictReader(line for _, line in self.decoded_lines(path))
        for row in reader:
            yield reader.line_num, row

    def load_json(self, path: str) -> object | None:
        with self.open_binary(path) as fh:
            raw = fh.read(self.source.max_record_bytes + 1)
        if len(raw) > self.source.max_record_bytes:
            self.reject(path, None, "record_too_large", raw=f"JSON file of more than {self.source.max_record_bytes} bytes")
            return None
        if not raw.strip():
            return None
        encoding = self.source.encoding or detect_encoding(raw)  # the whole file is in memory: all of it is the sample
        try:
            return json.loads(raw.decode("utf-8-sig" if encoding == "utf-8" else encoding))
        except UnicodeDecodeError as e:
            self.reject(path, raw[: e.start].count(b"\n") + 1, "invalid_utf8" if encoding == "utf-8" else "invalid_encoding",
                        field=f"{encoding} at byte {e.start}",
                        raw=raw[max(0, e.start - 200): e.start + 200])
        except json.JSONDecodeError as e:
            self.reject(path, e.lineno, "malformed_json", field=f"column {e.colno}: {e.msg}", raw=e.doc[max(0, e.pos - 200): e.pos + 200])
        return None

    def text_field(self, path: str, line: int, rec: dict, field: str, required: bool = True) -> str | None:
        """The string in `rec[field]`, or None after logging why it is unusable."""
        value = rec.get(field)
        if value is None:
            if required:
                self.reject(path, line, "missing_field", field=field, raw=rec)
            return None
        if not isinstance(value, str):
            self.reject(path, line, "wrong_type", field=field, raw=rec)
            return None
        if required and not value.strip():
            self.reject(path, line, "empty_text", field=field, raw=rec)
            return None
        return value


class RecordReader(SourceReader):
    """`jsonl` / `parquet` sources (and CSV by extension): one document per record, fields from the config."""

    def records(self, path: str) -> Iterator[tuple[int, dict]]:
        name = path.lower()
        if name.endswith(".parquet"):
            import pyarrow.parquet as pq

            row = 0
            with storage.open_input(path) if storage.is_url(path) else contextlib.nullcontext(path) as source:
                for batch in pq.ParquetFile(source, pre_buffer=False).iter_batches():  # pre_buffer keeps every byte read
                    for rec in batch.to_pylist():
                        row += 1
                        self._line = row
                        yield row, rec
        elif re.search(r"\.csv(\.\w+)?$", name):
            yield from self.iter_csv_rows(path)
        else:
            yield from self.iter_json_lines(path)

    def record_to_document(self, path: str, line: int, rec: dict) -> Document | None:
        s = self.source
        text = self.text_field(path, line, rec, s.text_field)
        if text is None:
            return None
        local_id = rec.get(s.id_field or "id")
        if s.id_field and local_id in (None, ""):
            self.reject(path, line, "missing_field", field=s.id_field, raw=rec)
            return None
        if local_id is None:
            local_id = f"{Path(path).name}:{line}"
        return self.make_document(local_id, text, url=rec.get(s.url_field), title=rec.get(s.title_field), date=rec.get(s.date_field),
                                  file=Path(path).name, line=line)

    def read_file(self, path: str) -> Iterator[Document]:
        for line, rec in self.records(path):
            doc = self.record_to_document(path, line, rec)
            if doc is not None:
                yield doc


class NewsReader(RecordReader):
    """News articles: JSONL/CSV with a field mapping, or WARC files whose HTML is turned into text by trafilatura."""

    def read_file(self, path: str) -> Iterator[Document]:
        if re.search(r"\.warc(\.gz)?$", path.lower()):
            yield from self.read_warc(path)
        else:
            yield from super().read_file(path)

    def read_warc(self, path: str) -> Iterator[Document]:
        import trafilatura
        from warcio.archiveiterator import ArchiveIterator

        # decompressed here, not by warcio (its reader ends a cut-off .warc.gz quietly), and warcio's own quiet end on a
        # read error is turned back into the error; a record shorter than its Content-Length is a cut-off file too
        with self.open_binary(path) as fh:
            watched = _ReadErrors(fh)
            for n, record in enumerate(ArchiveIterator(watched), start=1):
                self._line = n
                ctype = record.http_headers.get_header("Content-Type", "") if record.http_headers else ""
                if record.rec_type != "response" or "html" not in ctype:
                    while record.raw_stream.read(1 << 16):
                        pass
                    _check_complete(record, n)
                    continue
                url = record.rec_headers.get_header("WARC-Target-URI")
                charset = (re.search(r"charset=([\w-]+)", ctype) or [None, "utf-8"])[1]
                payload = record.content_stream().read()
                _check_complete(record, n)
                try:
                    html = payload.decode(charset)
                except (UnicodeDecodeError, LookupError):
                    self.reject(path, n, "invalid_encoding", field=f"charset={charset}", raw=url)
                    continue
                if self._ids_only:  # every page that may yield text (a superset: listing ids skips extraction)
                    yield self.make_document(url, "-")
                    continue
                extracted = trafilatura.bare_extraction(html, url=url, with_metadata=True, include_comments=False, include_tables=True)
                text = getattr(extracted, "text", None) if extracted else None
                if not text or not text.strip():
                    self.reject(path, n, "no_text_extracted", raw=url)
                    continue
                yield self.make_document(url, text, url=url, title=getattr(extracted, "title", None),
                                         date=record.rec_headers.get_header("WARC-Date"), file=Path(path).name)
            if watched.error is not None:
                raise watched.error


class _ReadErrors:
    """A stream that remembers the error a read raised (warcio takes an EOFError for the end of the archive)."""

    def __init__(self, fh):
        self._fh, self.error = fh, None

    def _remembered(self, method, n: int) -> bytes:
        try:
            return method(n)
        except CORRUPTION_ERRORS as e:
            self.error = e
            raise

    def read(self, n: int = -1) -> bytes:
        return self._remembered(self._fh.read, n)

    def readline(self, n: int = -1) -> bytes:
        return self._remembered(self._fh.readline, n)


def _check_complete(record, n: int) -> None:
    missing = getattr(record.raw_stream, "limit", 0)
    if missing:
        raise EOFError(f"WARC record {n} ends {missing} bytes before its Content-Length")


class WikiReader(SourceReader):
    """MediaWiki XML export or dump (`.xml`, `.xml.bz2`), streamed page by page.

    Keeps main-namespace (ns 0) pages; skips redirects and other namespaces (counted). Wikitext becomes
    plain text: templates, refs, tables, file/category links removed, headings and paragraphs kept.
    """

    NON_TEXT_LINK = re.compile(r"^\s*:?\s*(file|image|category|media|檔案|文件|图像|圖像|分類|分类)\s*:", re.I)

    def read_file(self, path: str) -> Iterator[Document]:
        with self.open_binary(path) as fh:
            for _, elem in ET.iterparse(fh, events=("end",)):
                if elem.tag.rsplit("}", 1)[-1] != "page":
                    continue
                self._line += 1  # pages read so far, reported as the position of a break
                page = {child.tag.rsplit("}", 1)[-1]: child for child in elem}
                ns, title = page.get("ns"), page.get("title")
                rev = page.get("revision")
                text_el = rev.find("{*}text") if rev is not None else None
                timestamp = rev.find("{*}timestamp") if rev is not None else None
                if ns is not None and (ns.text or "0").strip() != "0":
                    self.stat_update("skipped_namespace")
                elif "redirect" in page or (text_el is not None and (text_el.text or "").lstrip().upper().startswith("#REDIRECT")):
                    self.stat_update("skipped_redirect")
                elif text_el is None or not (text_el.text or "").strip():
                    self.reject(path, self._line, "missing_field", field="revision/text", raw=title.text if title is not None else None)
                else:
                    plain = "-" if self._ids_only else wikitext_to_text(text_el.text, self.NON_TEXT_LINK)
                    if plain.strip():
                        page_id = page["id"].text if "id" in page else self._line
                        name = title.text if title is not None else ""
                        yield self.make_document(page_id, plain, title=name, date=timestamp.text if timestamp is not None else None,
                                                 url=f"https://zh.wikipedia.org/wiki/{name.replace(' ', '_')}")
                    else:
                        self.reject(path, self._line, "empty_text", field="revision/text", raw=title.text if title is not None else None)
                elem.clear()


def wikitext_to_text(wikitext: str, non_text_link: re.Pattern) -> str:
    import mwparserfromhell
    from mwparserfromhell.nodes import Tag, Template, Wikilink

    code = mwparserfromhell.parse(wikitext)
    for node in code.filter(recursive=False, forcetype=(Template, Tag, Wikilink)):
        if isinstance(node, Template) or (isinstance(node, Tag) and str(node.tag).lower() in {"ref", "table", "gallery", "references", "math"}):
            _remove(code, node)
        elif isinstance(node, Wikilink) and non_text_link.match(str(node.title)):
            _remove(code, node)
    for heading in code.filter_headings(recursive=False):
        # headings become their own paragraph: "== 歷史 ==" -> "\n歷史\n"
        code.replace(heading, f"\n{heading.title.strip_code().strip()}\n")
    text = code.strip_code(normalize=True, collapse=True, keep_template_params=False)
    text = re.sub(r"'{2,}", "", text)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _remove(code, node) -> None:
    try:
        code.remove(node)
    except ValueError:
        pass  # already removed with an enclosing node


class LegalReader(SourceReader):
    """Taiwan law-database JSON exports and court judgments: one document per law or judgment.

    Shapes: the English-key export (`Laws[]` with `LawName`, `LawArticles[].ArticleContent`), the split
    per-law JSON (`法規名稱`, `法規內容[]` of `編章節` headings and `條號`/`條文內容` articles), and
    judgments (`JID`, `JTITLE`, `JFULL`). Hard line wraps inside an article are joined; a line break after
    sentence punctuation is kept as a paragraph break.
    """

    def read_file(self, path: str) -> Iterator[Document]:
        if path.lower().endswith((".jsonl", ".jsonl.gz", ".jsonl.bz2", ".jsonl.zst")):
            records = self.iter_json_lines(path)
        else:
            data = self.load_json(path)
            if data is None:
                return
            if isinstance(data, dict) and isinstance(data.get("Laws"), list):
                data = data["Laws"]
            records = enumerate(data if isinstance(data, list) else [data], start=1)
        for n, rec in records:
            self._line = n
            doc = self.law_or_judgment(path, n, rec) if isinstance(rec, dict) else self.reject(path, n, "not_a_json_object", raw=rec)
            if doc is not None:
                yield doc

    def law_or_judgment(self, path: str, n: int, rec: dict) -> Document | None:
        if "JFULL" in rec or "JID" in rec:
            body = self.text_field(path, n, rec, "JFULL")
            if body is None:
                return None
            title = rec.get("JTITLE") or ""
            return self.make_document(rec.get("JID") or f"{Path(path).name}:{n}", f"{title}\n{join_wraps(body)}".strip(),
                                      title=title, date=rec.get("JDATE"), doc_type="judgment")
        if "LawArticles" in rec or "LawName" in rec:
            name, articles, url, date = rec.get("LawName"), rec.get("LawArticles"), rec.get("LawURL"), rec.get("LawModifiedDate")
            pieces = self._articles(path, n, articles, "LawArticles", lambda a: (a.get("ArticleNo"), a.get("ArticleContent")))
        elif "法規內容" in rec or "法規名稱" in rec:
            name, articles, url, date = rec.get("法規名稱"), rec.get("法規內容"), rec.get("法規網址"), rec.get("最新異動日期")
            pieces = self._articles(path, n, articles, "法規內容", lambda a: (a.get("條號"), a.get("條文內容") or a.get("編章節")))
        else:
            self.reject(path, n, "unknown_legal_shape", raw=rec)
            return None
        if not isinstance(name, str) or not name.strip():
            self.reject(path, n, "missing_field", field="LawName/法規名稱", raw=rec)
            return None
        if pieces is None:
            return None
        pcode = re.search(r"pcode=(\w+)", url or "")
        return self.make_document(pcode[1] if pcode else name, name + "\n" + "\n".join(pieces), title=name, url=url, date=date, doc_type="law")

    def _articles(self, path, n, articles, field, unpack) -> list[str] | None:
        if not isinstance(articles, list) or not articles:
            self.reject(path, n, "missing_field", field=field)
            return None
        out = []
        for a in articles:
            number, content = unpack(a) if isinstance(a, dict) else (None, None)
            if not isinstance(content, str):
                self.reject(path, n, "wrong_type", field=f"{field}[].content", raw=a)
                return None
            content = join_wraps(content)
            out.append(f"{number.replace(' ', '')}　{content}" if number else content)
        return out


SENTENCE_END = "。！？：；」』）!?:;"


def join_wraps(text: str) -> str:
    """Join hard-wrapped lines (CRLF mid-sentence, as in the law database); keep breaks after sentence ends."""
    lines = [ln.strip(" \u3000\t") for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    out = ""
    for ln in lines:
        if not ln:
            continue
        if out and out[-1] not in SENTENCE_END and not (out[-1].isascii() and ln[0].isascii()):
            out += ln
        elif out and out[-1] not in SENTENCE_END:
            out += " " + ln
        else:
            out += ("\n" if out else "") + ln
    return out


class SocialReader(SourceReader):
    """Forum posts with replies: PTT-style JSON (`article_title`, `author`, `date`, `content`,
    `messages[]` with `push_tag`/`push_userid`/`push_content`), as a JSON list, `{"articles": [...]}`, or JSONL.
    `include_comments` keeps replies as "推 user: text" lines after the post; generic JSONL posts use `text_field`.
    """

    def read_file(self, path: str) -> Iterator[Document]:
        if ".jsonl" in path.lower():
            posts = self.iter_json_lines(path)
        else:
            data = self.load_json(path)
            if data is None:
                return
            if isinstance(data, dict):
                data = data.get("articles", [data])
            posts = enumerate(data, start=1)
        for n, post in posts:
            self._line = n
            if not isinstance(post, dict):
                self.reject(path, n, "not_a_json_object", raw=post)
                continue
            doc = self.post_to_document(path, n, post)
            if doc is not None:
                yield doc

    def post_to_document(self, path: str, n: int, post: dict) -> Document | None:
        field = "content" if "content" in post else self.source.text_field
        body = self.text_field(path, n, post, field)
        if body is None:
            return None
        title = post.get("article_title") or post.get(self.source.title_field) or ""
        parts = [title, body.strip()] if title else [body.strip()]
        replies = post.get("messages") or post.get("comments") or []
        if self.source.include_comments and isinstance(replies, list):
            lines = []
            for m in replies:
                if isinstance(m, dict) and m.get("push_content"):
                    lines.append(f"{m.get('push_tag', '').strip()} {m.get('push_userid', '')}: {m['push_content'].strip()}".strip())
                elif isinstance(m, str) and m.strip():
                    lines.append(m.strip())
            if lines:
                parts.append("\n".join(lines))
        local_id = post.get("article_id") or post.get(self.source.id_field or "id") or f"{Path(path).name}:{n}"
        return self.make_document(local_id, "\n\n".join(parts), title=title or None, url=post.get("url"), date=post.get("date"),
                                  author=post.get("author"), board=post.get("board"))


READERS: dict[str, type[SourceReader]] = {
    "wiki": WikiReader,
    "news": NewsReader,
    "legal": LegalReader,
    "social": SocialReader,
    "jsonl": RecordReader,
    "parquet": RecordReader,
}


def reader_for(source: SourceConfig, files: list[str], rejects_dir: str, redact: bool = False, ids_dir: str | None = None) -> SourceReader:
    """The reader for `source.kind`; with `redact`, raw records in the reject log have personal data replaced."""
    return READERS[source.kind](source, files, rejects_dir, redact, ids_dir)
