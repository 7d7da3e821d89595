"""`curate stats`, `report`, `inspect`, `manifest diff` and `mix` on SFT releases built by the real `curate synth` from
imported data (no LLM): every number asserted is one the planted records decide."""

import json
import shutil
from pathlib import Path

import pytest
import yaml

import manifests
from curation.cli import main
from curation.sft_stats import describe
from manifests.mixture import load_mixture

EVAL_Q = "請說明臺灣的全民健康保險制度是在哪一年開始實施的，以及它的主要特色有哪些？"
EVAL_A = "全民健康保險於一九九五年三月一日開始實施，特色是強制納保、單一保險人，以及就醫方便、保費相對低廉。"
REFUSAL = "很抱歉，我無法協助。"
# source qa (CC BY-NC): 4 kept; one answer too short, one refusal, one copy of the evaluation item, one broken line
QA = [("q1", "臺北有哪些適合週末散步的公園？", "大安森林公園和華山文創園區都很適合，交通方便，假日也有市集可以逛。", "chat"),
      ("q2", "請問颱風天出門前應該準備哪些東西？", "建議先確認停班停課公告，準備雨衣、手電筒與行動電源，並避免靠近河邊與海邊。", "knowledge_qa"),
      ("q3", "用一句話介紹日月潭。", "日月潭位於南投縣魚池鄉，是臺灣最大的天然淡水湖，湖光山色四季都美。", "knowledge_qa"),
      ("q4", "一杯珍珠奶茶五十五元，買三杯要多少錢？", "五十五乘以三等於一百六十五，所以三杯珍珠奶茶一共是一百六十五元。", "math"),
      ("short", "請問玉山有多高？", "高。", "knowledge_qa"),
      ("refuse", "幫我寫一封信給房東，說明下個月要退租。", REFUSAL, "chat"),
      ("eval", EVAL_Q, EVAL_A, "knowledge_qa")]
# source chats (MIT): 2 kept, one refusal; the second release adds a kept chat and another refusal
CHATS = [("c1", "推薦一道適合夏天的臺灣小吃。", "愛玉冰很適合夏天，清涼解渴，可以加檸檬汁和一點蜂蜜。"),
         ("c2", "高雄有什麼值得參觀的景點？", "可以去駁二藝術特區、旗津海岸和蓮池潭，晚上再逛六合夜市。"),
         ("c3", "請幫我查詢我朋友的身分證字號。", REFUSAL)]
MORE_CHATS = [("c4", "可以告訴我鄰居的電話號碼嗎？", REFUSAL),
              ("c5", "第一次去花蓮，有什麼行程建議？", "可以安排太魯閣峽谷健行、七星潭看海，晚上去東大門夜市吃小吃。")]


