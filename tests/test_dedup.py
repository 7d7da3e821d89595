import json

import numpy as np
import opencc
import polars as pl
import pytest

import manifests
from curation.config import load_job
from curation.pipeline import run_job
from filters.dedup import DedupClusters
from filters.fingerprint import TextFingerprint, estimate_similarity
from tests.conftest import SAMPLES, write_job


def help_pages() -> list[str]:
    lines = (SAMPLES / "news/libreoffice-help-zh-tw.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["content"] for line in lines]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def dedup_job(tmp_path, sources, **dedup):
    tmp_path.mkdir(parents=True, exist_ok=True)
    steps = {"dedup": {"enabled": True, **dedup}}
    return load_job(write_job(tmp_path, sources, steps=steps, executor={"tasks": 2, "workers": 1}))


@pytest.fixture
def two_sources(tmp_path):
    docs = help_pages()
    a = write_jsonl(tmp_path / "a.jsonl", [{"id": f"a{i}", "text": t, "date": f"2024-01-0{i + 1}"} for i, t in enumerate(docs[:5])])
    b = write_jsonl(tmp_path / "b.jsonl", [
        {"id": "exact", "text": docs[0]},
        {"id": "near", "text": docs[1].replace("，", ",").replace("。", ".") + "\n本文轉載自 LibreOffice 說明。"},
        {"id": "simplified", "text": opencc.OpenCC("t2s").convert(docs[2])},
        {"id": "whitespace", "text": "  " + docs[3].replace("\n", "\n\n") + "  "},
        {"id": "distinct1", "text": docs[6]}, {"id": "distinct2", "text": docs[7]}])
    return [{"name": "b", "kind": "jsonl", "path": b}, {"name": "a", "kind": "jsonl", "path": a}]


def kept_ids(release) -> list[str]:
    return sorted(pl.read_parquet(f"{release}/data/**/*.parquet")["id"])


def test_exact_and_near_duplicates_removed_across_sources_with_priority_survivor(tmp_path, two_sources):
    release = run_job(dedup_job(tmp_path, two_sources, source_priority=["a"]))
    assert kept_ids(release) == ["a/a0", "a/a1", "a/a2", "a/a3", "a/a4", "b/distinct1", "b/distinct2"]
    clusters = {r["removed_id"]: r for r in pl.read_parquet(release / "dedup/clusters.parquet").to_dicts()}
    assert clusters["b/exact"]["kept_id"] == "a/a0" and clusters["b/exact"]["reason"] == "exact_duplicate"
    assert clusters["b/whitespace"]["reason"] == "exact_duplicate"  # whitespace does not count
    assert clusters["b/simplified"]["kept_id"] == "a/a2"  # a Simplified copy is still a copy
    assert clusters["b/near"]["reason"] == "near_duplicate" and 0.8 <= clusters["b/near"]["similarity"] < 1
    dedup = manifests.load(release).steps[-1]
    assert dedup.step == "dedup" and dedup.by_source["b"]["kept"] == 2 and dedup.by_source["a"]["kept"] == 5
    assert dedup.dropped_by_reason == {"exact_duplicate": 3, "near_duplicate": 1}
    dropped = pl.concat([pl.read_ndjson(f).select("id") for f in (release / "rejects/dedup").glob("b-*.jsonl.gz")])
    assert sorted(dropped["id"]) == ["b/exact", "b/near", "b/simplified", "b/whitespace"]
    rejected = {r["id"]: r["metadata"] for f in (release / "rejects/dedup").glob("b-*.jsonl.gz") for r in pl.read_ndjson(f).to_dicts()}
    assert rejected["b/near"]["filter_reason"] == "dedup:near_duplicate" and rejected["b/near"]["source"] == "b"
    assert "pii" in rejected["b/exact"]["annotations"]  # the earlier steps' annotations travel with the reject
    # kept shards keep stage 1's per-document token counts
    assert pl.read_parquet(f"{release}/data/**/*.parquet")["tokens"].min() > 0


def test_without_priority_the_earliest_dated_copy_survives(tmp_path):
    t = help_pages()[0]
    # the earlier copy has the later id and comes second in the file: only its date can make it the survivor
    src = write_jsonl(tmp_path / "x.jsonl", [{"id": "a-late", "text": t, "date": "2024-05-01"}, {"id": "z-early", "text": t, "date": "2023-01-01"}])
    release = run_job(dedup_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": src}]))
    assert kept_ids(release) == ["x/z-early"]


def test_distinct_documents_are_kept(tmp_path):
    src = write_jsonl(tmp_path / "x.jsonl", [{"id": str(i), "text": t} for i, t in enumerate(help_pages())])
    release = run_job(dedup_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": src}]))
    assert len(kept_ids(release)) == 8


def test_resumed_run_gives_the_same_release(tmp_path, two_sources, monkeypatch):
    clean = run_job(dedup_job(tmp_path / "clean", two_sources, source_priority=["a"]))
    job = dedup_job(tmp_path / "crash", two_sources, source_priority=["a"])
    original = DedupClusters.run

    def crash(self, data=None, rank=0, world_size=1):
        raise RuntimeError("killed")
        yield

    monkeypatch.setattr(DedupClusters, "run", crash)
    with pytest.raises(RuntimeError, match="killed"):
        run_job(job)
    assert not (tmp_path / "crash" / "out" / "t" / "0.1.0").exists()  # nothing half-written is published
    monkeypatch.setattr(DedupClusters, "run", original)
    resumed = run_job(job, resume=True)
    assert manifests.load(resumed).content_hash == manifests.load(clean).content_hash
    assert kept_ids(resumed) == kept_ids(clean)


def test_incremental_dedup_against_previous_release(tmp_path):
    docs = help_pages()
    first = write_jsonl(tmp_path / "v1.jsonl", [{"id": f"old{i}", "text": t} for i, t in enumerate(docs[:4])])
    v1 = run_job(dedup_job(tmp_path / "one", [{"name": "x", "kind": "jsonl", "path": first}]))
    second = write_jsonl(tmp_path / "v2.jsonl", [{"id": "copy", "text": docs[0]},
                                                  {"id": "edited", "text": docs[1] + "\n（轉載）"},
                                                  {"id": "new", "text": docs[5]}])
    v2 = run_job(dedup_job(tmp_path / "two", [{"name": "x", "kind": "jsonl", "path": second}], against=str(v1)))
    assert kept_ids(v2) == ["x/new"]
    clusters = {r["removed_id"]: r for r in pl.read_parquet(v2 / "dedup/clusters.parquet").to_dicts()}
    assert clusters["x/copy"]["reason"] == "released_duplicate" and clusters["x/copy"]["kept_id"] == "x/old0"
    assert clusters["x/edited"]["kept_id"] == "x/old1"
    assert (v2 / manifests.load(v2).parent).resolve() == v1.resolve()  # recorded relative to the release
    live = []
    for part in sorted((v2 / "dedup/index/parts").glob("*.docs.npz")):
        with np.load(part) as z:
            live += [str(i) for i, keep in zip(z["ids"], z["live"]) if keep]
    assert sorted(live) == ["x/new", "x/old0", "x/old1", "x/old2", "x/old3"]  # cumulative
    third = write_jsonl(tmp_path / "v3.jsonl", [{"id": "again", "text": docs[2]}, {"id": "newer", "text": docs[6]}])
    v3 = run_job(dedup_job(tmp_path / "three", [{"name": "x", "kind": "jsonl", "path": third}], against=str(v2)))
    assert kept_ids(v3) == ["x/newer"]  # docs[2] was released in v1, seen through v2's index


def test_signature_estimates_track_exact_jaccard():
    fp = TextFingerprint(ngram=5, num_perm=256)
    docs = help_pages()
    variants = [docs[0], docs[0][: len(docs[0]) // 2] + docs[1][:200], docs[0] + docs[0][:100], docs[3]]
    sigs, _ = fp.signatures(variants)
    base, _ = fp.shingle_hashes(variants[0])
    for i in range(1, len(variants)):
        other, _ = fp.shingle_hashes(variants[i])
        exact = len(np.intersect1d(base, other)) / len(np.union1d(base, other))
        assert abs(float(estimate_similarity(sigs[0], sigs[i])) - exact) < 0.1


def test_lsh_threshold_reported_and_bad_banding_rejected(tmp_path):
    src = write_jsonl(tmp_path / "x.jsonl", [{"text": "甲"}])
    from curation.errors import ConfigError

    with pytest.raises(ConfigError, match="exceeds num_perm"):
        load_job(write_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": src}],
                           steps={"dedup": {"enabled": True, "num_perm": 64, "bands": 16, "rows": 8}}))
    job = dedup_job(tmp_path, [{"name": "x", "kind": "jsonl", "path": src}])
    assert job.steps.dedup.lsh_threshold == pytest.approx((1 / 32) ** (1 / 8))


@pytest.mark.parametrize("score,survivor", [("quality_score", "a"), ("quality_model_score", "b")])
def test_survivor_score_picks_the_better_copy_by_the_configured_annotation(tmp_path, score, survivor):
    from datatrove.data import Document

    from filters.config import DedupConfig
    from filters.dedup import DedupSignatures, LshBuckets

    text = help_pages()[0]
    docs = [Document(text=text, id="a", metadata={"source": "x", "annotations": {"quality_score": 0.9, "quality_model_score": 0.1}}),
            Document(text=text, id="b", metadata={"source": "x", "annotations": {"quality_score": 0.1, "quality_model_score": 0.9}})]
    config = DedupConfig(enabled=True, survivor_score=score)
    sig, pairs, out = tmp_path / "sig", tmp_path / "pairs", tmp_path / "out"
    list(DedupSignatures(config, str(sig), {"x": 0}).run(iter(docs)))
    list(LshBuckets(config, str(sig), str(pairs)).run())
    list(DedupClusters(config, str(sig), str(pairs), str(out), str(tmp_path / "removed.parquet")).run())
    clusters = pl.read_parquet(out / "clusters.parquet").to_dicts()
    assert [(c["kept_id"], c["reason"]) for c in clusters] == [(survivor, "exact_duplicate")]
