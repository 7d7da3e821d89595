"""Loading and verifying a release manifest.

`verify` trusts nothing the manifest says about itself: every file is re-hashed, the content hash recomputed, and every
number the files can give is counted again (documents, characters and tokens per shard, per source and in total; SFT
splits and categories; labels parts and scores; mixture weights from the sources' weights). What no file can give
(licenses, weights, config, step stats) is covered by `description_hash`, and for CPT releases by the config the
manifest records as well.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import posixpath
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pydantic import ValidationError

from manifests.counts import ShardCount, recount_shard
from manifests.schema import SCHEMA_VERSION, Manifest
from manifests.writer import MANIFEST_NAME, content_hash, description_hash, in_threads, sha256_file, sha256_stream


class ManifestError(ValueError):
    """A path that is not a release, or a manifest.json that cannot be read as one. The message is one line that names
    the path and never quotes the file (`curate manifest show /etc/passwd` must not print it)."""


class NotAReleaseError(ManifestError, FileNotFoundError):
    """No manifest at the path (also a FileNotFoundError, as `load` raised before)."""


def manifest_path(path: str | Path) -> Path:
    p = Path(path)
    return p / MANIFEST_NAME if p.is_dir() else p


def _read(path: str | Path) -> tuple[Path, str, Manifest]:
    """(manifest.json's path, its text, the validated Manifest); ManifestError with one line for anything else."""
    from manifests import storage

    if storage.is_url(path):  # a release in object storage: its manifest.json read whole (it is small)
        url = str(path) if str(path).endswith(".json") else storage.join(str(path), MANIFEST_NAME)
        try:
            text = storage.read_text(url)
        except FileNotFoundError:
            raise NotAReleaseError(f"{path}: not a release (no manifest.json)") from None
        except UnicodeDecodeError as e:
            raise ManifestError(f"{url}: not a release manifest (not UTF-8 at byte {e.start})") from None
        return url, text, _parse(url, text)
    p = manifest_path(path)
    if not p.exists():
        where = "no manifest.json" if Path(path).is_dir() else "no such file or directory"
        raise NotAReleaseError(f"{path}: not a release ({where})")
    if not p.is_file():
        raise ManifestError(f"{p}: not a release manifest (not a regular file)")
    with open(p, "rb") as fh:
        head = fh.read(4096)
    if not head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):  # a shard, /etc/passwd, a binary: say so without reading it all
        raise ManifestError(f"{p}: not a release manifest (not a JSON object)")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ManifestError(f"{p}: not a release manifest (not UTF-8 at byte {e.start})") from None
    return p, text, _parse(p, text)


def _parse(p: Path | str, text: str) -> Manifest:
    if not text.lstrip("\ufeff \t\r\n").startswith("{"):
        raise ManifestError(f"{p}: not a release manifest (not a JSON object)")
    try:
        manifest = Manifest.model_validate_json(text)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(map(str, first["loc"])) or "top"
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise ManifestError(f"{p}: not a valid release manifest: {first['msg'][:200]} at {loc}{more}") from None
    if manifest.schema_version > SCHEMA_VERSION:
        raise ManifestError(f"{p}: schema_version {manifest.schema_version} is newer than this tool reads ({SCHEMA_VERSION})")
    return manifest


def load(path: str | Path) -> Manifest:
    """Read a manifest (the file, or the release directory holding it). NotAReleaseError (a FileNotFoundError) when
    there is none, ManifestError (a ValueError) when the file is not a valid manifest."""
    return _read(path)[2]


@dataclass
class Verification:
    problems: list[str] = field(default_factory=list)  # what differs: the release is not what its manifest says
    notes: list[str] = field(default_factory=list)  # what this release gives no way to check (an older manifest)
    recomputed: list[str] = field(default_factory=list)  # what was counted again and matched, for the ok line


def _show(v) -> str:
    """A value in a message: None as absent, a sha256 whole and bare, other strings quoted (a license "")."""
    if v is None:
        return "absent"
    if isinstance(v, str) and not (len(v) == 64 and all(ch in "0123456789abcdef" for ch in v)):
        return repr(v)
    return str(v)


def differs(problems: list[str], what: str, in_manifest, recomputed, source: str) -> bool:
    if in_manifest == recomputed or (isinstance(in_manifest, float) and isinstance(recomputed, float)
                                     and abs(in_manifest - recomputed) < 1e-9):
        return False
    problems.append(f"{what}: manifest says {_show(in_manifest)}, recomputed {_show(recomputed)} from {source}")
    return True


