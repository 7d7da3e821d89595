"""Stage 3 (`DedupClusters`, one task): verified pairs joined into components, one survivor each, the parent
release checked; writes clusters, the removal list and the index parts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from filters.config import DedupConfig
from filters.dedup.buckets import Parts, part_offsets, similarity, to_global
from filters.dedup.index import index_parts, write_index_parts
from filters.dedup.shards import EXACT_BAND, pack, sorted_unique, task_parts


def components(n: int, edges: np.ndarray) -> np.ndarray:
    """Connected components over `edges` (global row pairs), vectorized: every node ends labelled with the
    smallest row of its component (min-label propagation with pointer jumping)."""
    labels = np.arange(n, dtype=np.int64)
    if not len(edges):
        return labels
    a, b = edges[:, 0], edges[:, 1]
    while True:
        low = np.minimum(labels[a], labels[b])
        np.minimum.at(labels, a, low)
        np.minimum.at(labels, b, low)
        while True:
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
        if np.array_equal(labels[a], labels[b]):
            return labels


CLUSTERS_SCHEMA = pa.schema([("removed_id", pa.string()), ("kept_id", pa.string()), ("removed_source", pa.string()),
                             ("kept_source", pa.string()), ("reason", pa.string()), ("similarity", pa.float64())])


class DedupClusters(PipelineStep):
    """Joins exact pairs and the LSH tasks' verified near pairs into connected components, keeps one survivor per component, removes new documents that duplicate the parent release, and
    writes `removed.parquet` (work), `clusters.parquet` and the release's sharded signature index `index/`.
    Only arrays of one integer per document are corpus-sized (component labels); ids, dates and signatures are read
    for the documents in multi-member components and candidate pairs only."""

    name = "dedup clusters"
    type = "🫂 - DEDUP"

    def __init__(self, config: DedupConfig, sig_dir: str, pair_dir: str, out_dir: str, removed_path: str,
                 parent_index: str | None = None):
        super().__init__()
        self.config, self.sig_dir, self.pair_dir = config, sig_dir, pair_dir
        self.out_dir, self.removed_path, self.parent_index = out_dir, removed_path, parent_index

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        cfg, sig_dir, pair_dir = self.config, Path(self.sig_dir), Path(self.pair_dir)
        names = task_parts(sig_dir)
        parts = Parts(sig_dir, names)
        offsets, n = part_offsets(parts, names)
        edges = [np.empty((0, 2), np.int64)]
        if cfg.exact:
            exact_pairs = [np.load(f) for f in sorted(pair_dir.glob(f"{EXACT_BAND}-*.npy"))]
            edges += [np.stack([to_global(offsets, p[:, 0]), to_global(offsets, p[:, 1])], axis=1) for p in exact_pairs if len(p)]
        if cfg.near:  # verified by the LSH tasks; a pair verified by several tasks counts once
            keys = [np.load(f) for f in sorted(pair_dir.glob("verified-*.npy"))]
            keys = sorted_unique(np.concatenate(keys)) if keys else np.empty(0, np.int64)
            self.stat_update("verified_pairs", value=len(keys))
            edges.append(np.stack([keys // n, keys % n], axis=1))
            del keys
        labels = components(n, np.concatenate(edges))
        within = self._clusters(labels, offsets, names, parts)
        del labels
        released = self._against_parent(parts, offsets, set(within.column("removed_id").to_pylist()))
        table = pa.concat_tables([within, released]).sort_by("removed_id")
        self.stat_update("removed", value=table.num_rows)
        out = Path(self.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, out / "clusters.parquet")
        pq.write_table(table.select(["removed_id", "reason"]), self.removed_path)
        # the bucket shards follow in the dedup filter stage, in parallel (IndexBuckets)
        write_index_parts(out / "index", self.config, sig_dir, names, set(table.column("removed_id").to_pylist()), self.parent_index)
        return
        yield

    def _clusters(self, labels: np.ndarray, offsets: np.ndarray, names: dict[int, str], parts: Parts) -> pa.Table:
        """Survivor per multi-member component: smallest (source priority, -quality, date, id)."""
        sizes = np.bincount(labels, minlength=len(labels))
        members = np.flatnonzero(sizes[labels] > 1)
        del sizes
        if not len(members):
            return CLUSTERS_SCHEMA.empty_table()
        fields = ("ids", "exact", "priority", "quality", "date", "source")
        meta: dict[str, list] = {f: [] for f in fields}
        refs = []
        for p in sorted(names):
            mine = members[(members >= offsets[p]) & (members < offsets[p + 1])]
            got = parts.docs(p, fields, mine - offsets[p])
            for f in fields:
                meta[f].append(got[f])
            refs.append(pack(p, mine - offsets[p]))
        m = {f: np.concatenate(v) for f, v in meta.items()}
        refs, comp = np.concatenate(refs), labels[members]
        order = np.lexsort((m["ids"], m["date"], m["quality"], m["priority"], comp))
        first = np.ones(len(order), dtype=bool)
        first[1:] = comp[order][1:] != comp[order][:-1]
        survivor_of = dict(zip(comp[order][first].tolist(), order[first].tolist()))
        removed = order[~first]
        kept = np.array([survivor_of[int(c)] for c in comp[removed]], dtype=np.int64)
        sim = parts.similarity(refs[removed], refs[kept]) if len(removed) else np.empty(0)
        exact = m["exact"][removed] == m["exact"][kept]
        return pa.table({"removed_id": pa.array(m["ids"][removed].tolist(), pa.string()),
                         "kept_id": pa.array(m["ids"][kept].tolist(), pa.string()),
                         "removed_source": pa.array(m["source"][removed].tolist(), pa.string()),
                         "kept_source": pa.array(m["source"][kept].tolist(), pa.string()),
                         "reason": pa.array(np.where(exact, "exact_duplicate", "near_duplicate").tolist(), pa.string()),
                         "similarity": pa.array(np.where(exact, 1.0, sim), pa.float64())}, schema=CLUSTERS_SCHEMA)

    def _against_parent(self, parts: Parts, offsets: np.ndarray, removed: set[str]) -> pa.Table:
        """New documents that share a bucket with a released one: exact hash shared, or estimated Jaccard >=
        threshold; the parent's signatures are read for those candidates only."""
        if not self.parent_index:
            return CLUSTERS_SCHEMA.empty_table()
        cfg, pair_dir = self.config, Path(self.pair_dir)
        parent = Parts(Path(self.parent_index) / "parts", index_parts(Path(self.parent_index)))
        found: dict[int, tuple[float, int]] = {}  # new ref -> (similarity, parent ref)
        exact = [np.load(f) for f in sorted(pair_dir.glob(f"parent-{EXACT_BAND}-*.npy"))]
        for p in exact:
            for new, old in p.tolist():
                found.setdefault(new, (1.0, old))
        near = [np.load(f) for f in sorted(pair_dir.glob("parent-b*.npy"))]
        near = np.unique(np.concatenate(near), axis=0) if near else np.empty((0, 2), np.uint64)
        if len(near):
            near = near[~np.isin(near[:, 0], np.array(list(found), dtype=np.uint64))]
            est = similarity(parts, near[:, 0], parent, near[:, 1])
            for (new, old), s in zip(near[est >= cfg.threshold].tolist(), est[est >= cfg.threshold].tolist()):
                if s > found.get(new, (0.0, 0))[0]:
                    found[new] = (s, old)
        if not found:
            return CLUSTERS_SCHEMA.empty_table()
        items = sorted(found.items())
        new = parts.lookup(np.array([k for k, _ in items], dtype=np.uint64), ("ids", "source"))
        old = parent.lookup(np.array([v[1] for _, v in items], dtype=np.uint64), ("ids",))
        return pa.Table.from_pylist(
            [{"removed_id": str(doc_id), "kept_id": str(kept_id), "removed_source": str(source), "kept_source": "(parent release)",
              "reason": "released_duplicate", "similarity": float(sim)}
             for (_, (sim, _)), doc_id, source, kept_id in zip(items, new["ids"], new["source"], old["ids"])
             if str(doc_id) not in removed], schema=CLUSTERS_SCHEMA)
