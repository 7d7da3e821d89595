"""Benchmark decontamination (issue #30): normalizations, actions, index files, the step in a release."""

import json

import opencc
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datatrove.data import Document

from curation.cli import main
from filters.config import DecontaminationConfig
from filters.decontamination import SHIPPED_INDEX, Decontaminator, EvalIndex, EvalMatcher, read_eval_records

# written for these tests in the shape of TMMLU / TTQA items
QUESTION = "依據勞動基準法規定，雇主延長勞工工作時間者，其延長工作時間之工資應如何計算？"
CHOICES = ["按平日每小時工資額加給三分之一以上", "按平日每小時工資額加倍發給", "由勞資雙方自行約定即可", "不必另外給付工資"]
TTQA = {"0": {"question": "台灣唯一一種溫帶性的特有鮭魚亞種，被稱為國寶魚的是哪一種魚類？", "choices": ["台灣鯉", "櫻花鉤吻鮭"], "answer": 1}}
ENGLISH = {"id": "e1", "question": "Which of the following statements about the constitution of the republic is correct"}
ORDINARY = ["今天天氣很好，我們一家人去陽明山走走，山上的風景很漂亮，晚上回來吃了牛肉麵。",
            "勞工朋友要注意自己的權益，加班費的計算方式可以上勞動部網站查詢，有問題也可以打電話詢問。",
            "Which of the following is your favourite? I think the mountains are nicer than the sea in summer."]


@pytest.fixture
def eval_files(tmp_path):
    jsonl = tmp_path / "tmmlu.jsonl"
    jsonl.write_text(json.dumps({"id": "q1", "question": QUESTION, "choices": CHOICES, "answer": "A"}, ensure_ascii=False) + "\n"
                     + json.dumps(ENGLISH) + "\n", encoding="utf-8")
    ttqa = tmp_path / "ttqa.json"
    ttqa.write_text(json.dumps(TTQA, ensure_ascii=False), encoding="utf-8")
    return {"tmmlu": jsonl, "ttqa": ttqa}


def matcher(files) -> EvalMatcher:
    return EvalMatcher(EvalIndex.build(files))


def sets_hit(m: EvalMatcher, text: str) -> set[str]:
    return {m.set_of(i) for i in m.contaminated(m.overlap(text))}


def test_every_form_of_a_copied_item_is_found(eval_files):
    m = matcher(eval_files)
    t2s, s2t = opencc.OpenCC("t2s"), opencc.OpenCC("s2t")
    pasted = "以下是我整理的考古題，大家參考看看。\n" + QUESTION + "\n(A)" + "(B)".join(CHOICES) + "\n祝大家考試順利！"
    forms = {
        "verbatim": pasted,
        "spacing and punctuation": pasted.replace("，", " , ").replace("？", "?\n"),
        "t2s": t2s.convert(pasted),
        "s2t of t2s": s2t.convert(t2s.convert(pasted)),
        "choices reordered": "考古題：" + QUESTION + " " + " / ".join(reversed(CHOICES)),
        "full-width": pasted.replace("A", "Ａ"),
    }
    for form, text in forms.items():
        assert sets_hit(m, text) == {"tmmlu"}, form
    assert sets_hit(m, "小知識：" + TTQA["0"]["question"]) == {"ttqa"}  # JSON object of records, nested choices
    assert sets_hit(m, "quiz: " + ENGLISH["question"].upper() + "?") == {"tmmlu"}  # Latin text as word n-grams


def test_ordinary_text_and_short_shared_phrases_are_not_hits(eval_files):
    m = matcher(eval_files)
    for text in ORDINARY:
        assert sets_hit(m, text) == set(), text
    # "ofthefollowing" once matched 13 characters of English; words are tokens now
    assert sets_hit(m, "ofthefollowingstatementsabout") == set()


@pytest.mark.parametrize("action,expected", [("drop", (False, "contaminated")), ("remove", True), ("tag", True)])
def test_actions(eval_files, action, expected):
    step = Decontaminator(DecontaminationConfig(enabled=True, action=action), index_paths=[], eval_files=eval_files)
    text = "第一行是普通的內容，今天天氣很好。\n" + QUESTION + "\n最後一行也是普通的內容，謝謝大家。"
    d = Document(text=text, id="x", metadata={"source": "s"})
    assert step.filter(d) == expected
    ann = d.metadata["annotations"]
    assert list(ann["contamination"]) == ["tmmlu"] and ann["contamination"]["tmmlu"]["tmmlu/q1#0"] > 0.5
    if action == "remove":
        assert d.text == "第一行是普通的內容，今天天氣很好。\n最後一行也是普通的內容，謝謝大家。"
        assert ann["edits"] == {"decontaminate:eval_tmmlu": {"segments": 1, "chars": len(QUESTION) + 1}}
    if action == "tag":
        assert d.text == text


