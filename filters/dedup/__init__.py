"""Exact and MinHash near-duplicate removal across sources, as datatrove-style stages:

1. `DedupSignatures`  (every task)   fingerprint each document, save signatures per task;
2. `LshBuckets`       (tasks over band shards) documents sharing a band hash become candidate pairs, verified there;
3. `DedupClusters`    (one task)     join verified pairs into clusters, choose survivors, check the parent release;
4. `DedupShardFilter` (every task)   copy the staged shards into the release without the documents chosen for removal.

Survivor of a cluster: the first by source priority (config order), then the higher `survivor_score` annotation
(`quality_score`, or the quality model's `quality_model_score`) when present, then the earliest date, then the
smallest id. Removed id -> kept id with the similarity estimate is written to `dedup/clusters.parquet` in the
release; the release's signature index `dedup/index/` (this release plus its parent's) lets a later run dedup
against it without recomputing old signatures.

Modules: `shards` (references, shard names, sorted runs), `signatures` (stage 1), `spool` (stage 1's per-document
values, on disk until the task ends), `buckets` (stage 2), `clusters` (stage 3), `index` (the release's signature
index), `filter` (stage 4)."""

from filters.dedup.shards import PART_SHIFT, ROW_MASK, EXACT_BAND, PARENT_CANDIDATES, pack, unpack, band_names, shard_names, CHUNK_ROWS, SIGNATURE_ROWS_AT_ONCE, PAIRS_AT_ONCE, merge_runs, sorted_unique, sorted_runs, task_parts  # noqa: F401
from filters.dedup.signatures import BATCH, BATCH_CHARS, batched_by_chars, save_band_runs, source_ranks, bucket_entries, band_hash_columns, save_bucket_runs, NPY_HEADER_BYTES, NpyRowWriter, every_band_hash, band_hashes, DedupSignatures, _band_columns, save_task_fingerprints  # noqa: F401
from filters.dedup.buckets import LshBuckets, Parts, SignatureFile, similarity, part_offsets, to_global, to_ref, verify_keys  # noqa: F401
from filters.dedup.index import index_params, index_parts, check_index_params, write_index, index_base, write_index_parts, write_index_buckets, IndexBuckets, _link_or_copy, convert_legacy_index, has_index, prepare_parent_index  # noqa: F401
from filters.dedup.clusters import components, CLUSTERS_SCHEMA, DedupClusters  # noqa: F401
from filters.dedup.filter import staged_row_document, DedupShardFilter  # noqa: F401
