"""Memory per task bounded without changing results (issue 41): a fingerprinting task spools ids, survivor fields and
band hashes to disk instead of holding them; long texts are fingerprinted a segment at a time; signature rows are
read with positioned reads instead of a memory map. Each is checked for equal output against the in-memory way,
with every flush size made tiny so the chunk, batch and segment boundaries are crossed many times."""

import random

import numpy as np
import polars as pl
import pytest
from datatrove.data import Document

import filters.dedup.signatures as signatures_mod
import filters.dedup.spool as spool_mod
import filters.fingerprint as fingerprint_mod
import manifests
from filters.config import DedupConfig
from curation.pipeline import run_job
from filters.base import ANNOTATIONS
from filters.dedup import DedupSignatures, NpyRowWriter, every_band_hash, save_task_fingerprints
from filters.dedup.buckets import SignatureFile
from filters.fingerprint import TextFingerprint
from tests.test_dedup import dedup_job, help_pages, kept_ids, write_jsonl


@pytest.fixture
def tiny_flushes(monkeypatch):
    """Every bound small: spooled values written out 7 at a time, fingerprint batches of ~3,000 characters, long
    texts in segments of 1,000, signature files mapped 5 KB at a time."""
    monkeypatch.setattr(spool_mod, "SPOOL_CHUNK", 7)
    monkeypatch.setattr(signatures_mod, "BATCH_CHARS", 3000)
    monkeypatch.setattr(fingerprint_mod, "SEGMENT_CHARS", 1000)
    monkeypatch.setattr(SignatureFile, "WINDOW_BYTES", 5 * 1024)


def odd_documents() -> list[Document]:
    """Help pages, their copies and a long joined text, with ids and fields that stress the spooled strings."""
    pages = help_pages()
    texts = pages + [pages[1] + "\n（轉載）", pages[2], "".join(pages) * 3, "", "。。。", "ab"]
    ids = [f"x/{i}" for i in range(len(pages))] + ["x/轉載", "x/a\x00", "x/" + "長" * 300, "", "x/😀", "x/é\n"]
    docs = []
    for i, (doc_id, text) in enumerate(zip(ids, texts)):
        meta = {"source": ["x", "y", "z"][i % 3], ANNOTATIONS: {"quality_score": i / 10} if i % 2 else {}}
        if i % 4:
            meta["date"] = f"2024-0{i % 9 + 1}-01"
        docs.append(Document(text=text, id=doc_id, metadata=meta))
    return docs


