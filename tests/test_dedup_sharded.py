"""Dedup at scale: signatures and buckets sharded by task, band and hash range; components without corpus-wide
Python objects; a sharded release index that later runs merge against; memory that does not grow with the corpus."""

import json
import shutil
import tracemalloc

import numpy as np
import opencc
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from filters.config import DedupConfig
from curation.pipeline import run_job
from filters.dedup import DedupClusters, LshBuckets, components, save_task_fingerprints
from tests.test_dedup import dedup_job, help_pages, kept_ids, write_jsonl


@pytest.fixture
def corpus(tmp_path):
    docs = help_pages()
    t2s = opencc.OpenCC("t2s")
    rows = [{"id": f"p{i}", "text": t, "date": f"2024-02-0{i + 1}"} for i, t in enumerate(docs)]
    rows += [{"id": f"copy{i}", "text": docs[i]} for i in range(3)]
    rows += [{"id": f"simp{i}", "text": t2s.convert(docs[i])} for i in range(2, 5)]
    rows += [{"id": f"edit{i}", "text": docs[i] + "\n本文轉載自 LibreOffice 說明。"} for i in range(4, 7)]
    # spread over several files, so several tasks each fingerprint a part
    paths = [write_jsonl(tmp_path / f"in{k}.jsonl", rows[k::5]) for k in range(5)]
    return [{"name": "x", "kind": "jsonl", "path": str(tmp_path / "in*.jsonl")}], len(rows), paths


def clusters(release) -> list[dict]:
    return pl.read_parquet(release / "dedup/clusters.parquet").sort("removed_id").to_dicts()


def test_same_clusters_at_every_task_count_and_hash_range_count(tmp_path, corpus):
    sources, n, _ = corpus
    results = []
    for tasks, ranges in ((1, 1), (3, 4), (5, 2)):
        job = dedup_job(tmp_path / f"t{tasks}r{ranges}", sources, hash_ranges=ranges)
        job = job.model_copy(update={"executor": job.executor.model_copy(update={"tasks": tasks})})
        release = run_job(job)
        results.append((kept_ids(release), clusters(release)))
    assert all(r == results[0] for r in results[1:])
    kept, removed = results[0]
    assert len(kept) + len(removed) == n and {r["removed_id"] for r in removed} >= {"x/copy0", "x/copy1", "x/copy2"}
    assert {r["reason"] for r in removed} == {"exact_duplicate", "near_duplicate"}


def test_incremental_against_a_sharded_and_a_legacy_parent_index(tmp_path):
    docs = help_pages()
    v1 = run_job(dedup_job(tmp_path / "one", [{"name": "x", "kind": "jsonl",
                                              "path": write_jsonl(tmp_path / "v1.jsonl", [{"id": f"old{i}", "text": t} for i, t in enumerate(docs[:5])])}]))
    assert json.loads((v1 / "dedup/index/params.json").read_text())["hash_ranges"] == 4
    second = write_jsonl(tmp_path / "v2.jsonl", [{"id": "copy", "text": docs[0]}, {"id": "edited", "text": docs[3] + "\n（轉載）"},
                                                  {"id": "new", "text": docs[6]}])
    v2 = run_job(dedup_job(tmp_path / "two", [{"name": "x", "kind": "jsonl", "path": second}], against=str(v1)))
    assert kept_ids(v2) == ["x/new"]
    by_id = {r["removed_id"]: r for r in clusters(v2)}
    assert by_id["x/copy"]["kept_id"] == "x/old0" and by_id["x/edited"]["kept_id"] == "x/old3"
    assert {r["reason"] for r in by_id.values()} == {"released_duplicate"}

    # a parent written before the sharded index: one dedup/index.npz of its live documents
    legacy = tmp_path / "legacy"
    shutil.copytree(v1, legacy)
    ids, sigs, exact = [], [], []
    for part in sorted((legacy / "dedup/index/parts").glob("*.docs.npz")):
        with np.load(part) as z:
            live = z["live"]
            ids.append(z["ids"][live])
            exact.append(z["exact"][live])
        sigs.append(np.load(str(part).replace(".docs.npz", ".sigs.npy"))[live])
    shutil.rmtree(legacy / "dedup/index")
    np.savez(legacy / "dedup/index.npz", ids=np.concatenate(ids), sigs=np.concatenate(sigs), exact=np.concatenate(exact),
             params=np.array([5, 256, 1]))
    v2_legacy = run_job(dedup_job(tmp_path / "three", [{"name": "x", "kind": "jsonl", "path": second}], against=str(legacy)))
    assert kept_ids(v2_legacy) == ["x/new"] and clusters(v2_legacy) == clusters(v2)


def test_parent_index_with_other_parameters_is_refused(tmp_path):
    docs = help_pages()
    v1 = run_job(dedup_job(tmp_path / "one", [{"name": "x", "kind": "jsonl",
                                              "path": write_jsonl(tmp_path / "v1.jsonl", [{"id": "a", "text": docs[0]}])}]))
    job = dedup_job(tmp_path / "two", [{"name": "x", "kind": "jsonl", "path": write_jsonl(tmp_path / "v2.jsonl", [{"id": "b", "text": docs[1]}])}],
                    against=str(v1), bands=16, rows=8)
    with pytest.raises(ValueError, match="bands: 32 there, 16 here"):
        run_job(job)