def _compare_counts(problems: list[str], prefix: str, in_manifest: dict, recomputed: dict, source: str) -> None:
    """{key: count} against the recount, a key absent on one side counting 0 (the writers list zero parts and splits)."""
    for k in sorted(set(in_manifest) | set(recomputed), key=str):
        differs(problems, f"{prefix}.{k}", in_manifest.get(k, 0), recomputed.get(k, 0), source)


def check_numbers(manifest: Manifest, counts: dict[str, ShardCount], out: Verification) -> None:
    """Every number of the manifest that the shards give, against `counts` (shard path -> its recount)."""
    problems = out.problems
    tokens_checked = manifest.tokenizer is not None and all(c.tokens is not None for c in counts.values())
    for s in manifest.shards:
        c = counts[s.path]
        differs(problems, f"{s.path}: documents", s.documents, c.documents, "the shard")
        differs(problems, f"{s.path}: characters", s.characters, c.characters, "the shard")
        if manifest.tokenizer is not None and c.tokens is not None:
            differs(problems, f"{s.path}: tokens", s.tokens, c.tokens, "the shard")
        elif c.tokens_unchecked:
            out.notes.append(f"{s.path}: tokens not recomputed: {c.tokens_unchecked}")
        differs(problems, f"{s.path}: source", s.source, next(iter(c.sources)) if len(c.sources) == 1 else None, "the shard's rows")
        if manifest.kind in ("sft", "labels"):
            differs(problems, f"{s.path}: split", s.split, PurePosixPath(s.path).parent.name, "the shard's folder")

    # totals, the way manifests.writer.totals sums them
    totals = {"documents": sum(c.documents for c in counts.values()), "characters": sum(c.characters for c in counts.values()),
              "shards": len(manifest.shards)}
    if manifest.shards and manifest.tokenizer is not None and tokens_checked:
        totals["tokens"] = sum(c.tokens for c in counts.values())
    for k in ("documents", "characters", "shards", "tokens"):
        if k == "tokens" and manifest.tokenizer is not None and not tokens_checked:
            continue
        differs(problems, f"totals.{k}", manifest.totals.get(k), totals.get(k), "the shards")

    # per source: CPT sums the shards of each source (pipeline.build_manifest), SFT the rows (writer.sft_sources)
    if manifest.kind == "cpt":
        by_source = {}
        for s in manifest.shards:
            c = counts[s.path]
            one = next(iter(c.sources)) if len(c.sources) == 1 else None
            mine = by_source.setdefault(one, [0, 0, 0])
            mine[0] += c.documents
            mine[1] += c.characters
            mine[2] += c.tokens or 0
        for src in manifest.sources:
            documents, characters, tokens = by_source.get(src.name, [0, 0, 0])
            differs(problems, f"sources.{src.name}.documents", src.documents, documents, "its shards")
            differs(problems, f"sources.{src.name}.characters", src.characters, characters, "its shards")
            if manifest.tokenizer is not None and tokens_checked:
                differs(problems, f"sources.{src.name}.tokens", src.tokens, tokens, "its shards")
        # mixture_weights: each source's weight over the weights of the sources that kept a document
        weighted = {src.name: src.weight for src in manifest.sources if by_source.get(src.name, [0])[0]}
        total = sum(weighted.values()) or 1.0
        expected = {k: round(v / total, 6) for k, v in weighted.items()}
        for k in sorted(set(expected) | set(manifest.mixture_weights)):
            differs(problems, f"mixture_weights.{k}", manifest.mixture_weights.get(k), expected.get(k),
                     "the sources' weights and documents")
    else:
        for k in sorted(manifest.mixture_weights):  # SFT and labels releases have none
            differs(problems, f"mixture_weights.{k}", manifest.mixture_weights[k], None, f"the shards (a {manifest.kind} release has none)")
    if manifest.kind == "sft" and manifest.sources:  # older SFT releases list no sources
        rows: dict[str, list[int]] = {}
        for c in counts.values():
            for name, (documents, characters, tokens) in c.by_source.items():
                mine = rows.setdefault(name, [0, 0, 0])
                mine[0], mine[1], mine[2] = mine[0] + documents, mine[1] + characters, mine[2] + tokens
        any_tokens = any(c.row_tokens for c in counts.values())
        listed = {src.name for src in manifest.sources}
        for src in manifest.sources:
            documents, characters, tokens = rows.get(src.name, [0, 0, 0])
            differs(problems, f"sources.{src.name}.documents", src.documents, documents, "the rows of that source")
            differs(problems, f"sources.{src.name}.characters", src.characters, characters, "the rows of that source")
            differs(problems, f"sources.{src.name}.tokens", src.tokens, tokens if any_tokens else None, "the rows of that source")
        for name in sorted(set(rows) - listed):
            problems.append(f"sources: {rows[name][0]} row(s) of source {name!r}, which the manifest does not list")
    # SFT: documents per split and per category; labels: per part and per score
    for kind, info, per_shard, per_row in (("sft", manifest.sft, "splits", "categories"), ("labels", manifest.labels, "parts", "scores")):
        if info is None:
            continue
        by_split = Counter()
        for s in manifest.shards:
            by_split[s.split] += counts[s.path].documents
        _compare_counts(problems, f"{kind}.{per_shard}", getattr(info, per_shard), dict(by_split), "the shards")
        _compare_counts(problems, f"{kind}.{per_row}", getattr(info, per_row),
                        dict(sum((getattr(c, per_row) for c in counts.values()), Counter())), "the rows")
    per_source = ", per source" if manifest.kind == "cpt" or (manifest.kind == "sft" and manifest.sources) else ""
    out.recomputed.append(f"documents, characters{' and tokens' if tokens_checked else ''} per shard{per_source} and in total")
    out.recomputed.append("mixture weights" if manifest.kind == "cpt" else "splits and categories" if manifest.sft else
                          "parts and scores" if manifest.labels else "")
    out.recomputed[:] = [r for r in out.recomputed if r]