def test_spooled_task_files_equal_the_in_memory_ones(tmp_path, tiny_flushes):
    config = DedupConfig(enabled=True, hash_ranges=3)
    ranks = {"x": 0, "y": 1}
    docs = odd_documents()
    out = list(DedupSignatures(config, str(tmp_path / "streamed"), ranks).run(iter(docs), rank=3))
    assert [d.id for d in out] == [d.id for d in docs]  # passed through unchanged, in order
    assert not (tmp_path / "streamed" / "spool" / "00003").exists()

    # the same task kept in memory: whole-batch signatures, arrays built from lists, np.savez
    fp = TextFingerprint(config.ngram, config.num_perm, config.seed)
    sigs, exact = fp._batch_signatures([d.text for d in docs])
    bands = [f"b{b:03d}" for b in range(config.bands)]
    table = every_band_hash(sigs, config.bands, config.rows)
    save_task_fingerprints(tmp_path / "memory", 3, config, ids=np.array([d.id for d in docs], dtype=str), sigs=sigs, exact=exact,
                           priority=np.array([ranks.get(d.metadata["source"], 2) for d in docs], dtype=np.int64),
                           quality=np.array([-float(d.metadata[ANNOTATIONS].get("quality_score", 0.0)) for d in docs]),
                           date=np.array([d.metadata.get("date") or "~" for d in docs], dtype=str),
                           source=np.array([d.metadata["source"] for d in docs], dtype=str),
                           band_hashes={b: np.ascontiguousarray(table[:, i]) for i, b in enumerate(bands)})
    assert np.array_equal(np.load(tmp_path / "streamed/00003.sigs.npy"), np.load(tmp_path / "memory/00003.sigs.npy"))
    with np.load(tmp_path / "streamed/00003.docs.npz") as a, np.load(tmp_path / "memory/00003.docs.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for f in b.files:
            assert a[f].dtype == b[f].dtype and np.array_equal(a[f], b[f]), f
    runs = sorted(p.relative_to(tmp_path / "memory") for p in (tmp_path / "memory").rglob("buckets/*/*.npy"))
    assert runs == sorted(p.relative_to(tmp_path / "streamed") for p in (tmp_path / "streamed").rglob("buckets/*/*.npy"))
    assert len(runs) == (config.bands + 1) * 3
    for r in runs:
        assert np.array_equal(np.load(tmp_path / "streamed" / r), np.load(tmp_path / "memory" / r))


def test_an_empty_task_writes_the_same_empty_files(tmp_path):
    config = DedupConfig(enabled=True)
    assert list(DedupSignatures(config, str(tmp_path), {}).run(iter([]), rank=0)) == []
    with np.load(tmp_path / "00000.docs.npz") as z:
        assert {f: (z[f].dtype.str, z[f].shape) for f in z.files} == {
            "ids": ("<U1", (0,)), "exact": ("<u8", (0,)), "priority": ("<i8", (0,)), "quality": ("<f8", (0,)),
            "date": ("<U1", (0,)), "source": ("<U1", (0,))}
    assert np.load(tmp_path / "00000.sigs.npy").shape == (0, config.num_perm)


def random_text(rng: random.Random, n: int) -> str:
    pieces = list("abcXYZ019 ，。！？、 \n\t今天氣很好臺灣國語Ａｂ１éß😀") + ["hello", "world", "台北", "...", "  ", "x" * 40]
    return "".join(rng.choice(pieces) for _ in range(n))


@pytest.mark.parametrize("ngram", [1, 3, 5])
def test_a_long_text_a_segment_at_a_time_gives_the_whole_text_signature(ngram):
    rng = random.Random(ngram)
    fp = TextFingerprint(ngram, 64, 1)
    texts = [random_text(rng, rng.choice([0, 1, 2, 4, 30, 400, 3000])) for _ in range(120)]
    texts += ["a" * 1500 + "今天" + "b" * 700, "，。" * 300 + "ab", "word " * 900]
    for t in texts:
        want_sig, want_exact = fp._batch_signatures([t])
        for segment in (1, 3, 64, 997):
            sig, exact = fp._long_signature(t, segment)
            assert np.array_equal(sig, want_sig[0]) and exact == want_exact[0], (segment, t[:60])


def test_signatures_in_sub_batches_equal_one_batch(monkeypatch):
    rng = random.Random(7)
    fp = TextFingerprint(5, 128, 3)
    texts = [random_text(rng, rng.choice([0, 10, 200, 2500])) for _ in range(80)]
    want = fp._batch_signatures(texts)
    monkeypatch.setattr(fingerprint_mod, "SEGMENT_CHARS", 700)
    got = fp.signatures(texts)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


@pytest.mark.parametrize("window", [1, 4096, 5000, 1 << 25])
def test_signature_rows_read_a_window_at_a_time_equal_the_array(tmp_path, monkeypatch, window):
    monkeypatch.setattr(SignatureFile, "WINDOW_BYTES", window)
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**32, size=(3000, 64), dtype=np.uint32)
    w = NpyRowWriter(tmp_path / "x.sigs.npy", np.uint32, 64)  # the header rewritten in place
    w.write(a[:1000])
    w.write(a[1000:])
    w.close()
    np.save(tmp_path / "y.npy", a)
    for path in (tmp_path / "x.sigs.npy", tmp_path / "y.npy"):
        f = SignatureFile(path)
        for rows in (rng.integers(0, 3000, 50), rng.integers(0, 3000, 2500), np.arange(10, 700), np.array([5, 5, 0, 2999]),
                     np.array([], dtype=np.int64)):
            assert np.array_equal(f.read_rows(rows), a[rows])
        with pytest.raises(IndexError):
            f.read_rows(np.array([3000]))
        f.close()


def test_long_text_token_count_equals_the_ordinary_one(monkeypatch):
    import manifests.tokens as tokens

    counter = tokens.token_counter(tokens.DEFAULT_TOKENIZER)
    text = "".join(help_pages()) + " <|endoftext|> <|im_start|>"
    want = counter.count(text)
    monkeypatch.setattr(tokens, "LONG_TEXT", 10)
    assert counter.count(text) == want == len(counter._encoding.encode_ordinary(text))


