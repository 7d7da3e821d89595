"""Throughput of `curate export`, and its files read back by the trainers' own readers (issue 40).

    python -m bench.scale.export RELEASE OUT_DIR [--repeats 3]

Exports RELEASE in both formats `--repeats` times, alternating, beside the tokenizer alone over the same texts (what
the export cannot do without), then reads the last exports back with megatron-core's IndexedDataset and datatrove's
DatatroveFileDataset when the `export` extra is installed, and prints documents and tokens against the manifest's.
A release to measure: the demo (`curate run examples/demo.yaml`), or the scale corpus (`python -m bench.scale.corpus
generate POOL DIR --docs 100000 --files 8`) through a job with the filters off.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import pyarrow.parquet as pq

import manifests
from manifests.export import Encoder, export, load_export


def readback(release: Path, out: Path) -> list[str]:
    """The reference readers' documents and tokens for both exports, against the manifest."""
    m = manifests.load(release)
    lines = []
    try:
        warnings.filterwarnings("ignore")
        from megatron.core.datasets.indexed_dataset import IndexedDataset
        from datatrove.utils.dataset import DatatroveFileDataset
    except ImportError as e:
        return [f"reference readers not installed ({e}): pip install -e '.[export]'"]
    e = load_export(out / "megatron")
    docs = tokens = eos = 0
    for f in e.files:
        d = IndexedDataset(str(out / "megatron" / f.prefix))
        docs, tokens = docs + len(d), tokens + int(d.sequence_lengths.sum())
        eos += sum(int(d[i][-1] == e.tokenizer.eos_id) for i in range(len(d)))
    lines.append(f"megatron-core IndexedDataset: {docs:,} documents, {tokens:,} tokens ({eos:,} documents end in EOS); "
                 f"tokens - documents = {tokens - docs:,}, manifest {m.totals['tokens']:,}: {'equal' if tokens - docs == m.totals['tokens'] else 'DIFFER'}")
    e = load_export(out / "datatrove")
    docs = tokens = 0
    for f in e.files:
        item = DatatroveFileDataset(str(out / "datatrove" / f"{f.prefix}.ds"), seq_len=f.tokens - 1, token_size=4, return_positions=True)[0]
        docs, tokens = docs + int((item["positions"] == 0).sum()), tokens + len(item["input_ids"])
    lines.append(f"datatrove DatatroveFileDataset: {docs:,} documents, {tokens:,} tokens; tokens - documents = {tokens - docs:,}, "
                 f"manifest {m.totals['tokens']:,}: {'equal' if tokens - docs == m.totals['tokens'] else 'DIFFER'}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("release", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    m = manifests.load(args.release)
    texts = [t for s in m.shards for t in pq.read_table(args.release / s.path, columns=["text"]).column("text").to_pylist()]
    print(f"{m.name} {m.version}: {m.totals['documents']:,} documents, {sum(map(len, texts)):,} characters, "
          f"{m.totals['tokens']:,} tokens, {len(m.shards)} shards")
    encoder = Encoder(m.tokenizer.name)
    for rep in range(args.repeats):
        t = time.perf_counter()
        encoder.encode_batch(texts)
        alone = time.perf_counter() - t
        for fmt in ("megatron", "datatrove"):
            t = time.perf_counter()
            e = export(args.release, args.out / fmt, fmt, force=True)
            took = time.perf_counter() - t
            assert e.totals["tokens"] == m.totals["tokens"] + m.totals["documents"]
            print(f"repeat {rep} {fmt:<9} {took:7.2f} s  {e.totals['tokens'] / took / 1e6:5.2f} M tokens/s  "
                  f"{e.totals['documents'] / took:8,.0f} documents/s   (tokenizer alone {alone:7.2f} s)")
    print("\n".join(readback(args.release, args.out)))


if __name__ == "__main__":
    main()