def check_description(manifest: Manifest, raw: dict, out: Verification) -> None:
    """What no file gives: the config against its hash, a CPT release's sources (license, weight, kind) against the
    config it was made with, and the whole description against `description_hash`."""
    problems = out.problems
    config = raw.get("config")
    recomputed = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()
    if not differs(problems, "config_hash", manifest.config_hash, recomputed, "config"):
        out.recomputed.append("config hash")
    configured = {s.get("name"): s for s in config.get("sources") or [] if isinstance(s, dict)} if manifest.kind == "cpt" else {}
    for src in manifest.sources if configured else []:
        conf = configured.get(src.name)
        if conf is None:
            continue
        for key in ("license", "weight", "kind"):
            if key in conf and conf[key] != getattr(src, key):
                problems.append(f"sources.{src.name}.{key}: manifest says {_show(getattr(src, key))}, "
                                f"the config it was made with says {_show(conf[key])}")
    if configured:
        out.recomputed.append("licenses and weights against the config")
    if manifest.description_hash is None:
        out.notes.append("description (licenses, weights, config, steps) not covered: this manifest was written before "
                         "description_hash" + ("; its sources' licenses and weights were checked against its config" if configured else ""))
        return
    if not differs(problems, "description_hash", manifest.description_hash, description_hash(raw),
                    "the manifest's description (sources, licenses, weights, totals, config, steps): manifest.json was edited "
                    "after it was written"):
        out.recomputed.append("description hash")


class LocalRelease:
    """The files of a release folder on disk, as `check_release` reads them."""

    def __init__(self, manifest: Path):
        self.root, self.manifest = manifest.parent.resolve(), manifest.resolve()

    def inside(self, rel: str) -> bool:
        return self.root in (self.root / rel).resolve().parents

    def size(self, rel: str) -> int | None:
        f = (self.root / rel).resolve()
        return f.stat().st_size if f.is_file() else None

    def sha256(self, rel: str) -> str:
        return sha256_file((self.root / rel).resolve())

    def parquet(self, rel: str):
        return contextlib.nullcontext(self.root / rel)

    def unlisted(self, folder: str, listed: list[str]) -> list[str]:
        """Files under `folder` ("" for all) that are neither in `listed` nor the manifest."""
        scope = self.root / folder if folder else self.root
        known = {(self.root / rel).resolve() for rel in listed} | {self.manifest}
        return [f.relative_to(self.root).as_posix() for f in sorted(scope.rglob("*")) if f.is_file() and f.resolve() not in known] \
            if scope.is_dir() else []


