"""Near-duplicate detection quality and speed on real documents with realistic edits.

    python -m bench.dedup.near_dup            # quality + throughput (a few minutes)
    python -m bench.dedup.near_dup --memory   # peak memory of the dedup stages for 100,000 documents

Corpus: LibreOffice help pages (zh-TW and zh-CN) and Debian Reference zh-TW sections (bench/common/corpora.py), each
cut to at most 1,500 characters. For 600 of them an edited copy is added, one edit each: a sentence inserted,
a sentence deleted, punctuation changed, boilerplate appended, paragraphs reordered, or the whole copy converted
between Simplified and Traditional (OpenCC). Ground truth: exact Jaccard of the shingle sets of every pair
that shares a shingle (sparse matrix product), on the same normalized shingles the signatures use; a pair is a
near-duplicate when Jaccard >= 0.8. Predicted: pairs that share an LSH bucket and whose estimated Jaccard >= 0.8.
"""

from __future__ import annotations

import argparse
import random
import resource
import time

import numpy as np
import opencc

from bench.common.corpora import debian_reference_tw, libreoffice_help
from filters.config import DedupConfig
from filters.dedup import band_hashes
from filters.fingerprint import TextFingerprint, estimate_similarity

BOILERPLATE = "\n本文由編輯部整理，轉載請註明出處。歡迎訂閱我們的電子報，掌握最新消息。"


def corpus(limit: int | None = None) -> list[str]:
    docs = [d[:1500] for d in libreoffice_help("zh-TW") + libreoffice_help("zh-CN") + debian_reference_tw() if len(d) >= 200]
    return docs[:limit] if limit else docs


def edit(text: str, kind: str, rng: random.Random, donor: str) -> str:
    sentences = [s for s in text.replace("。", "。\n").split("\n") if s]
    if kind == "insert":
        i = rng.randrange(len(sentences) + 1)
        sentences.insert(i, donor[:60])
        return "\n".join(sentences)
    if kind == "delete" and len(sentences) > 3:
        del sentences[rng.randrange(len(sentences))]
        return "\n".join(sentences)
    if kind == "punctuation":
        return text.replace("，", ",").replace("。", ".").replace("「", "\"").replace("」", "\"")
    if kind == "boilerplate":
        return text + BOILERPLATE
    if kind == "reorder":
        paras = text.split("\n")
        rng.shuffle(paras)
        return "\n".join(paras)
    if kind == "convert":
        return opencc.OpenCC("t2s" if rng.random() < 0.5 else "s2twp").convert(text)
    return text + BOILERPLATE


def build(seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    base = corpus()
    kinds = ["insert", "delete", "punctuation", "boilerplate", "reorder", "convert"]
    edited = [edit(base[i], kinds[j % len(kinds)], rng, base[(i + 7) % len(base)]) for j, i in enumerate(rng.sample(range(len(base)), 600))]
    return base + edited


def exact_pairs(fp: TextFingerprint, docs: list[str], threshold: float) -> set[tuple[int, int]]:
    from scipy import sparse

    rows, cols = [], []
    vocab: dict[int, int] = {}
    for i, d in enumerate(docs):
        h, _ = fp.shingle_hashes(d)
        for x in h.tolist():
            rows.append(i)
            cols.append(vocab.setdefault(x, len(vocab)))
    m = sparse.csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(len(docs), len(vocab)))
    sizes = np.asarray(m.sum(axis=1)).ravel()
    inter = sparse.triu(m @ m.T, k=1).tocoo()
    jac = inter.data / (sizes[inter.row] + sizes[inter.col] - inter.data)
    keep = jac >= threshold
    return set(zip(inter.row[keep].tolist(), inter.col[keep].tolist()))


def predicted_pairs(sigs: np.ndarray, cfg: DedupConfig) -> set[tuple[int, int]]:
    cand = set()
    for band in range(cfg.bands):
        h = band_hashes(sigs, band, cfg.rows)
        order = np.argsort(h, kind="stable")
        hs = h[order]
        starts = np.flatnonzero(np.concatenate(([True], hs[1:] != hs[:-1])))
        ends = np.append(starts[1:], len(hs))
        for a, b in zip(starts, ends):
            if b - a > 1:
                members = sorted(order[a:b].tolist())
                cand.update((x, y) for k, x in enumerate(members) for y in members[k + 1:])
    pairs = np.array(sorted(cand), dtype=np.int64).reshape(-1, 2)
    est = estimate_similarity(sigs[pairs[:, 0]], sigs[pairs[:, 1]]) if len(pairs) else np.empty(0)
    return {tuple(p) for p in pairs[est >= cfg.threshold].tolist()}


