"""`curate exclude RELEASE (--ids FILE | --urls FILE | --token-range A:B --export DIR) --reason TEXT`: a new version of
a CPT release without the named documents (a takedown request for copyright or personal data; data behind a loss spike:
the documents whose tokens overlap A..B of an export of the release, found through the export's index), under the same rules as any
release (ReleaseBuild). Shards that hold none of them are hard-linked, not rewritten; the others are rewritten
without them. The new manifest records the exclusion in its lineage (`exclusions`) and the release keeps the lists
(exclusions/ids.txt, urls.txt, its parent's included), so incremental runs from it keep those documents out."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.errors import CurateError, UsageError
from curation.release import ReleaseBuild
from filters.base import StatName
from filters.exclusions import EXCLUSIONS_DIR, read_exclusions

EXCLUDED = StatName("dropped", "excluded")


def read_list(path: Path | None) -> list[str]:
    if path is None:
        return []
    if not path.is_file():
        raise UsageError(f"{path}: file not found")
    return [x.strip() for x in path.read_text(encoding="utf-8").splitlines() if x.strip() and not x.startswith("#")]


def link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another filesystem
        shutil.copy2(src, dst)


def ids_in_range(release: Path, manifest, token_range: str, export: Path) -> tuple[list[str], str]:
    """The ids of RELEASE's documents whose tokens overlap `token_range` of `export` (an export of this very release,
    or of a mixture pinning it), and the sha256 of the export's export.json."""
    from manifests.export import ExportError, export_sha256, load_export, locate, parse_range

    try:
        start, end = parse_range(token_range)
        exported = load_export(export)
        found = locate(export, start, end)
    except ExportError as e:
        raise UsageError(str(e)) from None
    label = f"{manifest.name} {manifest.version}"
    pinned = {(f.release, f.release_content_hash) for f in exported.files}
    if (label, manifest.content_hash) not in pinned:
        raise UsageError(f"{export}: an export of {exported.name} {exported.version} (content {exported.content_hash[:12]}…), "
                         f"not of {release} ({label}, content {manifest.content_hash[:12]}…): its token offsets say nothing here")
    if found.num_rows == 0:
        total = exported.totals["tokens"]
        raise UsageError(f"--token-range {token_range}: no document there (the export holds tokens 0:{total})")
    mine = [i for i, r in zip(found.column("id").to_pylist(), found.column("release").to_pylist()) if r == label]
    if not mine:
        raise UsageError(f"--token-range {token_range}: its documents come from other releases of the mixture, none from {label}")
    return sorted(set(mine)), export_sha256(export)