def test_components_are_the_connected_components():
    edges = np.array([[5, 1], [1, 3], [7, 8], [9, 8], [2, 2]])
    labels = components(10, edges)
    assert labels.tolist() == [0, 1, 2, 1, 4, 1, 6, 7, 7, 7]
    chain = np.stack([np.arange(1, 1000), np.arange(0, 999)], axis=1)[::-1]  # a long path, worst case for propagation
    assert (components(1000, chain) == 0).all()


def test_lsh_and_clusters_never_hold_the_whole_corpus(tmp_path):
    """16 tasks x 4,000 documents: the signature matrix alone is 64 MiB. The bucket and cluster stages must find
    the planted duplicates while the Python-visible allocations (numpy included) stay under a quarter of that."""
    config = DedupConfig(enabled=True, hash_ranges=4)
    rng = np.random.default_rng(0)
    tasks, per_task, K = 16, 4000, config.num_perm
    sig_dir, planted = tmp_path / "signatures", set()
    first_task = rng.integers(0, 2**32, size=(per_task, K), dtype=np.uint32)
    for t in range(tasks):
        sigs = first_task.copy() if t == 0 else rng.integers(0, 2**32, size=(per_task, K), dtype=np.uint32)
        ids = np.array([f"t{t}-{i}" for i in range(per_task)])
        if t > 0:  # 20 near-copies of task 0's documents per task: 5% of the values changed
            for i in range(20):
                src = int(rng.integers(per_task))
                sigs[i] = first_task[src]
                changed = rng.choice(K, size=K // 20, replace=False)
                sigs[i, changed] = rng.integers(0, 2**32, size=len(changed), dtype=np.uint32)
                planted.add(ids[i])
        save_task_fingerprints(sig_dir, t, config, ids=ids, sigs=sigs, exact=rng.integers(0, 2**63, size=per_task, dtype=np.uint64),
                               priority=np.zeros(per_task, np.int64), quality=np.zeros(per_task), date=np.array(["~"] * per_task),
                               source=np.array(["x"] * per_task))
        del sigs
    whole = tasks * per_task * K * 4
    # the first Parquet write imports pandas and friends (~28 MiB of module objects, the same for any corpus)
    pq.write_table(pa.table({"warm": ["up"]}), tmp_path / "warm.parquet")
    tracemalloc.start()
    for rank in range(2):
        list(LshBuckets(config, str(sig_dir), str(tmp_path / "pairs")).run(rank=rank, world_size=2))
    list(DedupClusters(config, str(sig_dir), str(tmp_path / "pairs"), str(tmp_path / "release"), str(tmp_path / "removed.parquet")).run())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    removed = set(pl.read_parquet(tmp_path / "removed.parquet")["removed_id"])
    assert removed == planted  # each near-copy goes; task 0 (lowest id order) keeps the originals
    assert peak < whole / 4, f"peak {peak / 2**20:.1f} MiB of traced allocations for {whole / 2**20:.0f} MiB of signatures"


def test_signatures_stream_into_npy_and_bucket_runs_need_no_read_back(tmp_path):
    from datatrove.data import Document

    from filters.dedup import DedupSignatures, NpyRowWriter, pack, save_bucket_runs

    rng = np.random.default_rng(0)
    batches = [rng.integers(0, 2**32, size=(n, 256), dtype=np.uint32) for n in (5, 1000, 0, 77)]
    writer = NpyRowWriter(tmp_path / "a.npy", np.uint32, 256)
    for b in batches:
        writer.write(b)
    writer.close()
    loaded = np.load(tmp_path / "a.npy", mmap_mode="r")  # the header was rewritten in place with the row count
    assert loaded.shape == (1082, 256) and np.array_equal(loaded, np.concatenate(batches))

    # the task's bucket runs from band hashes taken while streaming equal the runs read back from its signatures
    config = DedupConfig(enabled=True, hash_ranges=3)
    docs = [Document(text=t, id=f"d{i}", metadata={"source": "x"}) for i, t in enumerate(help_pages() * 3)]
    assert len(list(DedupSignatures(config, str(tmp_path / "sig"), {"x": 0}).run(iter(docs), rank=2))) == len(docs)
    with np.load(tmp_path / "sig/00002.docs.npz") as z:
        exact = z["exact"]
    save_bucket_runs(tmp_path / "readback", "00002", config, tmp_path / "sig/00002.sigs.npy", exact,
                     pack(2, np.arange(len(docs))))
    streamed = sorted((tmp_path / "sig/buckets").rglob("*.npy"))
    assert len(streamed) == (config.bands + 1) * 3
    for f in streamed:
        assert np.array_equal(np.load(f), np.load(tmp_path / "readback" / f.parent.name / f.name))


def test_index_buckets_written_in_parallel_equal_one_task(tmp_path):
    """The dedup filter stage's tasks merge the index's bucket shards (IndexBuckets) after the clusters task wrote
    its parts: any number of tasks gives the index `write_index` gives in one."""
    from filters.dedup import IndexBuckets, shard_names, task_parts, write_index, write_index_parts

    config = DedupConfig(enabled=True, hash_ranges=2)
    rng = np.random.default_rng(1)
    sig_dir = tmp_path / "signatures"
    for t in range(4):
        n = 300
        save_task_fingerprints(sig_dir, t, config, ids=np.array([f"t{t}-{i}" for i in range(n)]),
                               sigs=rng.integers(0, 2**32, size=(n, config.num_perm), dtype=np.uint32),
                               exact=rng.integers(0, 2**63, size=n, dtype=np.uint64), priority=np.zeros(n, np.int64),
                               quality=np.zeros(n), date=np.array(["~"] * n), source=np.array(["x"] * n))
    removed = {"t1-3", "t2-7", "t3-299"}
    write_index(tmp_path / "one", config, sig_dir, task_parts(sig_dir), removed, None)
    write_index_parts(tmp_path / "many", config, sig_dir, task_parts(sig_dir), removed, None)
    for rank in range(3):
        list(IndexBuckets(config, str(sig_dir), str(tmp_path / "many")).run(rank=rank, world_size=3))
    names = sorted(p.name for p in (tmp_path / "one" / "buckets").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "many" / "buckets").iterdir()) == sorted(f"{s}.npy" for s in shard_names(config))
    for name in names:
        one, many = np.load(tmp_path / "one" / "buckets" / name), np.load(tmp_path / "many" / "buckets" / name)
        assert len(one) > 0 and np.array_equal(one, many)
    # removed documents are not in the index's buckets
    live = np.load(tmp_path / "many" / "parts" / "00001.docs.npz")["live"]
    assert live.sum() == 299 and not live[3]


