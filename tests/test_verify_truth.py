"""Issue #41: `curate manifest verify` trusts nothing the manifest says about itself.

Every number the files give (documents, characters, tokens per shard, per source and in total; mixture weights; SFT
splits and categories; labels parts and scores; a mixture's components) is counted again and a difference is named
with the value in the manifest and the value recomputed; licenses, weights and config are covered by the manifest's
description hash (and a CPT release's by its config); hashes are printed whole; a broken manifest or a path that is
not a release is one line and exit 1, never the file's content.
"""

import json
import shutil
from pathlib import Path

import pytest
import yaml

import manifests
from curation.cli import main
from manifests.writer import write_labels_release, write_sft_release
from tests.conftest import DEMO


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """Built once: the demo CPT release, an SFT release with two sources, a labels release and a mixture of the CPT and
    SFT releases (pinned by relative paths, so a copy of the whole folder is a working copy)."""
    root = tmp_path_factory.mktemp("built")
    data = yaml.safe_load(DEMO.read_text())
    for src in data["sources"]:
        src["path"] = str((DEMO.parent / src["path"]).resolve())
    data["output"] = str(root / "out")
    (root / "demo.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    assert main(["run", str(root / "demo.yaml")]) == 0
    records = [{"id": f"q{i}", "category": ["chat", "math"][i % 2], "source": "b" if i % 3 == 0 else "a", "messages": [
        {"role": "user", "content": f"臺灣最高的山是哪一座？（第 {i} 題）"},
        {"role": "assistant", "content": "玉山，主峰海拔三千九百五十二公尺。" * (1 + i % 3)}]} for i in range(40)]
    write_sft_release(records, root / "sft" / "0.1.0", "sft", "0.1.0", {"name": "sft"}, validation_fraction=0.2, tokenizer="qwen2.5",
                      sources={"a": {"kind": "sft", "license": "MIT"}, "b": {"kind": "sft", "license": "CC BY-NC 4.0"}})
    rows = [{"id": f"d{i}", "text": f"第 {i} 篇文件的內容。" * (i + 1), "source": "news", "score": i % 5, "reason": "ok",
             "part": ["train", "dev", "test"][i % 3]} for i in range(30)]
    write_labels_release(rows, root / "labels" / "0.1.0", "labels", "0.1.0", {"name": "labels"},
                         {"release": "demo 0.1.0", "release_content_hash": "0" * 64, "sample": 30, "seed": 1, "rubric_sha256": "0" * 64},
                         tokenizer="qwen2.5")
    (root / "mix.yaml").write_text(yaml.safe_dump({"name": "tw-mix", "output": str(root / "mixes"), "seed": 3, "releases": [
        {"path": str(root / "out/demo/0.1.0"), "sources": {"laws": {"epochs": 2}, "news": {}}},
        {"path": str(root / "sft/0.1.0"), "epochs": 1.5}]}))
    assert main(["mix", str(root / "mix.yaml")]) == 0
    return root


@pytest.fixture
def root(built, tmp_path) -> Path:
    shutil.copytree(built, tmp_path / "r")
    return tmp_path / "r"


def edit(path: Path, change) -> dict:
    """Change manifest.json (or mixture.json) by hand, as a user with an editor would; returns the JSON before."""
    before = json.loads(path.read_text(encoding="utf-8"))
    after = json.loads(json.dumps(before))
    change(after)
    path.write_text(json.dumps(after, ensure_ascii=False, indent=2), encoding="utf-8")
    return before


def verify(path: Path, capsys, *extra: str) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(["manifest", "verify", str(path), *extra])
    return rc, capsys.readouterr().out


def source(m: dict, name: str) -> dict:
    return next(s for s in m["sources"] if s["name"] == name)


def test_intact_releases_and_mixture_verify_with_what_was_recomputed(root, capsys):
    for path in (root / "out/demo/0.1.0", root / "sft/0.1.0", root / "labels/0.1.0", root / "mixes/tw-mix/0.1.0"):
        rc, out = verify(path, capsys)
        assert rc == 0 and ": ok," in out and "note:" not in out, out
    rc, out = verify(root / "out/demo/0.1.0", capsys)
    assert "documents, characters and tokens per shard, per source and in total" in out and "mixture weights" in out
    assert "description hash" in out and manifests.load(root / "out/demo/0.1.0").content_hash in out  # the whole hash
    assert len(manifests.load(root / "out/demo/0.1.0").description_hash) == 64


# each: (what to edit, the field verify must name); the message must hold the edited and the recomputed value
CPT_EDITS = {
    "totals.documents": (lambda m: m["totals"].__setitem__("documents", m["totals"]["documents"] + 1),
                         lambda m: ("totals.documents", m["totals"]["documents"] + 1, m["totals"]["documents"])),
    "totals.tokens": (lambda m: m["totals"].__setitem__("tokens", m["totals"]["tokens"] - 7),
                      lambda m: ("totals.tokens", m["totals"]["tokens"] - 7, m["totals"]["tokens"])),
    "totals.characters": (lambda m: m["totals"].__setitem__("characters", 1),
                          lambda m: ("totals.characters", 1, m["totals"]["characters"])),
    "shard documents": (lambda m: m["shards"][0].__setitem__("documents", m["shards"][0]["documents"] + 1),
                        lambda m: (f"{m['shards'][0]['path']}: documents", m["shards"][0]["documents"] + 1, m["shards"][0]["documents"])),
    "shard tokens": (lambda m: m["shards"][-1].__setitem__("tokens", m["shards"][-1]["tokens"] + 100),
                     lambda m: (f"{m['shards'][-1]['path']}: tokens", m["shards"][-1]["tokens"] + 100, m["shards"][-1]["tokens"])),
    "source tokens": (lambda m: source(m, "news").__setitem__("tokens", 5),
                      lambda m: ("sources.news.tokens", 5, source(m, "news")["tokens"])),
    "source documents": (lambda m: source(m, "ptt").__setitem__("documents", 60),
                         lambda m: ("sources.ptt.documents", 60, source(m, "ptt")["documents"])),
    "mixture_weights": (lambda m: m["mixture_weights"].__setitem__("laws", 0.9),
                        lambda m: ("mixture_weights.laws", 0.9, m["mixture_weights"]["laws"])),
}


@pytest.mark.parametrize("what", list(CPT_EDITS))
def test_an_edited_number_of_a_cpt_release_is_named_with_both_values(root, capsys, what):
    release = root / "out/demo/0.1.0"
    change, expect = CPT_EDITS[what]
    before = edit(release / "manifest.json", change)
    field, in_manifest, recomputed = expect(before)
    rc, out = verify(release, capsys)
    assert rc == 1, out
    assert f"{field}: manifest says {in_manifest}, recomputed {recomputed} from" in out, out
    with pytest.raises(manifests.ReleaseVerificationError, match=field.split(":")[0]):
        manifests.to_dataset(release)  # a training job loading the release refuses it too


def test_an_edited_license_is_flagged(root, capsys):
    release = root / "out/demo/0.1.0"
    before = edit(release / "manifest.json", lambda m: source(m, "laws").__setitem__("license", "CC0"))
    rc, out = verify(release, capsys)
    assert rc == 1
    assert f"sources.laws.license: manifest says 'CC0', the config it was made with says {source(before, 'laws')['license']!r}" in out
    assert f"description_hash: manifest says {before['description_hash']}, recomputed " in out and "was edited" in out


def test_a_license_edited_in_config_and_sources_alike_is_caught_by_the_description_hash(root, capsys):
    """Sources and config agree, the config hash is recomputed: only the description hash still knows."""
    import hashlib

    release = root / "out/demo/0.1.0"

    def relicense(m):
        source(m, "laws")["license"] = "CC0"
        next(s for s in m["config"]["sources"] if s["name"] == "laws")["license"] = "CC0"
        m["config_hash"] = hashlib.sha256(json.dumps(m["config"], sort_keys=True).encode()).hexdigest()

    before = edit(release / "manifest.json", relicense)
    rc, out = verify(release, capsys)
    assert rc == 1 and "1 problem" in out and f"description_hash: manifest says {before['description_hash']}" in out, out


def test_an_edited_config_is_caught_by_its_hash(root, capsys):
    release = root / "out/demo/0.1.0"
    before = edit(release / "manifest.json", lambda m: m["config"].__setitem__("version", "9.9.9"))
    rc, out = verify(release, capsys)
    assert rc == 1 and f"config_hash: manifest says {before['config_hash']}, recomputed " in out


def test_the_content_hash_mismatch_shows_both_hashes_whole(root, capsys):
    release = root / "out/demo/0.1.0"
    before = edit(release / "manifest.json", lambda m: m.__setitem__("content_hash", m["content_hash"][:16] + "0" * 48))
    real, edited = before["content_hash"], before["content_hash"][:16] + "0" * 48
    rc, out = verify(release, capsys)
    assert rc == 1 and f"content hash of the shards is {real}, manifest says {edited}" in out, out
    rc, out = verify(release, capsys, "--content-hash", "f" * 64)
    assert rc == 1 and f"content hash of the shards is {real}, not the expected {'f' * 64}" in out


def test_a_manifest_written_before_the_description_hash_still_verifies_and_says_what_is_not_covered(root, capsys):
    for path in (root / "out/demo/0.1.0", root / "sft/0.1.0"):
        edit(path / "manifest.json", lambda m: m.pop("description_hash"))
        rc, out = verify(path, capsys)
        assert rc == 0 and ": ok," in out, out
        assert "note: description (licenses, weights, config, steps) not covered" in out
        assert manifests.load(path).description_hash is None and manifests.verify(path) == []
    # its numbers are still counted again, and a CPT release's licenses still checked against its config
    edit(root / "out/demo/0.1.0/manifest.json", lambda m: source(m, "news").__setitem__("license", "CC0"))
    rc, out = verify(root / "out/demo/0.1.0", capsys)
    assert rc == 1 and "sources.news.license: manifest says 'CC0'" in out


def test_edited_numbers_of_an_sft_release(root, capsys):
    release = root / "sft/0.1.0"
    before = edit(release / "manifest.json", lambda m: (source(m, "b").__setitem__("tokens", source(m, "b")["tokens"] + 1),
                                                       m["sft"]["categories"].__setitem__("chat", 99),
                                                       m["sft"]["splits"].__setitem__("train", 1)))
    rc, out = verify(release, capsys)
    assert rc == 1
    b = source(before, "b")["tokens"]
    assert f"sources.b.tokens: manifest says {b + 1}, recomputed {b} from the rows of that source" in out
    assert f"sft.categories.chat: manifest says 99, recomputed {before['sft']['categories']['chat']} from the rows" in out
    assert f"sft.splits.train: manifest says 1, recomputed {before['sft']['splits']['train']} from the shards" in out
    edit(release / "manifest.json", lambda m: m.update(before) or source(m, "a").__setitem__("license", "CC0"))
    rc, out = verify(release, capsys)
    assert rc == 1 and "description_hash: manifest says" in out


def test_edited_numbers_of_a_labels_release(root, capsys):
    release = root / "labels/0.1.0"
    before = edit(release / "manifest.json", lambda m: (m["labels"]["scores"].__setitem__("0", 0), m["shards"][0].__setitem__("characters", 3)))
    rc, out = verify(release, capsys)
    assert rc == 1
    assert f"labels.scores.0: manifest says 0, recomputed {before['labels']['scores']['0']} from the rows" in out
    assert f"{before['shards'][0]['path']}: characters: manifest says 3, recomputed {before['shards'][0]['characters']}" in out


def test_edited_numbers_and_licenses_of_a_mixture(root, capsys):
    path = root / "mixes/tw-mix/0.1.0"
    sft = next(i for i, c in enumerate(json.loads((path / "mixture.json").read_text())["components"]) if c["split"])

    def change(m):
        m["components"][0]["weight"] = 0.5
        m["components"][0]["tokens"] += 10
        m["components"][sft]["licenses"]["b"] = "MIT"
        m["totals"]["documents"] += 1

    before = edit(path / "mixture.json", change)
    c0, cs = before["components"][0], before["components"][sft]
    rc, out = verify(path, capsys)
    assert rc == 1, out
    label0 = f"components[0] ({c0['release']} {c0['source']})"
    assert f"{label0}.weight: manifest says 0.5, recomputed {c0['weight']} from" in out
    assert f"{label0}.tokens: manifest says {c0['tokens'] + 10}, recomputed {c0['tokens']} from" in out
    assert f"components[{sft}] ({cs['release']} train).licenses.b: manifest says 'MIT', recomputed 'CC BY-NC 4.0'" in out
    assert f"totals.documents: manifest says {before['totals']['documents'] + 1}, recomputed {before['totals']['documents']}" in out
    # a pin edited: both hashes whole
    edit(path / "mixture.json", lambda m: m.update(before) or m["components"][0].__setitem__("content_hash", "a" * 64))
    rc, out = verify(path, capsys)
    assert rc == 1 and f"is not the pinned {'a' * 64}" in out and manifests.load(root / "out/demo/0.1.0").content_hash in out
    # a pinned release whose manifest was edited: the mixture does not verify either
    edit(path / "mixture.json", lambda m: m.update(before))
    edit(root / "out/demo/0.1.0/manifest.json", lambda m: m["totals"].__setitem__("documents", 1))
    rc, out = verify(path, capsys)
    assert rc == 1 and "totals.documents: manifest says 1, recomputed" in out


@pytest.mark.parametrize("broken", ['{"schema_version": 4, "name": "demo"', '{"name": 3}', "", "\x00\x01binary"])
@pytest.mark.parametrize("action", ["verify", "show", "diff"])
def test_a_broken_manifest_is_exit_1_and_one_line(root, capsys, broken, action):
    release = root / "out/demo/0.1.0"
    (release / "manifest.json").write_text(broken, encoding="utf-8")
    capsys.readouterr()
    rc = main(["manifest", action, str(release)] + ([str(root / "sft/0.1.0")] if action == "diff" else []))
    out, err = capsys.readouterr()
    assert rc == 1 and out == "", (out, err)
    assert len(err.strip().splitlines()) == 1 and err.startswith("curate: error: ") and "manifest.json" in err, err
    assert "validation error" not in err and "input_value" not in err and "pydantic" not in err


@pytest.mark.parametrize("action", ["show", "verify", "diff"])
def test_a_path_that_is_not_a_release_says_so_in_one_line_and_never_prints_the_file(root, tmp_path, capsys, action):
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n")
    not_json_object = tmp_path / "list.json"
    not_json_object.write_text('["root:x:0:0"]')
    shard = next((root / "out/demo/0.1.0/data").rglob("*.parquet"))
    targets = [secret, not_json_object, shard, tmp_path / "nothing-here", root / "out"]
    if Path("/etc/passwd").is_file():
        targets.append(Path("/etc/passwd"))
    for target in targets:
        capsys.readouterr()
        args = ["manifest", action, str(target)] + ([str(root / "sft/0.1.0")] if action == "diff" else [])
        rc = main(args)
        out, err = capsys.readouterr()
        assert rc == 1 and out == "", (target, out, err)
        assert len(err.strip().splitlines()) == 1 and str(target) in err and "not a release" in err, err
        assert "root:" not in err and "daemon" not in err
