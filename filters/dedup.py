"""Exact and MinHash near-duplicate removal across sources, as datatrove-style stages:

1. `DedupSignatures`  (every task)   fingerprint each document, save signatures per task;
2. `LshBuckets`       (one task per band) documents sharing a band hash become candidate pairs;
3. `DedupClusters`    (one task)     verify pairs, join clusters, choose survivors, check the parent release;
4. `DedupFilter`      (every task)   drop the documents chosen for removal.

Survivor of a cluster: the first by source priority (config order), then higher `quality_score` annotation
when present, then the earliest date, then the smallest id. Removed id -> kept id with the similarity estimate
is written to `dedup/clusters.parquet` in the release; the release's signature index `dedup/index.npz`
(this release plus its parent's) lets a later run dedup against it without recomputing old signatures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.readers.base import BaseReader
from datatrove.utils.batching import batched

from curation.config import DedupConfig
from filters.base import ANNOTATIONS, CurationFilter
from filters.fingerprint import TextFingerprint, _splitmix64, estimate_similarity

BATCH = 256


def source_ranks(config: DedupConfig, source_names: list[str]) -> dict[str, int]:
    order = list(config.source_priority) + [s for s in source_names if s not in config.source_priority]
    return {name: i for i, name in enumerate(order)}


class DedupSignatures(PipelineStep):
    """Passes documents through unchanged and saves their fingerprints to `<dir>/<task>.npz`."""

    name = "dedup signatures"
    type = "🫂 - DEDUP"

    def __init__(self, config: DedupConfig, directory: str, ranks: dict[str, int]):
        super().__init__()
        self.config = config
        self.directory = directory
        self.ranks = ranks
        self.fingerprint = TextFingerprint(config.ngram, config.num_perm, config.seed)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        ids, sigs, exact, meta = [], [], [], []
        for batch in batched(data or [], BATCH):  # signatures are computed a batch at a time, vectorized
            with self.track_time():
                s, e = self.fingerprint.signatures([d.text for d in batch])
            sigs.append(s)
            exact.append(e)
            for d in batch:
                ids.append(d.id)
                ann = d.metadata.get(ANNOTATIONS, {})
                meta.append((self.ranks.get(d.metadata.get("source"), len(self.ranks)), -float(ann.get("quality_score", 0.0)),
                             d.metadata.get("date") or "~", d.metadata.get("source") or ""))
            self.stat_update("documents", value=len(batch))
            yield from batch
        K = self.config.num_perm
        Path(self.directory).mkdir(parents=True, exist_ok=True)
        np.savez(Path(self.directory) / f"{rank:05d}.npz", ids=np.array(ids, dtype=str),
                 sigs=np.concatenate(sigs) if sigs else np.empty((0, K), np.uint32),
                 exact=np.concatenate(exact) if exact else np.empty(0, np.uint64),
                 priority=np.array([m[0] for m in meta], dtype=np.int64), quality=np.array([m[1] for m in meta]),
                 date=np.array([m[2] for m in meta], dtype=str), source=np.array([m[3] for m in meta], dtype=str))


def load_signatures(directory: Path) -> dict[str, np.ndarray]:
    parts = [dict(np.load(f)) for f in sorted(directory.glob("*.npz"))]
    if not parts:
        return {}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def band_hashes(sigs: np.ndarray, band: int, rows: int) -> np.ndarray:
    cols = sigs[:, band * rows:(band + 1) * rows].astype(np.uint64)
    h = np.zeros(len(sigs), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for r in range(rows):
            h = _splitmix64(h ^ cols[:, r])
    return h


class LshBuckets(PipelineStep):
    """Task `rank` handles band `rank`: documents with equal band hashes become candidate pairs."""

    name = "lsh buckets"
    type = "🫂 - DEDUP"

    def __init__(self, config: DedupConfig, sig_dir: str, pair_dir: str):
        super().__init__()
        self.config, self.sig_dir, self.pair_dir = config, sig_dir, pair_dir

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        sigs = load_signatures(Path(self.sig_dir)).get("sigs")
        pairs = np.empty((0, 2), dtype=np.int64)
        if sigs is not None and len(sigs) > 1 and self.config.near:
            for band in range(rank, self.config.bands, world_size):
                h = band_hashes(sigs, band, self.config.rows)
                order = np.argsort(h, kind="stable")
                hs = h[order]
                same = np.flatnonzero(hs[1:] == hs[:-1])
                # pair each bucket member with the previous one: enough to connect the bucket
                pairs = np.concatenate([pairs, np.stack([order[same], order[same + 1]], axis=1)])
        self.stat_update("candidate_pairs", value=len(pairs))
        Path(self.pair_dir).mkdir(parents=True, exist_ok=True)
        np.save(Path(self.pair_dir) / f"{rank:05d}.npy", pairs)
        return
        yield


class UnionFind:
    def __init__(self, n: int):
        self.parent = np.arange(n)

    def find(self, x: int) -> int:
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


class DedupClusters(PipelineStep):
    """Verifies candidate pairs (estimated Jaccard ≥ threshold), joins exact and near duplicates into clusters,
    keeps one survivor per cluster, removes new documents that duplicate the parent release, and writes
    `removed.parquet` (work), `clusters.parquet` and `index.npz` (release)."""

    name = "dedup clusters"
    type = "🫂 - DEDUP"

    def __init__(self, config: DedupConfig, sig_dir: str, pair_dir: str, out_dir: str, removed_path: str,
                 parent_index: str | None = None):
        super().__init__()
        self.config, self.sig_dir, self.pair_dir = config, sig_dir, pair_dir
        self.out_dir, self.removed_path, self.parent_index = out_dir, removed_path, parent_index

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        cfg = self.config
        s = load_signatures(Path(self.sig_dir))
        n = len(s.get("ids", []))
        uf = UnionFind(n)
        if n and cfg.near:
            pairs = np.concatenate([np.load(f) for f in sorted(Path(self.pair_dir).glob("*.npy"))] or [np.empty((0, 2), np.int64)])
            if len(pairs):
                pairs = np.unique(np.sort(pairs, axis=1), axis=0)
                est = estimate_similarity(s["sigs"][pairs[:, 0]], s["sigs"][pairs[:, 1]])
                self.stat_update("candidate_pairs", value=len(pairs))
                for a, b in pairs[est >= cfg.threshold]:
                    uf.union(int(a), int(b))
                self.stat_update("verified_pairs", value=int((est >= cfg.threshold).sum()))
        if n and cfg.exact:
            order = np.argsort(s["exact"], kind="stable")
            ex = s["exact"][order]
            for i in np.flatnonzero(ex[1:] == ex[:-1]):
                uf.union(int(order[i]), int(order[i + 1]))
        roots = np.array([uf.find(i) for i in range(n)], dtype=np.int64)
        # survivor: smallest (priority, -quality, date, id) within each cluster
        rank_order = np.lexsort((s["ids"], s["date"], s["quality"], s["priority"])) if n else np.empty(0, np.int64)
        survivor: dict[int, int] = {}
        for i in rank_order:
            survivor.setdefault(int(roots[i]), int(i))
        rows = []
        for i in range(n):
            keep = survivor[int(roots[i])]
            if keep != i:
                exact = bool(s["exact"][i] == s["exact"][keep])
                rows.append({"removed_id": s["ids"][i], "kept_id": s["ids"][keep], "removed_source": s["source"][i],
                             "kept_source": s["source"][keep], "reason": "exact_duplicate" if exact else "near_duplicate",
                             "similarity": 1.0 if exact else float(estimate_similarity(s["sigs"][i], s["sigs"][keep]))})
        removed = {r["removed_id"] for r in rows}
        rows += self._against_parent(s, removed)
        self.stat_update("removed", value=len(rows))
        out = Path(self.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        schema = pa.schema([("removed_id", pa.string()), ("kept_id", pa.string()), ("removed_source", pa.string()),
                            ("kept_source", pa.string()), ("reason", pa.string()), ("similarity", pa.float64())])
        table = pa.Table.from_pylist(sorted(rows, key=lambda r: r["removed_id"]), schema=schema)
        pq.write_table(table, out / "clusters.parquet")
        pq.write_table(table.select(["removed_id", "reason"]), self.removed_path)
        self._write_index(s, {r["removed_id"] for r in rows})
        return
        yield

    def _parent(self) -> dict[str, np.ndarray] | None:
        return dict(np.load(self.parent_index)) if self.parent_index else None

    def _against_parent(self, s: dict, removed: set[str]) -> list[dict]:
        """New documents whose signature matches one already released (datasketch's in-memory MinHash LSH)."""
        parent = self._parent()
        if parent is None or not len(s.get("ids", [])):
            return []
        from datasketch import MinHashLSH

        cfg = self.config
        lsh = MinHashLSH(num_perm=cfg.num_perm, params=(cfg.bands, cfg.rows))
        exact_index = {int(e): str(i) for i, e in zip(parent["ids"], parent["exact"])}
        for i, sig in enumerate(parent["sigs"]):
            lsh.insert(str(i), _lean(sig, cfg.seed), check_duplication=False)
        rows = []
        for i, doc_id in enumerate(s["ids"]):
            if doc_id in removed:
                continue
            if cfg.exact and int(s["exact"][i]) in exact_index:
                rows.append({"removed_id": doc_id, "kept_id": exact_index[int(s["exact"][i])], "removed_source": s["source"][i],
                             "kept_source": "(parent release)", "reason": "released_duplicate", "similarity": 1.0})
                continue
            if not cfg.near:
                continue
            hits = lsh.query(_lean(s["sigs"][i], cfg.seed))
            best = max(((estimate_similarity(s["sigs"][i], parent["sigs"][int(h)]), int(h)) for h in hits), default=(0.0, -1))
            if best[0] >= cfg.threshold:
                rows.append({"removed_id": doc_id, "kept_id": str(parent["ids"][best[1]]), "removed_source": s["source"][i],
                             "kept_source": "(parent release)", "reason": "released_duplicate", "similarity": float(best[0])})
        return rows

    def _write_index(self, s: dict, removed: set[str]) -> None:
        K = self.config.num_perm
        keep = np.array([i not in removed for i in s.get("ids", [])], dtype=bool)
        ids = s["ids"][keep] if len(keep) else np.empty(0, dtype=str)
        sigs = s["sigs"][keep] if len(keep) else np.empty((0, K), np.uint32)
        exact = s["exact"][keep] if len(keep) else np.empty(0, np.uint64)
        parent = self._parent()
        if parent is not None:  # cumulative: a later run against this release also sees everything before it
            ids, sigs, exact = np.concatenate([parent["ids"], ids]), np.concatenate([parent["sigs"], sigs]), np.concatenate([parent["exact"], exact])
        np.savez(Path(self.out_dir) / "index.npz", ids=ids, sigs=sigs, exact=exact,
                 params=np.array([self.config.ngram, K, self.config.seed]))


def _lean(sig: np.ndarray, seed: int):
    """Our 32-bit one-permutation signature as a datasketch LeanMinHash; the LSH index only bands and
    compares the values, so the 32-bit storage scheme is the one that matches."""
    from datasketch import LeanMinHash

    return LeanMinHash(seed=seed, hashvalues=sig.astype(np.uint64), scheme="affine32")


class StagedShardReader(BaseReader):
    """Reads the intermediate Parquet shards of the first stage back into Documents (files split by task)."""

    name = "read staged shards"

    def __init__(self, folder: str):
        super().__init__()
        self.folder = folder

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        import orjson

        files = sorted(Path(self.folder).rglob("*.parquet"))
        for f in files[rank::world_size]:
            for row in pq.read_table(f).to_pylist():
                meta = orjson.loads(row.pop("metadata") or "{}")
                meta[ANNOTATIONS] = orjson.loads(row.pop("annotations") or "{}")
                text, doc_id = row.pop("text"), row.pop("id")
                meta.update({k: v for k, v in row.items() if v is not None})
                yield Document(text=text, id=doc_id, metadata=meta)


class DedupFilter(CurationFilter):
    """Drops documents chosen for removal by `DedupClusters`: reasons `exact_duplicate`, `near_duplicate`
    (within this run) and `released_duplicate` (already in the parent release)."""

    name = "dedup"

    def __init__(self, removed_path: str, **kwargs):
        super().__init__(**kwargs)
        self.removed_path = removed_path
        self._removed: dict[str, str] | None = None

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if self._removed is None:
            t = pq.read_table(self.removed_path)
            self._removed = dict(zip(t.column("removed_id").to_pylist(), t.column("reason").to_pylist()))
        reason = self._removed.get(doc.id)
        return True if reason is None else (False, reason)
