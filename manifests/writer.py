"""Builds a manifest from a finished release directory (hashing what is really on disk) and writes it."""

from __future__ import annotations

import hashlib
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pyarrow.parquet as pq

from manifests.schema import InputFile, Manifest, Shard

MANIFEST_NAME = "manifest.json"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def describe_shard(release_dir: Path, path: Path) -> Shard:
    table = pq.read_table(path, columns=["text", "source"])
    chars = sum(len(t) for t in table.column("text").to_pylist())
    sources = set(table.column("source").to_pylist())
    return Shard(path=path.relative_to(release_dir).as_posix(), format="parquet", sha256=sha256_file(path),
                 bytes=path.stat().st_size, documents=table.num_rows, characters=chars,
                 source=sources.pop() if len(sources) == 1 else None)


def describe_input(path: Path) -> InputFile:
    return InputFile(path=str(path), bytes=path.stat().st_size, sha256=sha256_file(path))


def content_hash(shards: list[Shard]) -> str:
    h = hashlib.sha256()
    for s in sorted(shards, key=lambda s: s.path):
        h.update(f"{s.path}\t{s.sha256}\n".encode())
    return h.hexdigest()


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def now_utc() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def write_manifest(release_dir: Path, manifest: Manifest) -> Path:
    path = release_dir / MANIFEST_NAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
    tmp.replace(path)
    return path
