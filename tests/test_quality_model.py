"""Model-based quality scores: an LLM rates a sample of a CPT release (`curate label-quality`, here against the
stand-in server of tests/llm_stub.py), the ratings train a classifier (`curate train-classifier`), and the
`quality_model` step scores every document in `curate run` and `curate annotate`; plus the label-free path,
reference sources against noise sources of a release."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

import manifests
from curation.classifier import load_recipe, train
from curation.cli import main
from curation.config import ConfigError, load_job, load_label_job
from curation.errors import CurateError
from curation.pipeline import run_job
from curation.label_quality import run_label_quality
from tests.conftest import DEMO, write_job
from tests.llm_stub import Stub, kill_after_requests, stand_in_rating


FORMAL = ["本法所稱主管機關，在中央為內政部；在直轄市為直轄市政府；在縣（市）為縣（市）政府。",
          "人民之權利義務，除法律另有規定外，依本法之規定辦理。", "主管機關應定期檢討相關措施，並將結果公告於政府資訊公開網站。",
          "違反前項規定者，處新臺幣三萬元以上十五萬元以下罰鍰，並得按次處罰。", "前條所定之期間，自通知送達之翌日起算。",
          "申請人應檢具相關文件，向主管機關提出申請，經審查合格後核發許可。", "本法施行細則，由主管機關定之。",
          "各級政府應編列預算，辦理教育訓練及宣導事項。", "直轄市、縣（市）政府得視地方需要，訂定自治條例。"]
PROSE = ["臺灣位於東亞，西隔臺灣海峽與中國大陸相望，東臨太平洋。", "中央山脈縱貫全島，最高峰玉山海拔三千九百五十二公尺。",
         "本島氣候屬亞熱帶與熱帶季風氣候，夏季多颱風與午後雷陣雨。", "使用者可以在工具選單中開啟選項對話方塊，調整文件的預設字型。",
         "試算表的儲存格可以包含文字、數字或公式，公式以等號開頭。", "若要插入圖片，請選擇插入選單中的影像，然後從檔案選取圖片。",
         "捷運系統連接臺北市與新北市的主要地區，尖峰時段約每三分鐘一班車。", "博物館收藏大量文物，包括青銅器、書畫與陶瓷，並定期舉辦特展。"]
CHAT = ["笑死", "真的假的", "有人知道嗎", "推推", "樓上說的對", "好想睡覺喔", "今天好熱", "哈哈哈哈", "我也要", "這什麼啦", "晚餐吃啥",
        "超扯", "不意外", "有圖有真相", "先推再看", "路過", "好喔", "這個讚喔"]


@pytest.fixture(scope="module")
def cpt_release(tmp_path_factory) -> Path:
    """A CPT release of 360 documents in three sources: statutes (the stand-in rater gives 5), encyclopedia and help
    prose (3-4), chat fragments (1), composed from the sentences above with a seeded generator."""
    import random

    tmp = tmp_path_factory.mktemp("cpt")
    rng = random.Random(0)
    files = {}
    for name, make in (("laws", lambda i: "\n".join(f"第{k + 1}條　{rng.choice(FORMAL)}" for k in range(rng.randint(2, 4)))),
                       ("wiki", lambda i: "".join(rng.sample(PROSE, rng.randint(3, 7)))),
                       ("chat", lambda i: "\n".join(rng.sample(CHAT, rng.randint(3, 6))))):
        path = tmp / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"id": str(i), "text": make(i)}, ensure_ascii=False) + "\n" for i in range(120)),
                        encoding="utf-8")
        files[name] = str(path)
    job = write_job(tmp, [{"name": n, "kind": "jsonl", "path": p} for n, p in files.items()], tokenizer="none")
    return run_job(load_job(job))


def label_job(tmp_path: Path, release: Path, base_url: str, sample: int = 40, **llm) -> Path:
    data = {"name": "qlabels", "version": "0.1.0", "output": str(tmp_path / "labels"), "release": str(release),
            "sample": sample, "seed": 0, "test_fraction": 0.25, "dev_fraction": 0.15, "tokenizer": "none",
            "llm": {"base_url": base_url, "model": "stub", "timeout_s": 5, "concurrency": 4, **llm}}
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "label-job.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def rows(release: Path) -> list[dict]:
    m = manifests.load(release)
    return [r for s in m.shards for r in pq.read_table(release / s.path).to_pylist()]


def test_labels_release_holds_the_ratings_of_a_seeded_sample(tmp_path, cpt_release):
    with Stub() as stub:
        path = label_job(tmp_path, cpt_release, stub.base_url)
        first = run_label_quality(load_label_job(path))
        m = manifests.load(first)
        sent = stub.requests
        second = run_label_quality(load_label_job(path), force=True)  # the same version again, replaced
        assert stub.requests == sent  # every rating came from the response cache
    assert m.kind == "labels" and m.labels.sample == 40 and sum(m.labels.parts.values()) == 40
    assert m.labels.release == f"{manifests.load(cpt_release).name}/{manifests.load(cpt_release).version}"
    assert m.labels.release_content_hash == manifests.load(cpt_release).content_hash
    got = rows(first)
    assert len({r["id"] for r in got}) == 40 and all(r["score"] == stand_in_rating(r["text"])["score"] for r in got)
    assert sum(m.labels.scores.values()) == 40 and m.labels.generation["usage"]["network_requests"] == 40
    assert manifests.verify(first) == []
    assert {s.split for s in m.shards} == {"train", "dev", "test"}
    assert manifests.to_dataset(first, split="test").num_rows == m.labels.parts["test"]
    assert manifests.load(second).content_hash == m.content_hash
    assert manifests.load(second).labels.generation["usage"]["cached"] == 40
    # a larger sample extends the smaller one: the same documents plus more
    with Stub() as stub:
        bigger = run_label_quality(load_label_job(label_job(tmp_path / "b", cpt_release, stub.base_url, sample=60)))
    assert {r["id"] for r in got} < {r["id"] for r in rows(bigger)}


def test_killed_labeling_run_resumes_sending_only_missing_requests(tmp_path, cpt_release):
    with Stub(latency=0.15) as stub:
        path = label_job(tmp_path, cpt_release, stub.base_url, sample=30, concurrency=2)
        before = kill_after_requests(stub, ["label-quality", str(path)], 6)
        assert 0 < before < 30
        release = run_label_quality(load_label_job(path))
        resumed = stub.requests - before
    usage = manifests.load(release).labels.generation["usage"]
    assert usage["cached"] >= 1 and usage["cached"] + usage["network_requests"] == 30
    assert resumed == usage["network_requests"]
    ids = [r["id"] for r in rows(release)]
    assert len(ids) == len(set(ids)) == 30


def quality_recipe(tmp_path: Path, sets: list[dict], evaluate: list[dict], **extra) -> Path:
    data = {"name": "quality", "positive_label": "high", "negative_label": "low", "seed": 0, "chunk_chars": 1000,
            "fasttext": {"epoch": 15, "lr": 0.1, "dim": 16, "wordNgrams": 2}, "quantize": False,
            "sets": sets, "evaluate": evaluate, **extra}
    path = tmp_path / "quality.recipe.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def test_llm_labels_train_a_model_that_scores_and_drops_in_run_and_annotate(tmp_path, cpt_release, capsys):
    with Stub() as stub:
        labels = run_label_quality(load_label_job(label_job(tmp_path, cpt_release, stub.base_url, sample=360)))
    recipe = quality_recipe(tmp_path, [{"path": str(labels), "parts": ["train", "dev"]}], [{"path": str(labels), "parts": ["test"]}],
                            label_field="score", positive_values=[3, 4, 5], model="hashed_ngrams")
    card = train(load_recipe(recipe), tmp_path, tmp_path / "model", recipe_path=str(recipe))
    held_out = card.metrics[str(labels)]
    assert held_out["rows"] == manifests.load(labels).labels.parts["test"] and held_out["f1"] > 0.6
    assert held_out["spearman"] is not None and held_out["spearman"] > 0.3  # agrees with the rater's 0-5 order

    # the step in a run: every kept document scored, low scorers dropped with their own reason
    inputs = [{"name": src.name, "kind": "jsonl", "path": str(cpt_release.parents[2] / f"{src.name}.jsonl")}
              for src in manifests.load(cpt_release).sources]
    job = write_job(tmp_path, inputs, tokenizer="none", steps={"quality_model": {
        "enabled": True, "model_path": str(tmp_path / "model" / "quality.json"), "drop": True}})
    release = run_job(load_job(job))
    step = next(s for s in manifests.load(release).steps if s.step == "quality_model")
    model = next(m for m in manifests.load(release).models if m.step == "quality_model")  # the manifest names it
    assert model.path == str(tmp_path / "model" / "quality.json") and model.card_threshold == card.threshold
    assert step.input > step.kept > 0 and step.dropped_by_reason.get("below_quality_model", 0) == step.dropped
    kept = rows(release)
    assert all("quality_model_score" in json.loads(r["annotations"]) for r in kept)
    assert min(json.loads(r["annotations"])["quality_model_score"] for r in kept
               if json.loads(r["annotations"])["quality_model_score"] > 0) >= card.threshold
    assert main(["stats", str(release)]) == 0
    assert "quality_model_score" in capsys.readouterr().out

    # and in annotate: a statute scores above a one-line chat fragment
    src = tmp_path / "in.jsonl"
    law = "第一條　為保障人民權益，特制定本法。\n第二條　本法所稱主管機關，在中央為內政部；在直轄市為直轄市政府；在縣（市）為縣（市）政府。"
    src.write_text(json.dumps({"id": "law", "text": law}, ensure_ascii=False) + "\n"
                   + json.dumps({"id": "chat", "text": "哈哈哈 笑死 真的假的 有人知道嗎 ？"}, ensure_ascii=False) + "\n")
    out = tmp_path / "annotated.jsonl"
    assert main(["annotate", str(src), "-o", str(out), "--config", str(job)]) == 0
    scores = {r["id"]: r["annotations"]["quality_model_score"] for r in map(json.loads, out.read_text().splitlines())}
    assert scores["law"] > scores["chat"]


@pytest.mark.parametrize("model", ["fasttext", "hashed_ngrams"])
def test_reference_vs_noise_recipe_needs_no_labels(tmp_path, cpt_release, model):
    split = {"seed": 1, "train": 0.7, "dev": 0.15}
    recipe = quality_recipe(tmp_path, [
        {"path": str(cpt_release), "sources": ["laws", "wiki"], "label": 1, "split": split, "parts": ["train", "dev"]},
        {"path": str(cpt_release), "sources": ["chat"], "label": 0, "split": split, "parts": ["train", "dev"]},
    ], [
        {"name": "reference", "path": str(cpt_release), "sources": ["laws", "wiki"], "label": 1, "split": split, "parts": ["test"]},
        {"name": "noise", "path": str(cpt_release), "sources": ["chat"], "label": 0, "split": split, "parts": ["test"]},
    ], model=model, quantize=model == "fasttext")
    card = train(load_recipe(recipe), tmp_path, tmp_path / "model", recipe_path=str(recipe))
    # seeded and single-threaded (fastText in a fresh process each time): the same recipe gives the same model bytes
    assert train(load_recipe(recipe), tmp_path, tmp_path / "again", recipe_path=str(recipe)).sha256 == card.sha256
    assert card.model_file.endswith(".npz" if model == "hashed_ngrams" else ".ftz")
    assert card.metrics["reference"]["recall"] > 0.8  # held-out reference documents score as reference
    assert card.metrics["noise"]["positives"] == 0 and card.metrics["noise"]["rows"] > 0
    # a CPT release has no labels of its own: a set without `label` is refused with its path
    (tmp_path / "bad").mkdir()
    bad = quality_recipe(tmp_path / "bad", [{"path": str(cpt_release), "sources": ["laws"]}], [])
    with pytest.raises(CurateError, match="holds no labels"):
        train(load_recipe(bad), tmp_path, tmp_path / "model2")


def test_config_errors_name_the_file_and_key(tmp_path, cpt_release):
    data = yaml.safe_load(DEMO.read_text())
    for src in data["sources"]:
        src["path"] = str((DEMO.parent / src["path"]).resolve())
    data["steps"]["quality_model"] = {"enabled": True}
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(ConfigError, match="steps.quality_model.model_path: required"):
        load_job(job)
    path = label_job(tmp_path, tmp_path / "nowhere", "http://127.0.0.1:9/v1")
    with pytest.raises(ConfigError, match="release: not a release"):
        load_label_job(path)


def test_hashed_ngram_ids_fold_script_width_and_digits():
    from filters.ngrammodel import ngram_ids

    ids = ngram_ids("甲乙甲乙", (2,), 20)
    assert len(ids) == 3 and ids[0] == ids[2] != ids[1]  # an n-gram has one id wherever it stands
    assert len(ngram_ids("臺灣軟體", (1, 2, 3), 20)) == 4 + 3 + 2
    # Traditional/Simplified, full-width/half-width, upper/lower case and every digit fold to one form
    assert ngram_ids("臺灣ＡＢ１２", (1, 2, 3), 20).tolist() == ngram_ids("台湾ab93", (1, 2, 3), 20).tolist()