def test_index_files_hold_hashes_only_and_round_trip(eval_files, tmp_path):
    out = tmp_path / "idx.npz"
    assert main(["decont-index", f"tmmlu={eval_files['tmmlu']}", f"ttqa={eval_files['ttqa']}", "-o", str(out)]) == 0
    raw = out.read_bytes()
    assert QUESTION[:6].encode() not in raw and b"following" not in raw
    index = EvalIndex.load(out)
    assert index.sets == ["tmmlu", "ttqa"] and index.n == 13
    m = EvalMatcher(index)
    assert sets_hit(m, QUESTION) == {"tmmlu"}
    with pytest.raises(ValueError, match="not a decontamination index"):
        EvalIndex.load(eval_files["tmmlu"])


def test_eval_files_in_every_format(tmp_path):
    rows = [{"id": "p1", "turns": [QUESTION, "請說明理由"], "meta": {"reference": CHOICES[0]}}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "mt.parquet")
    (tmp_path / "mt.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    for f in ("mt.parquet", "mt.json"):
        [(item, strings)] = read_eval_records(tmp_path / f)
        assert item == "p1" and QUESTION in strings and "請說明理由" in strings and CHOICES[0] in strings
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\n{"broken\n', encoding="utf-8")
    with pytest.raises(ValueError, match="bad.jsonl: line 2"):
        read_eval_records(tmp_path / "bad.jsonl")


def test_the_shipped_index_covers_tmmlu_and_ttqa():
    index = EvalIndex.load(SHIPPED_INDEX)
    assert index.sets == ["tmmlu", "ttqa"] and len(index.item_set) > 1000


def test_a_release_records_the_index_and_counts_per_eval_set(eval_files, tmp_path, capsys):
    from tests.conftest import write_job

    src = tmp_path / "in.jsonl"
    docs = [{"id": "a", "text": "考古題分享：" + QUESTION + "答案是A，大家加油。"}, {"id": "b", "text": ORDINARY[0]}]
    src.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    job = write_job(tmp_path, [{"name": "forum", "kind": "jsonl", "path": str(src)}],
                    steps={"decontaminate": {"enabled": True, "eval_files": {k: str(v) for k, v in eval_files.items()}}})
    assert main(["run", str(job)]) == 0
    manifest = json.loads((tmp_path / "out/t/0.1.0/manifest.json").read_text())
    step = next(s for s in manifest["steps"] if s["step"] == "decontaminate")
    assert step["dropped_by_reason"] == {"contaminated": 1} and step["other"]["contaminated_tmmlu"] == 1
    assert {m["name"] for m in manifest["models"] if m["step"] == "decontaminate"} == {"decontamination:tmmlu", "decontamination:ttqa"}
    capsys.readouterr()
    assert main(["stats", str(tmp_path / "out/t/0.1.0")]) == 0
    assert "contaminated" in capsys.readouterr().out


def test_the_sft_gate_uses_the_same_matcher(tmp_path):
    from synth.config import GatesConfig
    from synth.gates import Decontamination

    mt = tmp_path / "question.json"  # MT-Bench style: turns as a list, a JSON (not JSONL) file
    mt.write_text(json.dumps([{"question_id": 81, "turns": ["請寫一篇關於最近一次到夏威夷旅行的遊記，重點介紹文化體驗和必看景點。",
                                                             "Rewrite your previous response so that every sentence starts with the letter A."]}],
                             ensure_ascii=False), encoding="utf-8")
    gate = Decontamination(GatesConfig(), [mt])

    def rec(user, answer):
        return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]}

    assert gate.check(rec("幫我：請寫一篇關於最近一次到夏威夷旅行的遊記，重點介紹文化體驗和必看景點", "好的")).reason == "eval_overlap"
    assert gate.check(rec("hi", "Sure. rewrite your previous response so that every sentence starts with the letter a!")).reason == "eval_overlap"
    code = "def solve(nums):\n    # return which of the following elements appear twice in the array of numbers\n    return [x for x in nums]"
    assert gate.check(rec("寫一個函式找出重複的數字", code)) is None


def test_an_inline_multiple_choice_item_is_found_with_its_options_reordered(tmp_path):
    item = "下列何者不屬於臺灣的直轄市？(A)臺北市(B)新北市(C)基隆市(D)高雄市"
    f = tmp_path / "mc.jsonl"
    f.write_text(json.dumps({"id": "mc1", "text": item}, ensure_ascii=False) + "\n", encoding="utf-8")
    m = EvalMatcher(EvalIndex.build({"mc": f}))
    reordered = "考古題：下列何者不屬於臺灣的直轄市？ A. 高雄市 B. 基隆市 C. 臺北市 D. 新北市"
    assert sets_hit(m, reordered) == {"mc"}
    assert sets_hit(m, "臺灣的直轄市有臺北市、新北市、桃園市、臺中市、臺南市與高雄市。") == set()
