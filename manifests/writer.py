"""Builds a manifest from a finished release directory (hashing what is really on disk) and writes it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from manifests import storage
from manifests.counts import recount_shard
from manifests.schema import InputFile, Manifest, Shard, TokenizerInfo
from manifests.tokens import PARQUET_KEY, TokenCounter, token_counter

MANIFEST_NAME = "manifest.json"


def sha256_stream(fh) -> str:
    """The sha256 of an open binary file, read to its end."""
    return hashlib.file_digest(fh, "sha256").hexdigest()  # reads into one reused buffer: ~1.5x a read() loop


def sha256_file(path: Path | str) -> str:
    """The sha256 of a local file, or of an object in object storage (a URL)."""
    with storage.open_input(str(path)) as fh:
        return sha256_stream(fh)


def in_threads(fn, items: list) -> list:
    """`[fn(x) for x in items]` on a thread per core: hashing and Parquet reading release the GIL, and a release's
    files (5 GB of dedup signatures at 5M documents) are hashed by one process after every task has finished."""
    from concurrent.futures import ThreadPoolExecutor

    if len(items) < 2:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(len(items), os.cpu_count() or 1)) as pool:
        return list(pool.map(fn, items))


def describe_shard(release_dir: Path, path: Path, counter: TokenCounter | None = None, split: str | None = None) -> Shard:
    """Documents, characters, tokens and source of one shard, counted as `verify` counts them again
    (manifests.counts.recount_shard): a record batch at a time (a shard can hold hundreds of thousands of documents);
    tokens from the writer's per-document `tokens` column when the shard says it was counted with this very tokenizer
    (no second pass), else counted now (shards carried from a release counted otherwise)."""
    c = recount_shard(path, tokenizer_info(counter), counter=counter)
    return Shard(path=path.relative_to(release_dir).as_posix(), format="parquet", sha256=sha256_file(path),
                 bytes=path.stat().st_size, documents=c.documents, characters=c.characters, tokens=c.tokens,
                 source=c.sources.pop() if len(c.sources) == 1 else None, split=split)


def tokenizer_info(counter: TokenCounter | None) -> TokenizerInfo | None:
    return TokenizerInfo(name=counter.id.name, path=counter.id.path, sha256=counter.id.sha256) if counter else None


def describe_input(path: Path, base_dir: Path) -> InputFile:
    """Input files are recorded relative to the job file's directory, so checkouts in different places compare equal;
    a file in object storage by its URL."""
    if storage.is_url(path):
        return InputFile(path=str(path), bytes=storage.size(str(path)), sha256=sha256_file(path))
    return InputFile(path=Path(os.path.relpath(path, base_dir)).as_posix(), bytes=path.stat().st_size, sha256=sha256_file(path))


def content_hash(shards: list[Shard]) -> str:
    h = hashlib.sha256()
    for s in sorted(shards, key=lambda s: s.path):
        h.update(f"{s.path}\t{s.sha256}\n".encode())
    return h.hexdigest()


def totals(shards: list[Shard]) -> dict[str, int]:
    out = {"documents": sum(s.documents for s in shards), "characters": sum(s.characters for s in shards), "shards": len(shards)}
    if shards and all(s.tokens is not None for s in shards):
        out["tokens"] = sum(s.tokens for s in shards)
    return out


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def now_utc() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def seal_release(release_dir: Path) -> Path:
    """List every file of the finished release that is not a shard or the manifest itself (dedup index and
    clusters, stats, rejects, exports) with its size and sha256 in `files`, so `verify` covers all of it.
    Called last, once nothing else will be written into the release."""
    from manifests.schema import ReleaseFile

    manifest = Manifest.model_validate_json((release_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    shards = {s.path for s in manifest.shards}
    paths = [f for f in sorted(release_dir.rglob("*"))
             if f.is_file() and f.relative_to(release_dir).as_posix() not in shards | {MANIFEST_NAME}]
    files = [ReleaseFile(path=f.relative_to(release_dir).as_posix(), bytes=f.stat().st_size, sha256=digest)
             for f, digest in zip(paths, in_threads(sha256_file, paths))]
    return write_manifest(release_dir, manifest.model_copy(update={"files": files}))


def write_json_atomic(path: Path, model) -> Path:
    """A pydantic model as JSON, written beside and renamed into place: readers never see half a file."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(model.model_dump_json(indent=2), encoding="utf-8")
    tmp.replace(path)
    return path


