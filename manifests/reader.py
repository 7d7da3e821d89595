"""Loading and verifying a release manifest."""

from __future__ import annotations

from pathlib import Path

from manifests.schema import SCHEMA_VERSION, Manifest
from manifests.writer import MANIFEST_NAME, sha256_file


def manifest_path(path: str | Path) -> Path:
    p = Path(path)
    return p / MANIFEST_NAME if p.is_dir() else p


def load(path: str | Path) -> Manifest:
    """Read a manifest (the file, or the release directory holding it)."""
    p = manifest_path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no manifest here")
    manifest = Manifest.model_validate_json(p.read_text(encoding="utf-8"))
    if manifest.schema_version > SCHEMA_VERSION:
        raise ValueError(f"{p}: schema_version {manifest.schema_version} is newer than this tool reads ({SCHEMA_VERSION})")
    return manifest


def verify(path: str | Path) -> list[str]:
    """Re-hash every shard; return a list of problems (empty when the release is intact)."""
    p = manifest_path(path)
    release = p.parent.resolve()
    manifest = load(p)
    problems = []
    listed = set()
    for shard in manifest.shards:
        f = (release / shard.path).resolve()
        listed.add(f)
        if release not in f.parents:
            problems.append(f"{shard.path}: points outside the release")
        elif not f.is_file():
            problems.append(f"{shard.path}: missing")
        elif f.stat().st_size != shard.bytes:
            problems.append(f"{shard.path}: size {f.stat().st_size} != {shard.bytes} in manifest")
        elif sha256_file(f) != shard.sha256:
            problems.append(f"{shard.path}: sha256 differs from manifest")
    data_dir = release / "data"
    if data_dir.is_dir():
        for f in sorted(data_dir.rglob("*")):
            if f.is_file() and f.resolve() not in listed:
                problems.append(f"{f.relative_to(release).as_posix()}: shard not in manifest")
    return problems