def test_similarity_reads_each_part_once_and_matches_pairwise(tmp_path, monkeypatch):
    """Pairs are verified SIGNATURE_ROWS_AT_ONCE at a time, each side read part by part: the estimates are those of
    comparing each pair's two rows alone, and no part is read more than once a slice."""
    import filters.dedup.buckets as buckets
    from filters.dedup.buckets import Parts, similarity
    from filters.dedup.shards import PART_SHIFT
    from filters.fingerprint import estimate_similarity

    rng = np.random.default_rng(1)
    sigs = {p: rng.integers(0, 4, size=(50 + p, 16), dtype=np.uint32) for p in range(5)}
    for p, s in sigs.items():
        np.save(tmp_path / f"{p:05d}.sigs.npy", s)
    parts = Parts(tmp_path, {p: f"{p:05d}" for p in sigs})
    pick = lambda n: [(int(p), int(rng.integers(0, len(sigs[int(p)])))) for p in rng.integers(0, 5, n)]  # noqa: E731
    a, b = pick(300), pick(300)
    ref = lambda pairs: np.array([(p << PART_SHIFT) | r for p, r in pairs], dtype=np.uint64)  # noqa: E731
    reads = []
    monkeypatch.setattr(buckets, "SIGNATURE_ROWS_AT_ONCE", 128)
    monkeypatch.setattr(Parts, "sigs", lambda self, part, rows, _orig=Parts.sigs: reads.append(part) or _orig(self, part, rows))
    est = similarity(parts, ref(a), parts, ref(b))
    expected = [estimate_similarity(sigs[pa][ra], sigs[pb][rb]) for (pa, ra), (pb, rb) in zip(a, b)]
    assert np.array_equal(est, np.array(expected))
    assert len(reads) <= 3 * 2 * 5  # 3 slices, 2 sides, 5 parts


def test_live_rows_one_file_same_as_parts(tmp_path):
    """Index bucket tasks read every part's live rows from one work file (`LiveRows`); the same arrays as the
    parts' docs.npz, and a work folder without it, or written for another index, falls back to the parts."""
    from filters.dedup.index import LiveRows

    out, sig_dir = tmp_path / "index", tmp_path / "sigs"
    (out / "parts").mkdir(parents=True)
    sig_dir.mkdir()
    rng = np.random.default_rng(2)
    lives = {t: rng.random(10 + 7 * t) < 0.8 for t in range(4)}
    for t, live in lives.items():
        np.savez(out / "parts" / f"{3 + t:05d}.docs.npz", live=live)
    names = {t: f"{t:05d}" for t in lives}
    from_parts = LiveRows.load(sig_dir, out, names, base=3)
    LiveRows.save(sig_dir, out, lives)
    from_file = LiveRows.load(sig_dir, out, names, base=3)
    for t in lives:
        assert np.array_equal(from_parts[t], lives[t]) and np.array_equal(from_file[t], lives[t])
    other = tmp_path / "other"
    (other / "parts").mkdir(parents=True)
    for t in lives:
        np.savez(other / "parts" / f"{3 + t:05d}.docs.npz", live=~lives[t])
    assert all(np.array_equal(LiveRows.load(sig_dir, other, names, base=3)[t], ~lives[t]) for t in lives)
