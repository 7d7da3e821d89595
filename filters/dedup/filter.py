"""Stage 4 (`DedupShardFilter`, every task): staged shards copied into the release without the removed documents."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from filters.base import ANNOTATIONS, StatName, count_for_source


def staged_row_document(row: dict) -> Document:
    """A row of a staged (stage 1) Parquet shard as the Document the shard writer was given."""
    import orjson

    meta = orjson.loads(row.pop("metadata") or "{}")
    meta[ANNOTATIONS] = orjson.loads(row.pop("annotations") or "{}")
    text, doc_id = row.pop("text"), row.pop("id")
    meta.update({k: v for k, v in row.items() if v is not None})
    return Document(text=text, id=doc_id, metadata=meta)


class DedupShardFilter(PipelineStep):
    """The last dedup stage. Copies each staged shard of stage 1 (`<source>/<task>.parquet`, tokens already counted)
    into the release without the documents `DedupClusters` chose for removal, a record batch at a time in Arrow:
    kept rows are never turned into Documents or re-encoded, so the stage costs a Parquet read and write, not a
    pass of Python over the corpus. Removed documents go to the exclusion writer (`rejects/dedup/`) with
    `filter_reason` `dedup:<reason>` (`exact_duplicate`, `near_duplicate`, `released_duplicate`), like every
    filter's drops. Counts `total`, `forwarded`, `dropped_<reason>` and per source, as a filter step does."""

    name = "dedup"
    type = "🫂 - DEDUP"

    def __init__(self, staged_dir: str, removed_path: str, out_dir: str, exclusion_writer=None, batch_rows: int = 8192):
        super().__init__()
        self.staged_dir, self.removed_path, self.out_dir = staged_dir, removed_path, out_dir
        self.exclusion_writer, self.batch_rows = exclusion_writer, batch_rows

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        import contextlib

        import pyarrow.compute as pc

        removed = pq.read_table(self.removed_path, columns=["removed_id", "reason"])
        removed_ids, reasons = removed.column("removed_id").combine_chunks(), removed.column("reason").to_numpy(zero_copy_only=False)
        staged = Path(self.staged_dir)
        with self.exclusion_writer if self.exclusion_writer else contextlib.nullcontext() as rejects:
            for f in sorted(staged.rglob("*.parquet"))[rank::world_size]:
                out = Path(self.out_dir) / f.relative_to(staged)
                out.parent.mkdir(parents=True, exist_ok=True)
                partial = out.with_suffix(".parquet.partial")
                # pre_buffer (pyarrow's default) caches every byte it read until the file is closed: the whole
                # staged shard in memory by its end (1M documents: ~1.5 GB; issue 41)
                source_file = pq.ParquetFile(f, pre_buffer=False)
                kept_rows, start = 0, 0
                # one lookup per file: index_in builds a hash table of the removed ids on every call
                where_all = pc.index_in(pq.read_table(f, columns=["id"]).column("id"), value_set=removed_ids).combine_chunks()
                with pq.ParquetWriter(partial, source_file.schema_arrow) as writer:
                    for batch in source_file.iter_batches(batch_size=self.batch_rows):
                        where = where_all.slice(start, batch.num_rows)
                        start += batch.num_rows
                        gone = pc.is_valid(where)
                        kept = batch.filter(pc.invert(gone))
                        writer.write_batch(kept)
                        kept_rows += kept.num_rows
                        self._count(batch, gone, where, reasons)
                        if rejects is not None and kept.num_rows < batch.num_rows:
                            dropped = batch.filter(gone)
                            why = reasons[pc.drop_null(where).to_numpy()]
                            for row, reason in zip(dropped.to_pylist(), why.tolist()):
                                doc = staged_row_document(row)
                                doc.metadata["filter_reason"] = f"{self.name}:{reason}"
                                rejects.write(doc, rank)
                if kept_rows:
                    partial.replace(out)
                else:
                    partial.unlink()
        return
        yield

    def _count(self, batch: pa.RecordBatch, gone: pa.Array, where: pa.Array, reasons: np.ndarray) -> None:
        import pyarrow.compute as pc

        sources = batch.column("source").fill_null("unknown").to_numpy(zero_copy_only=False)
        chars = pc.utf8_length(batch.column("text")).fill_null(0).to_numpy(zero_copy_only=False)
        is_gone = gone.to_numpy(zero_copy_only=False)
        why = np.full(len(sources), "", dtype=object)
        why[is_gone] = reasons[pc.drop_null(where).to_numpy()]
        self.stat_update("total", value=len(sources))
        self.stat_update("forwarded", value=int((~is_gone).sum()))
        if is_gone.any():
            self.stat_update("dropped", value=int(is_gone.sum()))
        for source in np.unique(sources).tolist():
            mine = sources == source
            self.stat_update(StatName("in", source=source).name, value=int(mine.sum()))
            kept = mine & ~is_gone
            if kept.any():
                self.stat_update(StatName("kept", source=source).name, value=int(kept.sum()))
                self.stat_update(StatName("chars_kept", source=source).name, value=int(chars[kept].sum()))
            for reason in np.unique(why[mine & is_gone]).tolist():
                sel = mine & is_gone & (why == reason)
                count_for_source(self, StatName("dropped", reason), source, value=int(sel.sum()))
                self.stat_update(StatName("chars_dropped", reason, source).name, value=int(chars[sel].sum()))
