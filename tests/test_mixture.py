"""Token-budget mixtures (`curate mix`): pins, per-component budgets, loading with the stated weights, verify."""

from collections import Counter
from pathlib import Path

import pytest
import yaml

import manifests
from curation.cli import main
from manifests.mixture import load_mixture
from manifests.writer import write_sft_release


@pytest.fixture
def releases(demo_job, tmp_path, capsys):
    assert main(["run", str(demo_job)]) == 0
    cpt = Path(capsys.readouterr().out.strip().splitlines()[-1])
    records = [{"id": f"q{i}", "category": "chat", "messages": [
        {"role": "user", "content": f"臺灣最高的山是哪一座？（第 {i} 題）"},
        {"role": "assistant", "content": "玉山，主峰海拔三千九百五十二公尺。" * (1 + i % 3)}]} for i in range(40)]
    sft = tmp_path / "sft" / "0.1.0"
    write_sft_release(records, sft, "sft", "0.1.0", {}, validation_fraction=0.2, tokenizer="qwen2.5")
    return cpt, sft


def mix(tmp_path, capsys, spec: dict, expect: int = 0) -> Path:
    path = tmp_path / "mix.yaml"
    path.write_text(yaml.safe_dump({"name": "tw-mix", "output": str(tmp_path / "mixes"), **spec}, allow_unicode=True))
    assert main(["mix", str(path)]) == expect
    out = capsys.readouterr()
    return Path(out.out.strip().splitlines()[-1]) if expect == 0 else out.err


def test_cpt_and_sft_mixture_loads_with_stated_weights(releases, tmp_path, capsys):
    cpt, sft = releases
    m_cpt, m_sft = manifests.load(cpt), manifests.load(sft)
    ptt_cap = next(s.tokens for s in m_cpt.sources if s.name == "ptt") // 2
    path = mix(tmp_path, capsys, {"seed": 7, "releases": [
        {"path": str(cpt), "content_hash": m_cpt.content_hash,
         "sources": {"laws": {"epochs": 2}, "ptt": {"max_tokens": ptt_cap}, "news": {}}},
        {"path": str(sft), "epochs": 1.5}]})
    mixture = load_mixture(path)
    by = {(c.release, c.source or c.split): c for c in mixture.components}
    assert set(by) == {("demo 0.1.0", "laws"), ("demo 0.1.0", "ptt"), ("demo 0.1.0", "news"), ("sft 0.1.0", "train")}
    laws = by[("demo 0.1.0", "laws")]
    assert laws.tokens == 2 * laws.available_tokens and laws.documents == 2 * laws.available_documents
    assert by[("demo 0.1.0", "news")].tokens == by[("demo 0.1.0", "news")].available_tokens
    assert 0 < by[("demo 0.1.0", "ptt")].tokens <= ptt_cap
    train = by[("sft 0.1.0", "train")]
    assert train.available_tokens < train.tokens <= 1.5 * train.available_tokens
    assert {s.path for s in laws.shards} == {s.path for s in m_cpt.shards if s.source == "laws"}
    assert all(c.content_hash == (m_cpt if c.kind == "cpt" else m_sft).content_hash for c in mixture.components)

    ds = manifests.to_dataset(path)
    tokens, docs = Counter(), Counter()
    for row in ds:
        tokens[row["component"]] += row["tokens"]
        docs[(row["component"], row["id"])] += 1
        assert (row["text"] is None) == (row["messages"] is not None)
    total = sum(tokens.values())
    assert total == mixture.totals["tokens"]
    for c in mixture.components:
        label = f"{c.release.split()[0]}/{c.source or c.split}"
        assert tokens[label] == c.tokens and round(tokens[label] / total, 6) == c.weight
    assert {n for (comp, _), n in docs.items() if comp == "demo/laws"} == {2}  # two epochs: every law twice
    again = manifests.to_dataset(path)
    assert again["id"] == ds["id"]  # deterministic order
    reseeded = manifests.to_dataset(path, seed=1)
    assert reseeded["id"] != ds["id"] and sorted(reseeded["id"]) == sorted(ds["id"])

    assert main(["manifest", "show", str(path)]) == 0
    assert "laws" in capsys.readouterr().out
    assert main(["manifest", "verify", str(path)]) == 0