class StoredRelease:
    """The files of a release in object storage (`s3://...`): one listing gives names and sizes, each file is then
    streamed (hashed, and a shard read as Parquet) without a local copy."""

    def __init__(self, manifest_url: str):
        from manifests import storage

        root_url, self.manifest = manifest_url.rsplit("/", 1)
        self.fs, self.root = storage.filesystem(root_url)
        found = self.fs.find(self.root, detail=True) if self.fs.exists(self.root) else {}
        self.sizes = {p[len(self.root) + 1:]: info.get("size") for p, info in found.items() if p.startswith(self.root + "/")}

    def inside(self, rel: str) -> bool:
        norm = posixpath.normpath(rel)
        return not (norm == ".." or norm.startswith(("../", "/")))

    def size(self, rel: str) -> int | None:
        return self.sizes.get(posixpath.normpath(rel))

    def sha256(self, rel: str) -> str:
        with self.parquet(rel) as fh:
            return sha256_stream(fh)

    def parquet(self, rel: str):
        return self.fs.open(f"{self.root}/{posixpath.normpath(rel)}", "rb")

    def unlisted(self, folder: str, listed: list[str]) -> list[str]:
        known = {posixpath.normpath(rel) for rel in listed} | {self.manifest}
        return sorted(r for r in self.sizes if (not folder or r.startswith(folder + "/")) and r not in known)


def check_release(path: str | Path, expect_content_hash: str | None = None) -> Verification:
    """Re-hash every shard and every other listed file (dedup index and clusters, stats, rejects, exports), recompute
    the content hash and every number the shards give, check the description against its hash. `problems` is empty
    when the release is intact; `notes` says what this manifest gives no way to check. `path` may be a release in
    object storage (`s3://...`), read in place."""
    from manifests import storage

    p, text, manifest = _read(path)
    files = StoredRelease(str(p)) if storage.is_url(p) else LocalRelease(p)
    out = Verification()
    problems = out.problems
    entries = [(s, "shard") for s in manifest.shards] + [(f, "file") for f in manifest.files]
    to_hash = []  # (entry, what)
    for entry, what in entries:
        inside = files.inside(entry.path)
        size = files.size(entry.path) if inside else None
        if not inside:
            problems.append(f"{entry.path}: points outside the release")
        elif size is None:
            problems.append(f"{entry.path}: {what} missing")
        elif size != entry.bytes:
            problems.append(f"{entry.path}: {what} size {size} != {entry.bytes} in manifest")
        else:
            to_hash.append((entry, what))
    actual = {}  # shard path -> sha256 of the file as it is now
    for (entry, what), digest in zip(to_hash, in_threads(lambda t: files.sha256(t[0].path), to_hash)):
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
            problems.append(f"content hash of the shards is {recomputed}, manifest says {manifest.content_hash}")
        if expect_content_hash and recomputed != expect_content_hash:
            problems.append(f"content hash of the shards is {recomputed}, not the expected {expect_content_hash}")
    # schema 1 manifests listed shards only: for them, only data/ can be checked for unlisted files
    for rel in files.unlisted("" if manifest.schema_version >= 2 else "data", [entry.path for entry, _ in entries]):
        problems.append(f"{rel}: {'shard' if rel.startswith('data/') else 'file'} not in manifest")
    # the numbers, from shards whose bytes are the listed ones (a changed shard is named above; its counts would only
    # repeat that)
    intact = [s for s in manifest.shards if actual.get(s.path) == s.sha256]
    countable = [s for s in intact if s.format == "parquet"]
    if len(countable) == len(manifest.shards):
        def recount(s):
            try:
                with files.parquet(s.path) as shard:
                    return recount_shard(shard, manifest.tokenizer, rows_by_source=manifest.kind == "sft")
            except Exception as e:  # the bytes are the listed ones, but not a Parquet file this reader can read
                return f"{s.path}: shard unreadable as Parquet ({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''})"
        counted = dict(zip((s.path for s in countable), in_threads(recount, countable)))
        if unreadable := [c for c in counted.values() if isinstance(c, str)]:
            problems += unreadable
        else:
            check_numbers(manifest, counted, out)
    elif len(intact) == len(manifest.shards):
        out.notes.append("numbers not recomputed: the release has shards that are not Parquet")
    check_description(manifest, json.loads(text), out)
    return out


def verify_release(path: str | Path, expect_content_hash: str | None = None) -> list[str]:
    """What `check_release` finds wrong (empty when the release is intact): missing, changed or unlisted files, a
    number the shards do not give, a description that no longer matches its hash. (`manifests.verify` takes a
    mixture too.)"""
    return check_release(path, expect_content_hash).problems