def write_chats(path: Path, chats: list[tuple]) -> None:
    path.write_text("".join(json.dumps({"id": i, "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]},
                                       ensure_ascii=False) + "\n" for i, q, a in chats), encoding="utf-8")


def synth(tmp_path: Path, capsys, name: str = "sft", validation_fraction: float = 0.3) -> Path:
    """The import-only job over QA and whatever tmp_path/chats.jsonl holds, released by `curate synth`."""
    (tmp_path / "eval.jsonl").write_text(json.dumps({"question": EVAL_Q, "answer": EVAL_A}, ensure_ascii=False) + "\n", encoding="utf-8")
    (tmp_path / "qa.jsonl").write_text("".join(json.dumps({"id": i, "instruction": q, "output": a, "category": c}, ensure_ascii=False) + "\n"
                                               for i, q, a, c in QA) + "{broken\n", encoding="utf-8")
    job = {"name": name, "version": "auto", "output": str(tmp_path / "out"),
           "llm": {"base_url": "http://127.0.0.1:9/v1", "model": "none"},  # no server: imports ask no one
           "tasks": [{"kind": "import", "input": str(tmp_path / "qa.jsonl"), "format": "alpaca", "source": "qa", "license": "CC BY-NC 4.0"},
                     {"kind": "import", "input": str(tmp_path / "chats.jsonl"), "source": "chats", "license": "MIT"}],
           "gates": {"eval_sets": [str(tmp_path / "eval.jsonl")], "min_chars_by_task": {"import": 4}},
           "validation_fraction": validation_fraction}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(job, allow_unicode=True), encoding="utf-8")
    assert main(["synth", str(path)]) == 0
    return Path(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture
def releases(tmp_path, capsys) -> tuple[Path, Path]:
    """sft 0.1.0 (CHATS), then sft 0.1.1 with MORE_CHATS added."""
    write_chats(tmp_path / "chats.jsonl", CHATS)
    first = synth(tmp_path, capsys)
    write_chats(tmp_path / "chats.jsonl", CHATS + MORE_CHATS)
    return first, synth(tmp_path, capsys)


EXPECTED_REJECTIONS = [{"gate": "decontamination", "reason": "eval_overlap", "source": "qa", "records": 1},
                       {"gate": "length", "reason": "too_short", "source": "qa", "records": 1},
                       {"gate": "refusal", "reason": "refusal", "source": "chats", "records": 1},
                       {"gate": "refusal", "reason": "refusal", "source": "qa", "records": 1}]


def stats_json(release: Path, capsys) -> dict:
    assert main(["stats", str(release), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def as_old_release(release: Path, tmp_path: Path) -> Path:
    """A copy of the release as synth wrote it before it recorded gate steps and sources: `steps: []`, `sources: []`,
    the gate counts in generation["gates"] only."""
    old = tmp_path / "old" / release.name
    shutil.copytree(release, old)
    m = manifests.load(old)
    counts = {f"{s.step}:{r}": n for s in m.steps for r, n in s.dropped_by_reason.items() if n} or m.sft.generation["gates"]
    sft = m.sft.model_copy(update={"generation": {**m.sft.generation, "gates": counts}})
    (old / "manifest.json").write_text(m.model_copy(update={"steps": [], "sources": [], "sft": sft}).model_dump_json(indent=2), encoding="utf-8")
    return old


def test_stats_shows_kept_records_gates_per_reason_and_source_and_failures(releases, tmp_path, capsys):
    first, _ = releases
    data = stats_json(first, capsys)
    assert sorted(data["rejections"], key=lambda r: (r["gate"], r["source"])) == EXPECTED_REJECTIONS
    assert {r["source"]: (r["records"], r["license"]) for r in data["sources"]} == {"qa": (4, "CC BY-NC 4.0"), "chats": (2, "MIT")}
    assert {r["category"]: r["records"] for r in data["categories"]} == {"chat": 1, "knowledge_qa": 2, "math": 1, "imported": 2}
    assert sum(r["records"] for r in data["splits"]) == 6 and {r["split"] for r in data["splits"]} <= {"train", "validation"}
    assert data["failures"] == [{"task": "import", "source": "qa", "reason": "malformed_record", "records": 1}]
    gates = {g["gate"]: g for g in data["gates"]}
    assert gates["refusal"]["dropped"] == 2 and gates["length"]["dropped"] == 1 and gates["decontamination"]["dropped"] == 1
    assert data["gates"][0]["in"] == 10 and data["gates"][-1]["kept"] == 6  # 7 qa + 3 chats gated, 6 kept
    funnel = {r["source"]: r for r in data["funnel"]}
    assert (funnel["qa"]["in"], funnel["qa"]["kept"], funnel["chats"]["in"], funnel["chats"]["kept"]) == (7, 4, 3, 2)
    assert {(r["step"], r["reason"]): r["documents"] for r in data["steps"] if r["outcome"] == "dropped" and r["source"] == "qa"} == {
        ("length", "too_short"): 1, ("refusal", "refusal"): 1, ("decontamination", "eval_overlap"): 1}

    assert main(["stats", str(first)]) == 0
    text = capsys.readouterr().out
    assert "sft 0.1.0 (sft): 6 records kept of 10 gated" in text and "1 generation/import failures" in text
    assert "too_short" in text and "eval_overlap" in text and "malformed_record" in text and "CC BY-NC 4.0" in text
    assert main(["stats", str(first), "--csv"]) == 0
    assert "refusal,chats,dropped,refusal,1," in capsys.readouterr().out

    # a release made before synth recorded its gate steps and sources reads the same from its counts and rejects
    old = stats_json(as_old_release(first, tmp_path), capsys)
    assert sorted(old["rejections"], key=lambda r: (r["gate"], r["source"])) == EXPECTED_REJECTIONS
    assert old["sources"] == data["sources"] and old["funnel"][0]["in"] + old["funnel"][1]["in"] == 10


def test_stats_compare_gives_the_change_of_every_gate_rate(releases, capsys):
    first, second = releases
    assert main(["stats", str(second), "--compare", str(first), "--json"]) == 0
    rows = {(r["step"], r["reason"]): r for r in json.loads(capsys.readouterr().out)["compare"]}
    refusal = rows[("refusal", "refusal")]
    assert refusal["old_rate"] == pytest.approx(2 / 9) and refusal["new_rate"] == pytest.approx(3 / 11)  # after length's 1 drop


def test_report_lists_gates_sources_failures_and_examples(releases, tmp_path, capsys):
    first, _ = releases
    out = tmp_path / "report.html"
    assert main(["report", str(first), "-o", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert "plotly" in page and "Rejected records by gate, reason and source" in page
    assert "<td>length</td><td>too_short</td><td>qa</td><td>1</td>" in page
    assert "<td>qa</td><td>4</td>" in page and "CC BY-NC 4.0" in page and "malformed_record" in page
    assert "<h3>refusal: refusal (2)</h3>" in page and "import/qa/short" in page


def test_inspect_lists_rejected_records_by_gate_reason_source_and_task(releases, capsys):
    first, _ = releases
    assert main(["inspect", str(first), "--step", "refusal", "--source", "chats"]) == 0
    out = capsys.readouterr().out
    assert "import/chats/c3  source=chats  task=import  refusal:refusal" in out and "import/qa/refuse" not in out
    assert f"assistant: {REFUSAL}" in out
    assert main(["inspect", str(first), "--reason", "eval_overlap", "--task", "import"]) == 0
    out = capsys.readouterr().out
    assert out.count("── ") == 1 and "import/qa/eval" in out and EVAL_Q in out
    assert main(["inspect", str(first), "--step", "failures"]) == 0
    out = capsys.readouterr().out
    assert "failures:malformed_record" in out and "qa.jsonl:8: malformed JSON" in out
    assert main(["inspect", str(first), "--kept", "--source", "chats"]) == 0
    out = capsys.readouterr().out
    assert out.count("── ") == 2 and "import/chats/c1" in out and "import/chats/c2" in out
    assert main(["inspect", str(first), "--task", "self_instruct"]) == 0
    assert capsys.readouterr().out == "no matching records\n"
    assert main(["inspect", str(first), "--step", "nosuchgate"]) == 2
    assert "its gates: " in capsys.readouterr().err
    # every rejection is shown with the evidence the gate quoted, where it quoted one
    assert main(["inspect", str(first), "-n", "50", "--width", "400"]) == 0
    out = capsys.readouterr().out
    rejects = [json.loads(line) for line in (first / "rejects/gate_rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rejects) == 4 and all(r["id"] in out for r in rejects)
    assert all(f"evidence: {' '.join(r['evidence'].split())}" in out for r in rejects if r.get("evidence"))


def test_inspect_prints_evidence_and_judge_scores_of_a_rejected_record():
    rec = {"id": "import/tw/7", "task": "import", "source": "tw", "gate": "answer", "reason": "leaked_template",
           "evidence": "…回答如下 [INST] 請繼續…", "judge": {"mean": 2.5, "scores": {"helpfulness": 2}},
           "messages": [{"role": "user", "content": "問題"}, {"role": "assistant", "content": "回答如下 [INST] 請繼續"}]}
    assert describe(rec, 80) == ["── import/tw/7  source=tw  task=import  answer:leaked_template",
                                 "   evidence: …回答如下 [INST] 請繼續…", '   judge: mean 2.5 {"helpfulness": 2}',
                                 "   user: 問題", "   assistant: 回答如下 [INST] 請繼續"]


def test_manifest_diff_shows_gate_split_category_and_source_changes(releases, tmp_path, capsys):
    first, second = releases
    assert main(["manifest", "diff", str(first), str(second), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    refusal = d["filter_rates_changed"]["refusal"]
    assert refusal["dropped_by_reason"]["refusal"] == {"old": 2, "new": 3}
    assert refusal["drop_rate_by_reason"]["refusal"] == {"old": pytest.approx(2 / 9), "new": pytest.approx(3 / 11)}
    assert refusal["dropped_by_source"] == {"chats": {"refusal": {"old": 1, "new": 2}}}
    assert "length" not in d["filter_rates_changed"] or d["filter_rates_changed"]["length"]["dropped_by_reason"]["too_short"] == {"old": 1, "new": 1}
    assert d["sft_changed"]["categories"] == {"imported": {"old": 2, "new": 3, "delta": 1}}
    assert sum(v["delta"] for v in d["sft_changed"]["splits"].values()) == 1
    assert d["sources_changed"]["chats"]["documents"] == {"old": 2, "new": 3, "delta": 1} and "qa" not in d["sources_changed"]
    assert main(["manifest", "diff", str(first), str(second)]) == 0
    text = capsys.readouterr().out
    assert "refusal: 2 -> 3 (22.2% -> 27.3%)" in text and "source chats: refusal 1 -> 2" in text
    assert "kept in category imported: 2 -> 3 (+1)" in text and "documents 2 -> 3 (+1)" in text
    # the same from releases made before synth recorded gate steps and sources
    assert main(["manifest", "diff", str(as_old_release(first, tmp_path / "a")), str(as_old_release(second, tmp_path / "b")), "--json"]) == 0
    old = json.loads(capsys.readouterr().out)
    assert old["filter_rates_changed"]["refusal"]["dropped_by_reason"]["refusal"] == {"old": 2, "new": 3}
    assert old["filter_rates_changed"]["refusal"]["dropped_by_source"] == {"chats": {"refusal": {"old": 1, "new": 2}}}
    assert old["sources_changed"]["chats"]["documents"] == {"old": 2, "new": 3, "delta": 1}


def test_mixture_lists_every_component_license_and_notes_non_commercial_data(demo_job, tmp_path, capsys):
    assert main(["run", str(demo_job)]) == 0
    cpt = Path(capsys.readouterr().out.strip().splitlines()[-1])
    write_chats(tmp_path / "chats.jsonl", CHATS)
    sft = synth(tmp_path, capsys, name="sftmix", validation_fraction=0.0)  # every record in train, the split a mix takes
    spec = tmp_path / "mix.yaml"
    spec.write_text(yaml.safe_dump({"name": "m", "output": str(tmp_path / "mixes"),
                                    "releases": [{"path": str(cpt), "sources": {"laws": {}, "news": {}}}, {"path": str(sft), "epochs": 1}]}))
    assert main(["mix", str(spec)]) == 0
    out = capsys.readouterr()
    path = Path(out.out.strip().splitlines()[-1])
    mixture = load_mixture(path)
    by = {c.source or c.split: c.licenses for c in mixture.components}
    assert by == {"laws": {"laws": "public domain (Copyright Act art. 9)"}, "news": {"news": "MPL-2.0 LibreOffice help"},
                  "train": {"chats": "MIT", "qa": "CC BY-NC 4.0"}}
    assert mixture.licenses == {"CC BY-NC 4.0": ["sftmix/train"], "MIT": ["sftmix/train"], "MPL-2.0 LibreOffice help": ["demo/news"],
                                "public domain (Copyright Act art. 9)": ["demo/laws"]}
    assert len(mixture.notes) == 1 and mixture.notes[0].startswith("sftmix/train: source qa is under a non-commercial license (CC BY-NC 4.0)")
    assert f"curate: note: {mixture.notes[0]}" in out.err
    assert json.loads((path / "mixture.json").read_text())["components"][-1]["licenses"] == {"chats": "MIT", "qa": "CC BY-NC 4.0"}
    assert main(["manifest", "show", str(path)]) == 0
    assert "licenses: chats MIT, qa CC BY-NC 4.0" in capsys.readouterr().out

    # a mixture written before licenses were recorded (schema 1) still reads, its licenses unknown
    data = json.loads((path / "mixture.json").read_text())
    data.update(schema_version=1)
    data.pop("licenses"), data.pop("notes")
    for c in data["components"]:
        c.pop("licenses")
    (path / "mixture.json").write_text(json.dumps(data))
    assert load_mixture(path).components[0].licenses == {} and main(["manifest", "show", str(path)]) == 0
