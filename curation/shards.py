"""How kept and dropped documents are written: Parquet shards for the release, gzipped JSONL for rejects."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pyarrow as pa
from datatrove.data import Document
from datatrove.pipeline.writers.jsonl import JsonlWriter
from datatrove.pipeline.writers.parquet import ParquetWriter

from curation.costs import TOKEN_SECONDS
from filters.base import ANNOTATIONS, DeferredStats

SHARD_COLUMNS = ["id", "text", "source", "kind", "license", "url", "title", "date"]
SHARD_SCHEMA = pa.schema([(c, pa.string()) for c in SHARD_COLUMNS] + [("tokens", pa.int64()), ("annotations", pa.string()),
                                                                        ("metadata", pa.string())])


def shard_row(writer: "ShardWriter", doc: Document) -> dict:
    meta = dict(doc.metadata)
    row = {"id": doc.id, "text": doc.text}
    for col in SHARD_COLUMNS[2:]:
        value = meta.pop(col, None)
        row[col] = None if value is None else str(value)
    # a staged shard read back (dedup) already carries the count, made by the same writer configuration
    tokens = meta.pop("tokens", None)
    if tokens is None and writer.counter is not None:
        start = time.perf_counter()
        tokens = writer.counter.count(doc.text)
        writer.stat_update(TOKEN_SECONDS, value=time.perf_counter() - start)  # the run log's costs show it apart
    row["tokens"] = tokens
    row["annotations"] = orjson.dumps(meta.pop(ANNOTATIONS, {})).decode()
    row["metadata"] = orjson.dumps(meta, default=str).decode()
    return row


class ShardWriter(ParquetWriter):
    """Writes kept documents as Parquet shards: `data/<source>/<task>.parquet`, fixed columns
    (id, text, source, kind, license, url, title, date), `tokens` (per document, counted here so a release
    costs no second pass over its text; null without a tokenizer), and `annotations` and remaining `metadata`
    as JSON. The Parquet metadata names the tokenizer the counts were made with."""

    name = "write shards"

    def __init__(self, folder: str, tokenizer: str | None = None):
        from manifests.tokens import NONE, PARQUET_KEY, tokenizer_id

        self.tokenizer = None if tokenizer in (None, NONE) else tokenizer
        stamp = {PARQUET_KEY: tokenizer_id(self.tokenizer).key.encode()} if self.tokenizer else None
        super().__init__(folder, output_filename="${source}/${rank}.parquet", adapter=shard_row,
                         schema=SHARD_SCHEMA.with_metadata(stamp) if stamp else SHARD_SCHEMA)
        self._counter = None
        self._counts: DeferredStats | None = None

    def stat_update(self, *labels, value: int = 1, unit: str = None):
        """datatrove's writer counts ~4 stats per document (its file, `total`, `doc_len`, the token seconds): held in
        DeferredStats and written on close, the same values (a unit is set at once, as MetricStats.update sets it)."""
        if self._counts is None:
            self._counts = DeferredStats(self)
        for label in labels:
            if unit:
                self.stats[label].unit = unit
            self._counts.count(label, value)

    def close(self):
        with self.track_time():  # the last row group and the file's footer are written here: the writer's time too
            super().close()
        if self._counts is not None:
            self._counts.flush()

    @property
    def counter(self):
        if self._counter is None and self.tokenizer:  # loaded in the task, not pickled with the step
            from manifests.tokens import token_counter

            self._counter = token_counter(self.tokenizer)
        return self._counter


def exclusion_writer(rejects_root: Path, step: str) -> JsonlWriter:
    return JsonlWriter(str(rejects_root / step), output_filename="${source}-${rank}.jsonl.gz")
