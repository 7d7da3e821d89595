"""Object storage (`s3://`, `gs://`, any fsspec URL) for a job's sources and its output folder.

Local paths never come here: every helper that takes a path leaves a local one to the code that handled it before,
so a local job reads and writes exactly as it did. A URL goes through fsspec (datatrove's own I/O layer); credentials
come from the environment the way the filesystem's library reads them (for S3: AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL or AWS_PROFILE), never from the job file.

An output URL is staged: the job runs in a local folder (`staging_root`) and only the finished release is uploaded,
its manifest.json last (`upload_release`). This module sits with the manifests because `verify` and `load` read
releases in a bucket, and the manifests package must not import the curation package above it.
"""

from __future__ import annotations

import errno
import functools
import os
import re
from pathlib import Path, PurePosixPath

MANIFEST_NAME = "manifest.json"
URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# written into a local staging folder: the output URL the folder stages for (a Slurm finalize job or a later
# `--resume` finds its way back to the bucket from the folder alone)
STAGED_FOR = ".staged-for"


def is_url(path: object) -> bool:
    """An fsspec URL other than a plain `file://` one (which is a local path)."""
    text = str(path)
    return bool(URL.match(text)) and not text.startswith("file://")


def filesystem(url: str):
    """(fsspec filesystem, path inside it) for `url`. For S3, missing credentials are one clear error here, before
    the first request fails deep inside botocore."""
    import fsspec

    # no cached listings: one process may list a folder, see another process publish into it and then read it again
    # (run_job then verify, or two runs): a cached listing would call the new release's files missing
    fs, path = fsspec.core.url_to_fs(url, use_listings_cache=False)
    if "s3" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)) and not _s3_credentials():
        raise PermissionError(errno.EACCES, "no S3 credentials: export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                                            "(or AWS_PROFILE); for an S3-compatible server also AWS_ENDPOINT_URL", url)
    return fs, path


@functools.cache
def _s3_credentials() -> bool:
    import botocore.session

    return botocore.session.Session().get_credentials() is not None


def join(url: str, *parts: str) -> str:
    return "/".join([url.rstrip("/"), *(p.strip("/") for p in parts)])


def _url(fs, path: str) -> str:
    return fs.unstrip_protocol(path)


def list_files(pattern: str) -> list[str]:
    """The files (not folders) a glob URL matches, sorted, as URLs; `**` spans folders as in `glob(recursive=True)`."""
    fs, path = filesystem(pattern)
    if not any(ch in path for ch in "*?["):
        return [_url(fs, path)] if fs.isfile(path) else []
    found = fs.glob(path, detail=True)
    fixed = path[: min(path.find(ch) for ch in "*?[" if ch in path)].rpartition("/")[0]
    explicit_dot = "/." in "/" + path[len(fixed):]

    def hidden(p: str) -> bool:  # as in glob.glob: a wildcard does not match a name starting with a dot
        return not explicit_dot and any(part.startswith(".") for part in p[len(fixed):].strip("/").split("/"))

    # in the order of the parts, as a local source's sorted Paths are (not as strings: "a-b/x" < "a/x", yet a < a-b), so
    # the same files in a bucket make the same shards and content hash
    kept = [p for p, info in found.items() if info.get("type") == "file" and not hidden(p)]
    return [_url(fs, p) for p in sorted(kept, key=lambda p: PurePosixPath(p).parts)]


def open_input(path: str, mode: str = "rb"):
    """An open binary file: the built-in `open` for a local path, fsspec's for a URL."""
    if not is_url(path):
        return open(path, mode)
    fs, p = filesystem(path)
    return fs.open(p, mode)


def size(path: str) -> int:
    if not is_url(path):
        return Path(path).stat().st_size
    fs, p = filesystem(path)
    return int(fs.size(p))


def version_key(path: str) -> str:
    """What changes when the file does: size and modification time locally, size and ETag (else the modification
    time) in a bucket."""
    if not is_url(path):
        st = os.stat(path)
        return f"{st.st_size}\0{st.st_mtime_ns}"
    fs, p = filesystem(path)
    info = fs.info(p)
    return f"{info.get('size')}\0{info.get('ETag') or info.get('LastModified') or info.get('mtime')}"


def exists(url: str) -> bool:
    fs, p = filesystem(url)
    return fs.exists(p)


def read_text(url: str) -> str:
    fs, p = filesystem(url)
    return fs.cat_file(p).decode("utf-8")


# -- releases in a bucket ---------------------------------------------------------------------------------------
def staging_root(url: str) -> Path:
    """The local folder a job whose output is `url` runs in (work folders, run logs, the release before upload):
    `$CURATE_STAGING/<scheme>/<bucket and prefix>`, by default under ~/.cache/twcurate/staging. Only the path:
    `prepare_staging` creates it."""
    base = Path(os.environ.get("CURATE_STAGING") or Path.home() / ".cache" / "twcurate" / "staging").expanduser()
    scheme, rest = url.split("://", 1)
    return base / scheme / rest.strip("/")


def prepare_staging(url: str) -> Path:
    """`staging_root(url)`, created and marked with the URL (`staged_for`), before a run writes there."""
    root = staging_root(url)
    root.mkdir(parents=True, exist_ok=True)
    marker = root / STAGED_FOR
    if not marker.is_file() or marker.read_text(encoding="utf-8") != url.rstrip("/"):
        marker.write_text(url.rstrip("/"), encoding="utf-8")
    return root


def staged_for(output: Path) -> str | None:
    """The output URL a local staging folder stands for, or None for an ordinary local output folder."""
    marker = Path(output) / STAGED_FOR
    return marker.read_text(encoding="utf-8").strip() if marker.is_file() else None


def released_versions(url: str, name: str, marker: str = MANIFEST_NAME) -> list[str]:
    """The version folders under `url/name` that hold `marker`: a folder without it is an upload that did not finish."""
    fs, root = filesystem(join(url, name))
    if not fs.isdir(root):
        return []
    found = []
    for entry in fs.ls(root, detail=True, refresh=True):
        if entry.get("type") == "directory" and fs.isfile(f"{entry['name'].rstrip('/')}/{marker}"):
            found.append(entry["name"].rstrip("/").rsplit("/", 1)[-1])
    return found


def upload_release(local: Path, url: str, marker: str = MANIFEST_NAME) -> None:
    """Put the finished release folder `local` at `url` so that no reader ever takes half of it for a release.

    S3 has no rename, and a listing may show some objects of an upload and not others; what it does have is that one
    PUT is atomic: an object is there whole or not at all. Readers (`released_versions`, `load`, `verify`) take a
    folder for a release only when `marker` (manifest.json) is in it, and the marker is uploaded last, only after a
    listing of the bucket has shown every other file there at its size. Before that: the marker of a release being
    replaced (--force) is deleted first, so the old release stops counting before any of its files change, and objects
    an earlier, stopped upload left that are not part of this release are deleted."""
    files = sorted(p for p in local.rglob("*") if p.is_file())
    names = {p.relative_to(local).as_posix(): p for p in files}
    if marker not in names:
        raise FileNotFoundError(f"{local}: no {marker}; not a finished release")
    try:
        _upload(local, url, names, marker)
    except (OSError, ValueError) as e:  # s3fs turns the store's refusals (no bucket, access denied) into these
        raise OSError(errno.EIO, f"upload failed ({_one_line(e)}); {marker} not written, so there is no release here; "
                                 f"the finished release stays in {local}: run again with --resume", url) from e


def _one_line(e: BaseException) -> str:  # curation.errors.one_line is above this package
    return " ".join(str(e).split()) or type(e).__name__


def _upload(local: Path, url: str, names: dict[str, Path], marker: str) -> None:
    fs, root = filesystem(url)
    if fs.exists(f"{root}/{marker}"):
        fs.rm_file(f"{root}/{marker}")
    stale = [p for p in (fs.find(root) if fs.exists(root) else []) if p.startswith(root + "/") and p[len(root) + 1:] not in names]
    if stale:
        fs.rm(stale)
    rest = [rel for rel in names if rel != marker]
    if rest:
        fs.put([str(names[rel]) for rel in rest], [f"{root}/{rel}" for rel in rest])
    fs.invalidate_cache(root)
    there = {p[len(root) + 1:]: info.get("size") for p, info in fs.find(root, detail=True).items() if p.startswith(root + "/")}
    missing = [rel for rel in rest if there.get(rel) != names[rel].stat().st_size]
    if missing:
        raise OSError(f"{len(missing)} file(s) not in the bucket at their size after the upload (first: {missing[0]})")
    fs.put_file(str(names[marker]), f"{root}/{marker}")


def download(url: str, local: Path) -> Path:
    """Every object under `url` into the folder `local`: the parent release an incremental run carries and dedups
    against, which that code reads from disk."""
    fs, root = filesystem(url)
    objects = [p for p in fs.find(root) if p.startswith(root + "/")]
    targets = [local / p[len(root) + 1:] for p in objects]
    for t in {t.parent for t in targets} | {local}:
        t.mkdir(parents=True, exist_ok=True)
    if objects:
        fs.get(objects, [str(t) for t in targets])
    return local