# what `description_hash` leaves out: verify re-hashes and recounts the shards and other files from disk, and
# recomputes the content hash from them; the hash itself cannot cover itself
NOT_DESCRIPTION = ("content_hash", "shards", "files", "description_hash")


def description_hash(data: dict) -> str:
    """sha256 of a manifest's descriptive part, `data` being the manifest as JSON (`json.loads` of manifest.json): every
    key but NOT_DESCRIPTION, so sources with their licenses, weights and counts, mixture_weights, totals, config, steps,
    rejects, models, alerts. Canonical JSON (sorted keys), computed over the keys the file holds, so a field a later
    schema adds with a default does not change the hash of a manifest written before it."""
    described = {k: v for k, v in data.items() if k not in NOT_DESCRIPTION}
    return hashlib.sha256(json.dumps(described, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


def write_manifest(release_dir: Path, manifest: Manifest) -> Path:
    """Every writer of manifest.json comes here: the description hash is set on each write, so a manifest changed
    with `model_copy` and written again (seal_release) stays consistent, and an edit of the file by hand does not."""
    data = json.loads(manifest.model_dump_json())
    return write_json_atomic(release_dir / MANIFEST_NAME, manifest.model_copy(update={"description_hash": description_hash(data)}))


SFT_ROLES = {"system", "user", "assistant"}


def _sft_schema():
    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    return pa.schema([("id", pa.string()), ("messages", pa.list_(message)), ("category", pa.string()), ("source", pa.string()),
                      ("tokens", pa.int64()), ("metadata", pa.string())])


SFT_SCHEMA = _sft_schema()


def split_of(record_id: str, validation_fraction: float) -> str:
    """Deterministic split by id hash, so a record never moves between splits across reruns."""
    bucket = int(hashlib.sha256(record_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "validation" if bucket < validation_fraction else "train"


def write_split_shard(release_dir: Path, split: str, table: pa.Table, counter: TokenCounter | None) -> Shard:
    """`data/<split>/00000.parquet`, stamped with the tokenizer its `tokens` column was counted with, described."""
    if counter:
        table = table.replace_schema_metadata({PARQUET_KEY: counter.id.key.encode()})
    path = release_dir / "data" / split / "00000.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return describe_shard(release_dir, path, counter, split=split)


def write_sft_release(records: list[dict], release_dir: Path, name: str, version: str, config: dict,
                      validation_fraction: float = 0.05, generation: dict | None = None, tokenizer: str | None = None,
                      steps: list | None = None, sources: dict[str, dict] | None = None) -> Path:
    """Write chat-format SFT records ({id, messages: [{role, content}], category, ...}) as train/validation
    Parquet shards plus manifest into `release_dir` (which must not exist yet; the caller publishes it).
    `tokenizer`: a shipped name or tokenizer.json path (manifests.tokens); each row gets its `tokens`. A record's
    split follows its `prompt_group` when it has one (a prompt never in both splits), else its id.
    `sources`: name -> {kind, license, input_files} for the manifest's source list, counted over the kept records."""
    from manifests.schema import SftInfo

    by_split: dict[str, list[dict]] = {"train": [], "validation": []}
    categories: dict[str, int] = {}
    for i, rec in enumerate(records):
        msgs = rec.get("messages")
        if not isinstance(msgs, list) or not msgs or not all(
                isinstance(m, dict) and m.get("role") in SFT_ROLES and isinstance(m.get("content"), str) for m in msgs):
            raise ValueError(f"record {i} ({rec.get('id')}): messages must be a non-empty list of {{role, content}} with roles {sorted(SFT_ROLES)}")
        row = {"id": str(rec["id"]), "messages": [{"role": m["role"], "content": m["content"]} for m in msgs],
               "category": rec.get("category") or "unknown", "source": rec.get("source"),
               "metadata": json.dumps({k: v for k, v in rec.items() if k not in {"id", "messages", "category", "source"}},
                                      ensure_ascii=False, default=str)}
        by_split[split_of(str(rec.get("prompt_group") or row["id"]), validation_fraction)].append(row)
        categories[row["category"]] = categories.get(row["category"], 0) + 1
    counter = token_counter(tokenizer)
    shards = []
    for split, rows in by_split.items():
        if not rows:
            continue
        rows.sort(key=lambda r: r["id"])
        counts = counter.count_batch(["\n".join(m["content"] for m in r["messages"]) for r in rows]) if counter else [None] * len(rows)
        for row, n in zip(rows, counts):
            row["tokens"] = n
        shards.append(write_split_shard(release_dir, split, pa.Table.from_pylist(rows, schema=SFT_SCHEMA), counter))
    manifest = Manifest(name=name, kind="sft", version=version, created=now_utc(), content_hash=content_hash(shards),
                        tool_version=_tool_version(), git_commit=git_commit(), config=config,
                        config_hash=hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest(),
                        shards=shards, sources=sft_sources(by_split, sources or {}), steps=steps or [], rejects={},
                        totals=totals(shards), mixture_weights={},
                        tokenizer=tokenizer_info(counter),
                        sft=SftInfo(splits={s: len(r) for s, r in by_split.items()}, categories=dict(sorted(categories.items())),
                                    generation=generation or {}),
                        alerts=list((generation or {}).get("alerts", [])))
    return write_manifest(release_dir, manifest)


def sft_sources(by_split: dict[str, list[dict]], sources: dict[str, dict]) -> list:
    """One SourceSummary per source that fed the job (kept records, characters and tokens counted over the rows),
    plus any source a row names that was not declared."""
    from manifests.schema import InputFile, SourceSummary

    kept: dict[str, list[int]] = {}
    for rows in by_split.values():
        for row in rows:
            c = kept.setdefault(row["source"] or "unknown", [0, 0, 0])
            c[0] += 1
            c[1] += sum(len(m["content"]) for m in row["messages"])
            c[2] += row["tokens"] or 0
    out = []
    for name in sorted(set(sources) | set(kept)):
        info = sources.get(name, {})
        documents, characters, tokens = kept.get(name, [0, 0, 0])
        out.append(SourceSummary(name=name, kind=info.get("kind", "sft"), license=info.get("license"), weight=1.0, documents=documents,
                                 characters=characters, tokens=tokens if any(r["tokens"] is not None for rs in by_split.values() for r in rs) else None,
                                 input_files=[InputFile(**f) for f in info.get("input_files", [])]))
    return out


def _tool_version() -> str:
    """The installed twcurate's version (the package metadata, so manifests/ needs nothing from curation/)."""
    from importlib.metadata import version

    return version("twcurate")


LABELS_SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string()), ("source", pa.string()), ("score", pa.int64()),
                           ("reason", pa.string()), ("tokens", pa.int64())])


def write_labels_release(rows: list[dict], release_dir: Path, name: str, version: str, config: dict, info: dict,
                         tokenizer: str | None = None, alerts: list[str] | None = None) -> Path:
    """Write rated documents ({id, text, source, score, reason, part}) as `data/<part>/00000.parquet` (train, dev,
    test) plus a manifest of kind `labels` into `release_dir` (the caller publishes it)."""
    from manifests.schema import LabelsInfo

    counter = token_counter(tokenizer)
    shards, parts, scores = [], {}, {}
    for part in ("train", "dev", "test"):
        mine = sorted((r for r in rows if r["part"] == part), key=lambda r: r["id"])
        parts[part] = len(mine)
        if not mine:
            continue
        counts = counter.count_batch([r["text"] for r in mine]) if counter else [None] * len(mine)
        table = pa.Table.from_pylist([{**{k: r[k] for k in ("id", "text", "source", "score", "reason")}, "tokens": n}
                                      for r, n in zip(mine, counts)], schema=LABELS_SCHEMA)
        shards.append(write_split_shard(release_dir, part, table, counter))
    for r in rows:
        scores[str(r["score"])] = scores.get(str(r["score"]), 0) + 1
    manifest = Manifest(name=name, kind="labels", version=version, created=now_utc(), content_hash=content_hash(shards),
                        tool_version=_tool_version(), git_commit=git_commit(), config=config,
                        config_hash=hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest(),
                        shards=shards, sources=[], steps=[], rejects={}, totals=totals(shards), mixture_weights={},
                        tokenizer=tokenizer_info(counter),
                        labels=LabelsInfo(**info, parts=parts, scores=dict(sorted(scores.items()))), alerts=list(alerts or []))
    return write_manifest(release_dir, manifest)