def run_exclude(release: Path, ids_file: Path | None, urls_file: Path | None, reason: str, version: str = "auto",
                force: bool = False, token_range: str | None = None, export: Path | None = None) -> Path:
    import manifests
    from manifests.schema import ExclusionInfo, StepStats
    from manifests.writer import content_hash, describe_shard, now_utc, seal_release, totals, write_manifest

    release = Path(release).resolve()
    export = Path(export).resolve() if export is not None else None  # the manifest records where it is, not how it was typed
    parent = manifests.load(release)
    if parent.kind != "cpt":
        raise UsageError(f"{release}: curate exclude takes a CPT release (this one is {parent.kind})")
    if problems := manifests.verify(release):
        raise CurateError(f"{release}: release does not match its manifest ({problems[0]}); nothing excluded")
    ids, urls = read_list(ids_file), read_list(urls_file)
    listed_ids = len(ids)
    if (token_range is None) != (export is None):
        raise UsageError("curate exclude: --token-range A:B and --export DIR go together")
    range_ids, export_digest = ids_in_range(release, parent, token_range, export) if token_range else ([], None)
    ids += range_ids
    if not ids and not urls:
        raise UsageError("curate exclude: give --ids FILE and/or --urls FILE with at least one entry, or --token-range with --export")
    request = hashlib.sha256(("\n".join(sorted(ids)) + "\0" + "\n".join(sorted(urls))).encode()).hexdigest()
    id_set, url_set = pa.array(sorted(set(ids)), pa.string()), pa.array(sorted(set(urls)), pa.string())
    with ReleaseBuild(release.parent.parent, parent.name, version, force=force) as build:
        build.prepare()
        staging = build.staging
        for f in sorted(release.rglob("*")):  # everything but the manifest and shards: stats, rejects, dedup index
            rel = f.relative_to(release).as_posix()
            if f.is_file() and rel != "manifest.json" and rel not in {s.path for s in parent.shards}:
                link_or_copy(f, staging / rel)
        shards, removed, by_source = [], [], {}
        for shard in parent.shards:
            table = pq.read_table(release / shard.path)
            gone = pc.is_in(table.column("id"), value_set=id_set)
            if "url" in table.column_names:
                gone = pc.or_(gone, pc.fill_null(pc.is_in(table.column("url"), value_set=url_set), False))
            n = int(pc.sum(gone).as_py() or 0)
            counts = by_source.setdefault(shard.source or "unknown", {"in": 0, "kept": 0, EXCLUDED.name: 0})
            counts["in"] += shard.documents
            counts["kept"] += shard.documents - n
            counts[EXCLUDED.name] += n
            if n == 0:  # untouched: the same file, hard-linked
                link_or_copy(release / shard.path, staging / shard.path)
                shards.append(shard)
                continue
            removed += table.filter(gone).column("id").to_pylist()
            kept = table.filter(pc.invert(gone))
            (staging / shard.path).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(kept.replace_schema_metadata(table.schema.metadata), staging / shard.path)
            # the writer's per-document token counts travel with the rows: the shard's tokens are their sum
            tokens = int(pc.sum(kept.column("tokens")).as_py() or 0) if shard.tokens is not None else None
            shards.append(describe_shard(staging, staging / shard.path).model_copy(update={"path": shard.path, "tokens": tokens}))
        if not removed:
            raise CurateError(f"{release}: none of the {len(ids)} ids and {len(urls)} URLs is in the release; nothing published")
        old_ids, old_urls = read_exclusions(release)
        (staging / EXCLUSIONS_DIR).mkdir(parents=True, exist_ok=True)
        (staging / EXCLUSIONS_DIR / "ids.txt").unlink(missing_ok=True)  # hard-linked from the parent: write anew
        (staging / EXCLUSIONS_DIR / "urls.txt").unlink(missing_ok=True)
        (staging / EXCLUSIONS_DIR / "ids.txt").write_text("".join(f"{x}\n" for x in sorted(old_ids | set(ids))), encoding="utf-8")
        (staging / EXCLUSIONS_DIR / "urls.txt").write_text("".join(f"{x}\n" for x in sorted(old_urls | set(urls))), encoding="utf-8")
        sources = []
        for src in parent.sources:
            mine = [s for s in shards if s.source == src.name]
            sources.append(src.model_copy(update={"documents": sum(s.documents for s in mine), "characters": sum(s.characters for s in mine),
                                                  "tokens": sum(s.tokens or 0 for s in mine) if src.tokens is not None else None}))
        weighted = {s.name: s.weight for s in sources if s.documents}
        total_weight = sum(weighted.values()) or 1.0
        step = StepStats(step="exclude", input=sum(c["in"] for c in by_source.values()), kept=sum(c["kept"] for c in by_source.values()),
                         dropped=len(removed), dropped_by_reason={"excluded": len(removed)}, by_source=by_source)
        info = ExclusionInfo(version=build.version, created=now_utc(), reason=reason, ids_requested=listed_ids, urls_requested=len(urls),
                             removed=len(removed), request_sha256=request, token_range=token_range,
                             export=str(export) if export else None, export_sha256=export_digest,
                             range_documents=len(range_ids) if token_range else None)
        manifest = parent.model_copy(update={
            "version": build.version, "created": now_utc(), "shards": shards, "content_hash": content_hash(shards), "totals": totals(shards),
            "sources": sources, "mixture_weights": {k: round(v / total_weight, 6) for k, v in weighted.items()},
            "steps": [*parent.steps, step], "parent": os.path.relpath(release, build.layout.final), "increment": None,
            "exclusions": [*parent.exclusions, info], "files": [], "alerts": []})
        write_manifest(staging, manifest)
        from curation.stats import write_stats

        shutil.rmtree(staging / "stats", ignore_errors=True)  # hard-linked from the parent: never written through
        write_stats(staging, manifest)
        seal_release(staging)
        path = build.publish()
    asked = f"{listed_ids} ids, {len(urls)} URLs" + (f", {len(range_ids)} documents in tokens {token_range}" if token_range else "")
    print(f"excluded {len(removed)} documents ({asked} asked); "
          f"{sum(1 for s in shards if s in parent.shards)} of {len(shards)} shards hard-linked", flush=True)
    return path
