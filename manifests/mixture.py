"""Token-budget mixtures: what a training stage consumes when it trains on several releases at once.

A mixture pins releases (CPT or SFT) by content hash and says, per component (a CPT release's source, or an SFT
release's split), exactly which shards it draws from and how many documents and tokens it contributes. The
documents are chosen by a rule, not listed: order a component's documents by sha256(f"{seed}:{id}"), take whole
passes over all of them (epochs), then the longest prefix of that order that fits the remaining token budget. The
loader applies the same rule and refuses a mixture whose counts it cannot reproduce.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from manifests.reader import load, verify_release
from manifests.schema import Manifest, Model, TokenizerInfo

MIXTURE_NAME = "mixture.json"
# 2: `licenses` per component and for the whole mixture, `notes` (a non-commercial license); both default to empty, so
#    a schema-1 mixture still reads (its licenses unknown)
MIXTURE_SCHEMA_VERSION = 2
UNSTATED = "(not stated)"  # the key `licenses` gives a source whose release records no license
ORDER_RULE = "sha256(f'{seed}:{id}') ascending; whole passes for whole epochs, then the longest prefix within the rest of the budget"


class MixSpecError(ValueError):
    """The mix asks for something its releases do not have (a source, a split, a budget rule): a usage error, not
    a data one."""


class Share(BaseModel):
    """How much of a component goes into the mixture: `epochs` (passes over it, fractions allowed), `tokens`
    (an absolute budget) or `weight` (a share of the mixture's `total_tokens`, normalized among the components that
    give a weight); `max_tokens` caps any of them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    epochs: float | None = Field(default=None, ge=0)
    tokens: int | None = Field(default=None, ge=0)
    weight: float | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_budget(self) -> "Share":
        given = [k for k in ("epochs", "tokens", "weight") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of epochs, tokens, weight (got {', '.join(given)})")
        return self


class PinnedShard(Model):
    path: str  # inside its release
    sha256: str
    documents: int
    tokens: int


class Component(Model):
    release: str  # "<name> <version>"
    path: str  # the release directory, relative to the mixture directory
    content_hash: str  # the release's content hash at mixing time: the pin
    kind: str  # cpt | sft
    source: str | None = None  # CPT: the source
    split: str | None = None  # SFT: train | validation
    shards: list[PinnedShard]
    available_documents: int
    available_tokens: int
    requested: Share
    target_tokens: int
    documents: int  # chosen, counting repeats
    tokens: int  # contributed, counting repeats
    epochs: float  # tokens / available_tokens
    weight: float  # tokens / all tokens of the mixture
    licenses: dict[str, str | None] = {}  # schema 2: source -> license of every source this component's rows come from


class MixtureManifest(Model):
    schema_version: int = MIXTURE_SCHEMA_VERSION
    kind: str = "mixture"
    name: str
    version: str
    created: str
    seed: int
    order: str = ORDER_RULE
    tokenizer: TokenizerInfo
    total_tokens: int | None  # the budget `weight` shares divide, when given
    components: list[Component]
    totals: dict[str, int]
    content_hash: str  # sha256 over the pins and the choice: what a training run trained on
    config: dict
    tool_version: str
    licenses: dict[str, list[str]] = {}  # schema 2: license (or UNSTATED) -> the components ("demo/laws") carrying it
    notes: list[str] = []  # schema 2: what a user of the mixture must see, e.g. a component under a non-commercial license


NON_COMMERCIAL = re.compile(r"(?<![a-z])nc(?![a-z])|non-?\s?commercial", re.IGNORECASE)


def non_commercial(license: str | None) -> bool:
    """Whether a license string names a non-commercial license: CC BY-NC 4.0, cc-by-nc-sa-4.0, "non-commercial"."""
    return bool(license and NON_COMMERCIAL.search(license))


def component_licenses(manifest: Manifest, source: str | None, table: pa.Table) -> dict[str, str | None]:
    """License of every source a component's rows come from: a CPT component's one source, or each source of an SFT
    split's rows (an imported set, a generated task; rows of an older release that name none count as `generated`)."""
    from manifests.sft import source_licenses

    found = source_licenses(manifest)
    names = [source] if source else sorted({s or "generated" for s in table.column("source").to_pylist()})
    return {name: found.get(name) for name in names}


def license_notes(components: list[tuple[str, "Component"]]) -> tuple[dict[str, list[str]], list[str]]:
    """(license -> components carrying it, notes): one note per component with a non-commercial license, so no one
    trains a commercial model on it without seeing that."""
    by_license: dict[str, list[str]] = {}
    notes = []
    for label, c in components:
        for source, lic in c.licenses.items():
            by_license.setdefault(lic or UNSTATED, [])
            if label not in by_license[lic or UNSTATED]:
                by_license[lic or UNSTATED].append(label)
            if non_commercial(lic) and c.documents:
                notes.append(f"{label}: source {source} is under a non-commercial license ({lic}): "
                             f"use this mixture only where non-commercial use is allowed")
    return dict(sorted(by_license.items())), notes


def order_key(seed: int, doc_id: str) -> bytes:
    return hashlib.sha256(f"{seed}:{doc_id}".encode()).digest()


def choose(ids: list[str], tokens: list[int], target: int, seed: int) -> list[int]:
    """Row indices (repeats allowed) of the documents the rule picks for a `target` token budget."""
    order = sorted(range(len(ids)), key=lambda i: order_key(seed, ids[i]))
    available = sum(tokens)
    if available == 0:
        return []
    passes, rest = divmod(target, available)
    chosen = order * passes
    spent = 0
    for i in order:
        if spent + tokens[i] > rest:
            break
        spent += tokens[i]
        chosen.append(i)
    return chosen


def component_rows(release_dir: Path, manifest: Manifest, shards: list) -> pa.Table:
    """id, tokens and the training columns of a component's shards, in shard order."""
    columns = ["id", "tokens", "text", "source"] if manifest.kind == "cpt" else ["id", "tokens", "messages", "source"]
    tables = [pq.read_table(release_dir / s.path, columns=columns) for s in shards]
    if not tables:  # a source with no document (every one filtered): an empty component, not a crash
        schema = pa.schema([("id", pa.string()), ("tokens", pa.int64()), (columns[2], pa.string()), ("source", pa.string())])
        return schema.empty_table()
    table = pa.concat_tables(tables)
    if table.column("tokens").null_count:
        raise ValueError(f"{release_dir}: shards have no per-document token counts (release made with `tokenizer: none` "
                         f"or before schema 3): release it again with a tokenizer to mix it by tokens")
    return table


def contribution(release_dir: Path, manifest: Manifest, shards: list, share: Share, seed: int, total_tokens: int | None,
                 weight_sum: float) -> tuple[pa.Table, dict]:
    """A component's rows and what the rule makes of them: its available documents and tokens, the target (`tokens`,
    else its `weight` of `total_tokens`, else `epochs` passes, capped by `max_tokens`), the documents and tokens chosen
    and the epochs they make. Building a mixture and verifying one both count this way."""
    table = component_rows(release_dir, manifest, shards)
    ids, tokens = table.column("id").to_pylist(), table.column("tokens").to_pylist()
    available = sum(tokens)
    if share.tokens is not None:
        target = share.tokens
    elif share.weight is not None:
        target = round((total_tokens or 0) * share.weight / weight_sum) if weight_sum else 0
    else:
        target = round(available * (1.0 if share.epochs is None else share.epochs))
    if share.max_tokens is not None:
        target = min(target, share.max_tokens)
    chosen = choose(ids, tokens, target, seed)
    got = sum(tokens[i] for i in chosen)
    return table, {"available_documents": len(ids), "available_tokens": available, "target_tokens": target,
                   "documents": len(chosen), "tokens": got, "epochs": round(got / available, 6) if available else 0.0}


def mixture_hash(seed: int, components: list[Component]) -> str:
    """The content hash: the seed and, per component, the pinned release and what it contributed."""
    h = hashlib.sha256(f"seed={seed}\n".encode())
    for c in components:
        h.update(f"{c.content_hash}\t{c.source}\t{c.split}\t{c.documents}\t{c.tokens}\n".encode())
    return h.hexdigest()


def _components_of(manifest: Manifest, sources: dict[str, Share] | None, share: Share) -> list[tuple[str | None, str | None, Share, list]]:
    if manifest.kind == "sft":
        if sources:
            raise MixSpecError(f"{manifest.name} {manifest.version}: an SFT release has no sources; give epochs/tokens/weight for the release")
        return [(None, "train", share, [s for s in manifest.shards if s.split == "train"])]
    names = [s.name for s in manifest.sources]
    if sources:
        unknown = sorted(set(sources) - set(names))
        if unknown:
            raise MixSpecError(f"{manifest.name} {manifest.version}: no source {', '.join(unknown)} (has {', '.join(names)})")
        picked = [(n, sources[n]) for n in names if n in sources]
    else:
        if share.tokens is not None or share.weight is not None:
            raise MixSpecError(f"{manifest.name} {manifest.version}: tokens/weight for a whole CPT release is ambiguous; "
                             f"give them per source under `sources:`")
        picked = [(n, share) for n in names]
    return [(n, None, sh, [s for s in manifest.shards if s.source == n]) for n, sh in picked]


def build_mixture(releases: list[tuple[Path, str | None, Share, dict[str, Share] | None]], mixture_dir: Path, *, name: str,
                  version: str, seed: int, total_tokens: int | None, config: dict, created: str, tool_version: str) -> MixtureManifest:
    """`releases`: (release directory, pinned content hash or None, release-level share, per-source shares or None).
    Every release is verified first; all must count tokens with the same tokenizer."""
    planned, tokenizer = [], None
    for release_dir, pin, share, sources in releases:
        if problems := verify_release(release_dir):
            raise ValueError(f"{release_dir}: release does not match its manifest:\n  " + "\n  ".join(problems))
        m = load(release_dir)
        if pin and pin != m.content_hash:
            raise ValueError(f"{release_dir}: content hash {m.content_hash} is not the pinned {pin}")
        if m.tokenizer is None:
            raise ValueError(f"{release_dir}: release has no token counts (tokenizer: none); release it with a tokenizer to mix it")
        if tokenizer and (tokenizer.sha256 != m.tokenizer.sha256):
            raise ValueError(f"{release_dir}: counted with {m.tokenizer.name} but the mixture's other releases with "
                             f"{tokenizer.name}: token budgets would not add up")
        tokenizer = tokenizer or m.tokenizer
        for source, split, sh, shards in _components_of(m, sources, share):
            planned.append((release_dir, m, source, split, sh, shards))
    if any(sh.weight is not None for *_, sh, _ in planned) and total_tokens is None:
        raise MixSpecError("a component gives `weight`: the mixture needs `total_tokens` to divide")
    weight_sum = sum(sh.weight or 0 for *_, sh, _ in planned)
    components, labels = [], []
    for release_dir, m, source, split, sh, shards in planned:
        table, counts = contribution(release_dir, m, shards, sh, seed, total_tokens, weight_sum)
        components.append(Component(
            release=f"{m.name} {m.version}", path=Path(os.path.relpath(release_dir.resolve(), mixture_dir.resolve())).as_posix(),
            content_hash=m.content_hash, kind=m.kind, source=source, split=split,
            shards=[PinnedShard(path=s.path, sha256=s.sha256, documents=s.documents, tokens=s.tokens or 0) for s in shards],
            requested=sh, weight=0.0, licenses=component_licenses(m, source, table), **counts))
        labels.append(f"{m.name}/{source or split}")
    total = sum(c.tokens for c in components)
    components = [c.model_copy(update={"weight": round(c.tokens / total, 6) if total else 0.0}) for c in components]
    by_license, notes = license_notes(list(zip(labels, components)))
    return MixtureManifest(name=name, version=version, created=created, seed=seed, tokenizer=tokenizer, total_tokens=total_tokens,
                           components=components, totals={"tokens": total, "documents": sum(c.documents for c in components),
                                                          "components": len(components)},
                           content_hash=mixture_hash(seed, components), config=config, tool_version=tool_version, licenses=by_license, notes=notes)


def write_mixture(mixture_dir: Path, mixture: MixtureManifest) -> Path:
    from manifests.writer import write_json_atomic

    return write_json_atomic(mixture_dir / MIXTURE_NAME, mixture)


def is_mixture(path: str | Path) -> bool:
    p = Path(path)
    return (p / MIXTURE_NAME).is_file() if p.is_dir() else p.name == MIXTURE_NAME


def load_mixture(path: str | Path) -> MixtureManifest:
    p = Path(path)
    p = p / MIXTURE_NAME if p.is_dir() else p
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no mixture here")
    try:
        mixture = MixtureManifest.model_validate_json(p.read_text(encoding="utf-8"))
    except ValidationError as e:
        raise ValueError(f"{p}: not a valid mixture: {e.errors()[0]['msg']} at {'.'.join(map(str, e.errors()[0]['loc'])) or 'top'}") from None
    if mixture.schema_version > MIXTURE_SCHEMA_VERSION:
        raise ValueError(f"{p}: mixture schema_version {mixture.schema_version} is newer than this tool reads")
    return mixture


def mixture_dir_of(path: str | Path) -> Path:
    p = Path(path)
    return (p if p.is_dir() else p.parent).resolve()


def verify_mixture(path: str | Path) -> list[str]:
    """Problems with a mixture: a pinned release missing, changed (content hash), or not matching its own
    manifest; a pinned shard no longer in its release."""
    mixture, root = load_mixture(path), mixture_dir_of(path)
    problems, seen = [], set()
    for c in mixture.components:
        release_dir = (root / c.path).resolve()
        where = f"{c.release} ({c.path})"
        if release_dir in seen:
            continue
        seen.add(release_dir)
        try:
            m = load(release_dir)
        except (FileNotFoundError, ValueError) as e:
            problems.append(f"{where}: pinned release unreadable: {e}")
            continue
        if m.content_hash != c.content_hash:
            problems.append(f"{where}: content hash {m.content_hash} is not the pinned {c.content_hash}")
        problems += [f"{where}: {p}" for p in verify_release(release_dir, expect_content_hash=c.content_hash)]
        for comp in (x for x in mixture.components if (root / x.path).resolve() == release_dir):
            on_disk = {s.path: s.sha256 for s in m.shards}
            problems += [f"{where}: pinned shard {s.path} {'changed' if s.path in on_disk else 'missing'}"
                         for s in comp.shards if on_disk.get(s.path) != s.sha256]
    return problems


def mixture_table(path: str | Path, seed: int | None = None) -> pa.Table:
    """Every chosen document (repeats included) with `release`, `component` and the columns of both kinds
    (`text` for CPT rows, `messages` for SFT rows, the other null), shuffled by `seed` (default: the mixture's)."""
    mixture, root = load_mixture(path), mixture_dir_of(path)
    message = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    parts = []
    for c in mixture.components:
        release_dir = (root / c.path).resolve()
        m = load(release_dir)
        table = component_rows(release_dir, m, c.shards)
        chosen = choose(table.column("id").to_pylist(), table.column("tokens").to_pylist(), c.target_tokens, mixture.seed)
        picked = table.take(pa.array(chosen, type=pa.int64()))
        got = int(pc.sum(picked.column("tokens")).as_py() or 0)
        if len(chosen) != c.documents or got != c.tokens:
            raise ValueError(f"{c.release} {c.source or c.split}: chose {len(chosen)} documents / {got} tokens, the mixture "
                             f"says {c.documents} / {c.tokens}")
        n = picked.num_rows
        label = f"{m.name}/{c.source or c.split}"
        parts.append(pa.table({
            "id": picked.column("id"), "release": pa.array([c.release] * n), "component": pa.array([label] * n),
            "source": picked.column("source").cast(pa.string()),
            "text": picked.column("text") if "text" in picked.column_names else pa.nulls(n, pa.string()),
            "messages": picked.column("messages").cast(message) if "messages" in picked.column_names else pa.nulls(n, message),
            "tokens": picked.column("tokens")}))
    table = pa.concat_tables(parts)
    order = np.random.default_rng(mixture.seed if seed is None else seed).permutation(table.num_rows)
    return table.take(pa.array(order, type=pa.int64()))


def format_mixture(m: MixtureManifest, notes: bool = True) -> str:
    lines = [f"{m.name} {m.version} (mixture), created {m.created}, seed {m.seed}",
             f"content {m.content_hash[:16]}…  tokenizer {m.tokenizer.name} (sha256 {m.tokenizer.sha256[:12]}…)",
             f"totals: {m.totals['tokens']:,} tokens, {m.totals['documents']:,} documents, {m.totals['components']} components",
             "components (release, source/split: available -> contributed):"]
    for c in m.components:
        lines.append(f"  {c.release:<20} {c.source or c.split:<12} {c.available_tokens:>12,} -> {c.tokens:>12,} tokens "
                     f"({c.documents:,} docs, {c.epochs:.2f} epochs, weight {c.weight:.4f})  pin {c.content_hash[:12]}…")
        if c.licenses:
            lines.append("      licenses: " + ", ".join(f"{src} {lic or UNSTATED}" for src, lic in c.licenses.items()))
    lines += [f"note: {n}" for n in m.notes] if notes else []
    return "\n".join(lines)


def mixture_json(m: MixtureManifest) -> str:
    return json.dumps(m.model_dump(mode="json"), ensure_ascii=False, indent=2)