def release_corpus(tmp_path) -> list[dict]:
    pages = help_pages()
    rows = [{"id": f"p{i}", "text": t, "date": f"2024-02-0{i + 1}"} for i, t in enumerate(pages)]
    rows += [{"id": f"copy{i}", "text": pages[i]} for i in range(3)]
    rows += [{"id": f"edit{i}", "text": pages[i] + "\n本文轉載自 LibreOffice 說明。"} for i in range(3, 6)]
    long = "".join(pages) * 4
    rows += [{"id": "long", "text": long}, {"id": "long-copy", "text": long + "（完）"}]
    paths = [write_jsonl(tmp_path / f"in{k}.jsonl", rows[k::3]) for k in range(3)]
    assert paths
    return [{"name": "x", "kind": "jsonl", "path": str(tmp_path / "in*.jsonl")}]


def test_release_identical_whatever_the_flush_sizes(tmp_path, monkeypatch):
    """The whole job, with the default bounds and with every bound tiny: the same kept ids, clusters and content
    hash (one worker, so the patched bounds apply in the tasks)."""
    sources = release_corpus(tmp_path)
    results = []
    for tiny in (False, True):
        if tiny:
            monkeypatch.setattr(spool_mod, "SPOOL_CHUNK", 3)
            monkeypatch.setattr(signatures_mod, "BATCH_CHARS", 2000)
            monkeypatch.setattr(fingerprint_mod, "SEGMENT_CHARS", 500)
            monkeypatch.setattr(SignatureFile, "WINDOW_BYTES", 2 * 1024)
        job = dedup_job(tmp_path / f"run-{tiny}", sources, hash_ranges=2)
        job = job.model_copy(update={"executor": job.executor.model_copy(update={"tasks": 3})})
        release = run_job(job)
        clusters = pl.read_parquet(release / "dedup/clusters.parquet").sort("removed_id").to_dicts()
        results.append((kept_ids(release), clusters, manifests.load(release).content_hash))
    assert results[0] == results[1]
    kept, clusters, _ = results[0]
    removed = {c["removed_id"] for c in clusters}
    assert {"x/copy0", "x/copy1", "x/copy2", "x/long-copy"} <= removed and "x/long" in kept


def test_plan_memory_follows_the_busiest_task_and_the_longest_document(tmp_path):
    """`curate plan` estimates the read task from the documents of the task that reads the most (tasks take whole
    files), not documents / tasks, and adds the longest sampled document."""
    from curation.config import load_job
    from curation.plan import BASE_TASK_MB, READ_BYTES_PER_CHAR_FILTERED, READ_BYTES_PER_DOC, make_plan
    from tests.conftest import write_job

    pages = help_pages()
    rows = [{"id": f"d{i}", "text": pages[i % len(pages)] + f" {i}"} for i in range(800)]
    (tmp_path / "one").mkdir()
    (tmp_path / "eight").mkdir()
    write_jsonl(tmp_path / "one" / "all.jsonl", rows)
    for k in range(8):
        write_jsonl(tmp_path / "eight" / f"part{k}.jsonl", rows[k::8])
    plans = {}
    for layout in ("one", "eight"):
        job = load_job(write_job(tmp_path / layout, [{"name": "x", "kind": "jsonl", "path": str(tmp_path / layout / "*.jsonl")}],
                                 steps={"dedup": {"enabled": True}}, executor={"tasks": 8, "workers": 2}))
        plans[layout] = make_plan(job, work=tmp_path)
    read = {k: p.stages[0]["task_mb"] for k, p in plans.items()}
    longest = max(len(r["text"]) for r in rows)
    assert plans["one"].sources[0].longest_chars == longest
    # one file: one task reads all 800 documents; eight files: about 100 each (estimated from each file's bytes)
    assert read["one"] == pytest.approx(BASE_TASK_MB + (800 * READ_BYTES_PER_DOC + longest * READ_BYTES_PER_CHAR_FILTERED) / 2**20)
    assert read["one"] - read["eight"] > 600 * READ_BYTES_PER_DOC / 2**20