def throughput(docs: list[str], cfg: DedupConfig) -> dict[str, float]:
    from datasketch import MinHash

    fp = TextFingerprint(cfg.ngram, cfg.num_perm, cfg.seed)
    fp.signatures(docs[:10])
    out = {}
    start = time.perf_counter()
    for i in range(0, len(docs), 256):
        fp.signatures(docs[i: i + 256])
    out[f"twcurate one-permutation MinHash, {cfg.num_perm} bins"] = len(docs) / (time.perf_counter() - start)
    sample = docs[: len(docs) // 5]
    try:  # stock datatrove MinHash for zh: spaCy + jieba word shingles (pip install spacy jieba)
        from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
        from datatrove.utils.hashing import HashConfig

        # sha1: datatrove 0.10.1's xxhash path passes str to xxhash 4, which now wants bytes
        stock = MinhashDedupSignature(output_folder=tempfile_dir(), config=MinhashConfig(hash_config=HashConfig(hash_fc="sha1")),
                                      language="zh")
        stock.get_signature(stock.get_shingles(sample[0]))
        start = time.perf_counter()
        for d in sample:
            stock.get_signature(stock.get_shingles(d))
        out["datatrove MinhashDedupSignature (stock, zh: spaCy + jieba, 14x8 hashes)"] = len(sample) / (time.perf_counter() - start)
    except ImportError as e:
        print(f"(datatrove stock MinHash for zh not measured: {e})")
    for perms in (128, cfg.num_perm):
        start = time.perf_counter()
        for d in sample:
            m = MinHash(num_perm=perms)
            m.update_batch([d[i: i + cfg.ngram].encode() for i in range(max(1, len(d) - cfg.ngram + 1))])
        out[f"datasketch MinHash, {perms} permutations, char {cfg.ngram}-grams"] = len(sample) / (time.perf_counter() - start)
    return out


def tempfile_dir() -> str:
    import tempfile

    return tempfile.mkdtemp()


def memory_run(n: int, cfg: DedupConfig) -> None:
    """Signatures, LSH bucketing and verification for n documents in this process; prints peak RSS."""
    base = corpus()
    rng = random.Random(1)
    docs = (base[rng.randrange(len(base))][rng.randrange(200):] + base[rng.randrange(len(base))][:500] for _ in range(n))
    fp = TextFingerprint(cfg.ngram, cfg.num_perm, cfg.seed)
    start = time.perf_counter()
    sigs, batch = [], []
    for d in docs:
        batch.append(d)
        if len(batch) == 256:
            sigs.append(fp.signatures(batch)[0])
            batch = []
    if batch:
        sigs.append(fp.signatures(batch)[0])
    sigs = np.concatenate(sigs)
    pairs = []
    for band in range(cfg.bands):
        h = band_hashes(sigs, band, cfg.rows)
        order = np.argsort(h, kind="stable")
        same = np.flatnonzero(h[order][1:] == h[order][:-1])
        pairs.append(np.stack([order[same], order[same + 1]], axis=1))
    pairs = np.unique(np.sort(np.concatenate(pairs), axis=1), axis=0)
    verified = int((estimate_similarity(sigs[pairs[:, 0]], sigs[pairs[:, 1]]) >= cfg.threshold).sum())
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{n} documents: {elapsed:.1f} s ({n / elapsed:,.0f} docs/s on one core), {len(pairs)} candidate pairs, "
          f"{verified} verified; peak RSS {peak:,.0f} MiB")


def pipeline_run(docs: list[str]) -> dict[str, float]:
    """The whole CPT job over the same documents (reading + writing included), dedup on vs off."""
    import json
    import tempfile
    from pathlib import Path

    from curation.config import parse_job
    from curation.pipeline import run_job

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "docs.jsonl"
        src.write_text("".join(json.dumps({"id": str(i), "text": d}, ensure_ascii=False) + "\n" for i, d in enumerate(docs)), encoding="utf-8")
        for enabled in (False, True):
            job = parse_job({"name": "b", "version": "0.1.0", "output": str(Path(tmp) / f"out{enabled}"),
                             "sources": [{"name": "x", "kind": "jsonl", "path": str(src)}],
                             "steps": {"language": {"enabled": False}, "script": {"enabled": False}, "dedup": {"enabled": enabled}},
                             "executor": {"tasks": 1, "workers": 1}}, "bench", Path(tmp))
            start = time.perf_counter()
            run_job(job)
            out[enabled] = time.perf_counter() - start
    return {"job without dedup (read, normalize, write)": len(docs) / out[False],
            "job with dedup (4 stages)": len(docs) / out[True],
            "dedup alone (difference)": len(docs) / max(1e-9, out[True] - out[False])}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("-n", type=int, default=100_000)
    args = parser.parse_args()
    cfg = DedupConfig(enabled=True)
    if args.memory:
        memory_run(args.n, cfg)
        return
    docs = build()
    fp = TextFingerprint(cfg.ngram, cfg.num_perm, cfg.seed)
    truth = exact_pairs(fp, docs, 0.8)
    sigs, _ = fp.signatures(docs)
    pred = predicted_pairs(sigs, cfg)
    tp = len(truth & pred)
    print(f"### Near-duplicate detection, {len(docs)} documents ({len(docs) - 600} real + 600 edited copies)\n")
    print(f"LSH: {cfg.bands} bands x {cfg.rows} rows, candidate threshold {cfg.lsh_threshold:.3f}; verified at estimated Jaccard >= {cfg.threshold}\n")
    print("| true pairs (Jaccard >= 0.8) | predicted | true positives | precision | recall |\n|---|---|---|---|---|")
    print(f"| {len(truth)} | {len(pred)} | {tp} | {tp / max(1, len(pred)):.4f} | {tp / max(1, len(truth)):.4f} |")
    print("\n### Signature throughput, one core, same documents (~1,000 characters)\n")
    print("| implementation | docs/s |\n|---|---|")
    for name, rate in throughput(docs, cfg).items():
        print(f"| {name} | {rate:,.0f} |")
    print("\n### Whole dedup in a CPT job (one task, one core)\n")
    print("| run | docs/s |\n|---|---|")
    for name, rate in pipeline_run(docs).items():
        print(f"| {name} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