def test_verify_catches_a_pinned_release_changed_after_mixing(releases, tmp_path, capsys):
    cpt, sft = releases
    path = mix(tmp_path, capsys, {"releases": [{"path": str(cpt)}, {"path": str(sft)}]})
    index = cpt / "dedup" / "index" / "buckets" / "b000-r000.npy"
    data = bytearray(index.read_bytes())
    data[len(data) // 2] ^= 0xFF
    index.write_bytes(bytes(data))
    assert main(["manifest", "verify", str(path)]) == 1
    assert "dedup/index/buckets/b000-r000.npy: file sha256 differs from manifest" in capsys.readouterr().out
    with pytest.raises(manifests.ReleaseVerificationError, match="b000-r000.npy"):
        manifests.to_dataset(path)


def test_mix_refuses_a_release_whose_content_is_not_the_pinned_one(releases, tmp_path, capsys):
    cpt, _ = releases
    err = mix(tmp_path, capsys, {"releases": [{"path": str(cpt), "content_hash": "0" * 64}]}, expect=1)
    assert "is not the pinned 0000" in err
    assert not (tmp_path / "mixes" / "tw-mix").exists()  # nothing half-written


def test_weights_divide_total_tokens(releases, tmp_path, capsys):
    cpt, sft = releases
    path = mix(tmp_path, capsys, {"total_tokens": 3000, "releases": [
        {"path": str(cpt), "sources": {"news": {"weight": 2}, "zhwiki": {"weight": 1}}}, {"path": str(sft), "weight": 1}]})
    by = {c.source or c.split: c for c in load_mixture(path).components}
    assert [by[k].target_tokens for k in ("news", "zhwiki", "train")] == [1500, 750, 750]
    for c in by.values():  # the prefix rule stops before the first document that would overshoot
        assert c.target_tokens - max(len(c.shards), 1) * 400 < c.tokens <= c.target_tokens


def test_mix_refuses_releases_counted_with_different_tokenizers(releases, tmp_path, capsys):
    cpt, _ = releases
    other = tmp_path / "sft36" / "0.1.0"
    write_sft_release([{"id": "a", "messages": [{"role": "user", "content": "你好"}]}], other, "sft36", "0.1.0", {},
                      validation_fraction=0.0, tokenizer="qwen3.6")
    err = mix(tmp_path, capsys, {"releases": [{"path": str(cpt)}, {"path": str(other)}]}, expect=1)
    assert "counted with qwen3.6" in err and "qwen2.5" in err


def test_mix_config_errors_name_the_key(releases, tmp_path, capsys):
    cpt, _ = releases
    err = mix(tmp_path, capsys, {"releases": [{"path": str(cpt), "sources": {"laws": {"epochs": 1, "tokens": 10}}}]}, expect=2)
    assert "releases[0].sources.laws" in err and "one of epochs, tokens, weight" in err
    err = mix(tmp_path, capsys, {"releases": [{"path": str(cpt), "sources": {"nope": {}}}]}, expect=2)
    assert "no source nope" in err
    err = mix(tmp_path, capsys, {"releases": [{"path": str(cpt), "sources": {"laws": {"weight": 1}}}]}, expect=2)
    assert "needs `total_tokens`" in err


def test_a_damaged_mixture_file_is_named(tmp_path, capsys):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "mixture.json").write_text('{"kind": "mixture", "name": 3', encoding="utf-8")
    assert main(["manifest", "verify", str(tmp_path / "m")]) == 2
    assert f"{tmp_path / 'm' / 'mixture.json'}: not a valid mixture" in capsys.readouterr().err


def test_a_source_with_no_document_mixes_as_an_empty_component(tmp_path, capsys):
    import json as _json

    from tests.conftest import write_job

    good, empty = tmp_path / "good.jsonl", tmp_path / "empty.jsonl"
    good.write_text(_json.dumps({"text": "一段足夠長的中文內容，用來建立一個小小的發行版本，混合時應該照常使用。"}, ensure_ascii=False) + "\n", encoding="utf-8")
    empty.write_text(_json.dumps({"text": "short"}) + "\n", encoding="utf-8")  # dropped by quality: too short
    job = write_job(tmp_path, [{"name": "good", "kind": "jsonl", "path": str(good)},
                               {"name": "none", "kind": "jsonl", "path": str(empty)}], steps={"quality": {"enabled": True}})
    assert main(["run", str(job)]) == 0
    release = tmp_path / "out/t/0.1.0"
    path = mix(tmp_path, capsys, {"releases": [{"path": str(release)}]})
    by = {c.source: c for c in load_mixture(path).components}
    assert by["none"].documents == 0 and by["good"].documents == 1

