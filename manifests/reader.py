"""Loading and verifying a release manifest."""

from __future__ import annotations

from pathlib import Path

from manifests.schema import SCHEMA_VERSION, Manifest
from manifests.writer import MANIFEST_NAME, content_hash, sha256_file


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


def verify_release(path: str | Path, expect_content_hash: str | None = None) -> list[str]:
    """Re-hash every shard and every other listed file (dedup index and clusters, stats, rejects, exports);
    return a list of problems (empty when the release is intact): missing, changed or unlisted files.
    (`manifests.verify` takes a mixture too.)"""
    p = manifest_path(path)
    release = p.parent.resolve()
    manifest = load(p)
    problems = []
    listed = set()
    actual = {}  # shard path -> sha256 of the file as it is now
    for entry, what in [(s, "shard") for s in manifest.shards] + [(f, "file") for f in manifest.files]:
        f = (release / entry.path).resolve()
        listed.add(f)
        if release not in f.parents:
            problems.append(f"{entry.path}: points outside the release")
        elif not f.is_file():
            problems.append(f"{entry.path}: {what} missing")
        elif f.stat().st_size != entry.bytes:
            problems.append(f"{entry.path}: {what} size {f.stat().st_size} != {entry.bytes} in manifest")
        else:
            digest = sha256_file(f)
            if what == "shard":
                actual[entry.path] = digest
            if digest != entry.sha256:
                problems.append(f"{entry.path}: {what} sha256 differs from manifest")
    # the content hash from the files themselves: a shard changed together with its sha256 in manifest.json passes the
    # per-file check above but not this one
    if len(actual) == len(manifest.shards):
        recomputed = content_hash([s.model_copy(update={"sha256": actual[s.path]}) for s in manifest.shards])
        entries_match = all(actual[s.path] == s.sha256 for s in manifest.shards)  # else the shard is already named above
        if recomputed != manifest.content_hash and entries_match:
            problems.append(f"content hash of the shards is {recomputed[:16]}…, manifest says {manifest.content_hash[:16]}…")
        if expect_content_hash and recomputed != expect_content_hash:
            problems.append(f"content hash of the shards is {recomputed[:16]}…, not the expected {expect_content_hash[:16]}…")
    # schema 1 manifests listed shards only: for them, only data/ can be checked for unlisted files
    scope = release if manifest.schema_version >= 2 else release / "data"
    if scope.is_dir():
        for f in sorted(scope.rglob("*")):
            if f.is_file() and f.resolve() not in listed and f.resolve() != p.resolve():
                rel = f.relative_to(release).as_posix()
                problems.append(f"{rel}: {'shard' if rel.startswith('data/') else 'file'} not in manifest")
    return problems
