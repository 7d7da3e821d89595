"""How kept and dropped documents are written: Parquet shards for the release, gzipped JSONL for rejects."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow as pa
from datatrove.data import Document
from datatrove.pipeline.writers.jsonl import JsonlWriter
from datatrove.pipeline.writers.parquet import ParquetWriter

from filters.base import ANNOTATIONS

SHARD_COLUMNS = ["id", "text", "source", "kind", "license", "url", "title", "date"]
SHARD_SCHEMA = pa.schema([(c, pa.string()) for c in SHARD_COLUMNS] + [("annotations", pa.string()), ("metadata", pa.string())])


def shard_row(_writer, doc: Document) -> dict:
    meta = dict(doc.metadata)
    row = {"id": doc.id, "text": doc.text}
    for col in SHARD_COLUMNS[2:]:
        value = meta.pop(col, None)
        row[col] = None if value is None else str(value)
    row["annotations"] = orjson.dumps(meta.pop(ANNOTATIONS, {})).decode()
    row["metadata"] = orjson.dumps(meta, default=str).decode()
    return row


class ShardWriter(ParquetWriter):
    """Writes kept documents as Parquet shards: `data/<source>/<task>.parquet`, fixed columns
    (id, text, source, kind, license, url, title, date) plus `annotations` and remaining `metadata` as JSON."""

    name = "write shards"

    def __init__(self, folder: str):
        super().__init__(folder, output_filename="${source}/${rank}.parquet", adapter=shard_row, schema=SHARD_SCHEMA)


def exclusion_writer(rejects_root: Path, step: str) -> JsonlWriter:
    return JsonlWriter(str(rejects_root / step), output_filename="${source}-${rank}.jsonl.gz")
