"""Counting one Parquet shard: documents, characters, tokens, sources (and SFT and labels counts). The writer counts
a shard with this when it describes it, and `manifest verify` counts it again with the same code from the bytes on
disk, so the two can only disagree when the bytes changed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow.compute as pc
import pyarrow.parquet as pq

from manifests.schema import TokenizerInfo
from manifests.tokens import PARQUET_KEY, is_shipped, token_counter


def shard_texts(table) -> list[str]:
    """The text a shard (or a record batch of it) trains on: `text` (CPT) or the joined message contents (SFT)."""
    names = table.schema.names
    if "text" in names:
        return table.column("text").to_pylist()
    return ["\n".join(m["content"] for m in msgs) for msgs in table.column("messages").to_pylist()]


@dataclass
class ShardCount:
    """One shard counted (`recount_shard`: the writer's describe_shard counts with it too; SFT rows as sft_sources)."""

    documents: int = 0
    characters: int = 0  # `text`, or the message contents joined by newlines
    tokens: int | None = None
    tokens_unchecked: str | None = None  # why tokens could not be counted again
    sources: set = field(default_factory=set)
    by_source: dict = field(default_factory=dict)  # SFT rows: source -> [documents, characters of the contents, tokens]
    row_tokens: bool = False  # some SFT row has a `tokens` value
    categories: Counter = field(default_factory=Counter)
    scores: Counter = field(default_factory=Counter)


def _counter_for(tokenizer: TokenizerInfo):
    """The manifest's tokenizer when this machine has the very same one (same sha256), else None."""
    try:
        counter = token_counter(tokenizer.name if tokenizer.name and is_shipped(tokenizer.name) else tokenizer.path)
    except Exception:  # not installed, not found, not a tokenizer: tokens then go unchecked, with a note
        return None
    return counter if counter and counter.id.sha256 == tokenizer.sha256 else None


def recount_shard(path, tokenizer: TokenizerInfo | None, rows_by_source: bool = False, counter=None) -> ShardCount:
    """Documents, characters, tokens, sources (and SFT/labels categories and scores) of one Parquet shard (a path, or
    an open file), a record batch at a time. Tokens: the per-document `tokens` column when the shard is stamped with the manifest's tokenizer,
    else counted with that tokenizer when it is at hand (a shard carried from a release counted otherwise): `counter`
    when the caller has it (the writer), else found here by its sha256."""
    shard = pq.ParquetFile(path, pre_buffer=False)  # pre_buffer keeps every byte read: the whole shard by its end
    names = shard.schema_arrow.names
    stamp = (shard.schema_arrow.metadata or {}).get(PARQUET_KEY)
    use_column = tokenizer is not None and "tokens" in names and stamp == f"{tokenizer.name}:{tokenizer.sha256}".encode()
    c = ShardCount(tokens=0 if tokenizer else None)
    for batch in shard.iter_batches(batch_size=8192):
        c.documents += batch.num_rows
        texts = None
        if "text" in names:
            c.characters += int(pc.sum(pc.utf8_length(batch.column("text"))).as_py() or 0)
        else:
            texts = shard_texts(batch)
            c.characters += sum(map(len, texts))
        if "source" in names:
            c.sources.update(pc.unique(batch.column("source")).to_pylist())
        if "category" in names:
            c.categories.update(batch.column("category").to_pylist())
        if "score" in names:
            c.scores.update(str(v) for v in batch.column("score").to_pylist())
        if rows_by_source and "messages" in names:
            sources = batch.column("source").to_pylist() if "source" in names else [None] * batch.num_rows
            tokens = batch.column("tokens").to_pylist() if "tokens" in names else [None] * batch.num_rows
            for src, msgs, n in zip(sources, batch.column("messages").to_pylist(), tokens):
                row = c.by_source.setdefault(src or "unknown", [0, 0, 0])
                row[0] += 1
                row[1] += sum(len(m["content"]) for m in msgs)
                row[2] += n or 0
                c.row_tokens |= n is not None
        if c.tokens is None:
            continue
        column = batch.column("tokens") if use_column else None
        if column is not None and column.null_count == 0:
            c.tokens += int(pc.sum(column).as_py() or 0)
            continue
        counter = counter or _counter_for(tokenizer)
        if counter is None:
            c.tokens, c.tokens_unchecked = None, f"tokenizer {tokenizer.name or tokenizer.path} (sha256 {tokenizer.sha256}) is not at hand to count them"
            continue
        c.tokens += sum(counter.count_batch(texts if texts is not None else shard_texts(batch)))
    return c
