"""Model-based quality scores: an LLM rates a sample of a CPT release (`curate label-quality`, here against the
stand-in server of tests/llm_stub.py), the ratings train a classifier (`curate train-classifier`), and the
`quality_model` step scores every document in `curate run` and `curate annotate`; plus the label-free path,
reference sources against noise sources of a release."""

from __future__ import annotations

import json
import subprocess
import sys
import time
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
from synth.quality_labels import run_label_quality
from tests.conftest import DEMO
from tests.llm_stub import Stub, stand_in_rating


@pytest.fixture(scope="module")
def cpt_release(tmp_path_factory) -> Path:
    """The demo job's release (bundled laws, wiki, LibreOffice help, PTT), built once for this module."""
    tmp = tmp_path_factory.mktemp("cpt")
    data = yaml.safe_load(DEMO.read_text())
    for src in data["sources"]:
        src["path"] = str((DEMO.parent / src["path"]).resolve())
    data["output"] = str(tmp / "out")
    job = tmp / "demo.yaml"
    job.write_text(yaml.safe_dump(data, allow_unicode=True))
    return run_job(load_job(job))


def label_job(tmp_path: Path, release: Path, base_url: str, sample: int = 40, **llm) -> Path:
    data = {"name": "qlabels", "version": "0.1.0", "output": str(tmp_path / "labels"), "release": str(release),
            "sample": sample, "seed": 0, "test_fraction": 0.25, "dev_fraction": 0.15, "tokenizer": "none",
            "llm": {"base_url": base_url, "model": "stub", "timeout_s": 5, "concurrency": 4, **llm}}
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
        sent = stub.requests
        second = run_label_quality(load_label_job(path), force=True)
        assert stub.requests == sent  # every rating came from the response cache
    m = manifests.load(first)
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
    # a larger sample extends the smaller one: the same documents plus more
    with Stub() as stub:
        bigger = run_label_quality(load_label_job(label_job(tmp_path / "b", cpt_release, stub.base_url, sample=60)))
    assert {r["id"] for r in got} < {r["id"] for r in rows(bigger)}


def test_killed_labeling_run_resumes_sending_only_missing_requests(tmp_path, cpt_release):
    with Stub(latency=0.15) as stub:
        path = label_job(tmp_path, cpt_release, stub.base_url, sample=30, concurrency=2)
        proc = subprocess.Popen([sys.executable, "-m", "curation.cli", "label-quality", str(path)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while stub.requests < 6 and time.time() < deadline:
            time.sleep(0.05)
        proc.kill()
        proc.wait()
        before = stub.requests
        assert 0 < before < 30
        release = run_label_quality(load_label_job(path))
        resumed = stub.requests - before
    usage = manifests.load(release).labels.generation["usage"]
    assert usage["cached"] >= 1 and usage["cached"] + usage["network_requests"] == 30
    assert resumed == usage["network_requests"]
    ids = [r["id"] for r in rows(release)]
    assert len(ids) == len(set(ids)) == 30


def quality_recipe(tmp_path: Path, sets: list[dict], evaluate: list[dict], **extra) -> Path:
    data = {"name": "quality", "positive_label": "high", "negative_label": "low", "seed": 0, "chunk_chars": 2000,
            "fasttext": {"epoch": 25, "lr": 0.5, "dim": 16, "wordNgrams": 2}, "quantize": False,
            "sets": sets, "evaluate": evaluate, **extra}
    path = tmp_path / "quality.recipe.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def test_llm_labels_train_a_model_that_scores_and_drops_in_run_and_annotate(tmp_path, cpt_release, capsys):
    with Stub() as stub:
        labels = run_label_quality(load_label_job(label_job(tmp_path, cpt_release, stub.base_url, sample=400)))
    recipe = quality_recipe(tmp_path, [{"path": str(labels), "parts": ["train", "dev"]}], [{"path": str(labels), "parts": ["test"]}],
                            label_field="score", positive_values=[3, 4, 5])
    card = train(load_recipe(recipe), tmp_path, tmp_path / "model", recipe_path=str(recipe))
    held_out = card.metrics[str(labels)]
    assert held_out["rows"] == manifests.load(labels).labels.parts["test"] and held_out["f1"] > 0.6
    assert held_out["spearman"] is not None and held_out["spearman"] > 0.3  # agrees with the rater's 0-5 order

    # the step in a run: every kept document scored, low scorers dropped with their own reason
    data = yaml.safe_load(DEMO.read_text())
    for src in data["sources"]:
        src["path"] = str((DEMO.parent / src["path"]).resolve())
    data["output"] = str(tmp_path / "out")
    data["steps"]["quality_model"] = {"enabled": True, "model_path": str(tmp_path / "model" / "quality.json"), "drop": True}
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump(data, allow_unicode=True))
    release = run_job(load_job(job))
    step = next(s for s in manifests.load(release).steps if s.step == "quality_model")
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


def test_reference_vs_noise_recipe_needs_no_labels(tmp_path, cpt_release):
    split = {"seed": 1, "train": 0.7, "dev": 0.15}
    recipe = quality_recipe(tmp_path, [
        {"path": str(cpt_release), "sources": ["laws", "zhwiki"], "label": 1, "split": split, "parts": ["train", "dev"]},
        {"path": str(cpt_release), "sources": ["ptt"], "label": 0, "split": split, "parts": ["train", "dev"]},
    ], [
        {"name": "reference", "path": str(cpt_release), "sources": ["laws", "zhwiki"], "label": 1, "split": split, "parts": ["test"]},
        {"name": "noise", "path": str(cpt_release), "sources": ["ptt"], "label": 0, "split": split, "parts": ["test"]},
    ])
    card = train(load_recipe(recipe), tmp_path, tmp_path / "model", recipe_path=str(recipe))
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
