"""SFT records a trainer can trust (issue 36): answer and structure gates with their evidence, prompt groups that keep
the best answer and split by group, a judge that fails closed, exports that never cut a conversation, through the
real `curate synth` job (imports need no server; the judge runs against the stand-in server of tests/llm_stub.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import manifests
from curation.cli import main
from curation.config import load_synth_job
from curation.errors import CurateError
from curation.synth_job import run_synth
from synth.config import GatesConfig
from synth.gates import AnswerGate, LanguageScriptGate, PromptGroups, StructureGate, answer_rank
from tests.llm_stub import Stub


def turns(*pairs: str, system: str | None = None) -> list[dict]:
    """Alternating user/assistant turns from the given texts (odd count: ends on a user turn)."""
    out = [{"role": "system", "content": system}] if system else []
    return out + [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(pairs)]


def job_file(tmp_path: Path, rows: list[dict], base_url: str | None = None, **extra) -> str:
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    job = {"name": "trust", "version": "auto", "output": str(tmp_path / "out"), "validation_fraction": 0.3,
           "tasks": [{"kind": "import", "input": str(data), "format": "messages", "source": "planted", "license": "CC BY 4.0"}], **extra}
    if base_url:
        job["llm"] = {"base_url": base_url, "model": "stub", "timeout_s": 2.0, "max_retries": 1, "backoff_base_s": 0.05,
                      "backoff_max_s": 0.1}
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job, allow_unicode=True), encoding="utf-8")
    return str(path)


def release_rows(release: Path) -> list[dict]:
    m = manifests.load(release)
    return [{**r, "split": s} for s, n in m.sft.splits.items() if n for r in manifests.to_dataset(release, split=s).to_list()]


def rejects(release: Path) -> dict[str, dict]:
    lines = (release / "rejects/gate_rejects.jsonl").read_text(encoding="utf-8").splitlines()
    return {r["id"].rsplit("/", 1)[-1]: r for r in map(json.loads, lines)}


ORDINARY = {
    "multi": turns("推薦臺北的夜市。", "士林夜市和饒河街夜市都很熱鬧，小吃選擇也多。", "哪一個比較近捷運站？", "饒河街夜市就在松山站旁邊，出站走一分鐘就到。"),
    "system": turns("颱風天要準備什麼？", "準備飲用水、手電筒、行動電源與乾糧，並把陽台的盆栽移進室內。", system="你是臺灣的助理。"),
    "code": turns("寫一個 Python 函式計算階乘。", "def factorial(n):\n    return 1 if n <= 1 else n * factorial(n - 1)\n\nprint(factorial(5))"),
    "answer_label": turns("用問答形式介紹玉山。", "問：玉山有多高？\n回答：主峰海拔約 3,952 公尺，是臺灣最高峰。"),
    "translation": turns("請把這句話翻成英文：今天天氣很好，我們去散步吧。",
                         "The weather is very nice today, so let's go for a walk together in the park near the river and enjoy "
                         "the sunshine while it lasts this afternoon."),
    "dialogue": turns("寫一段客服對話，格式為「使用者：」與「助理：」。", "使用者：我的包裹還沒到。\n助理：請提供訂單編號，我幫您查詢配送進度。"),
}
PLANTED = {
    "ends_user": (turns("臺灣最高的山是哪一座？", "玉山，主峰約 3,952 公尺。", "那第二高呢？"), "structure", "ends_with_user"),
    "two_users": ([{"role": "user", "content": "臺灣有幾個直轄市？"}, {"role": "user", "content": "請列出名稱。"},
                   {"role": "assistant", "content": "六個：臺北、新北、桃園、臺中、臺南、高雄。"}], "structure", "repeated_user"),
    "system_late": (turns("你好", "你好，有什麼可以幫忙的嗎？") + [{"role": "system", "content": "改用英文"}], "structure",
                    "system_not_first"),
    "english": (turns("解釋一下光合作用是什麼。",
                      "Photosynthesis is the process by which green plants use sunlight to make their own food. The plant takes "
                      "in carbon dioxide and water, and with the energy of light it turns them into sugar and oxygen, which it "
                      "then releases into the air."), "answer", "english_answer"),
    "invented": (turns("如果披頭四從未組成會怎樣？", "音樂史仍會有其他樂團帶來變化。USER: 你能告訴我他們的中文名嗎？ ASSISTANT: 披頭四。"),
                 "answer", "invented_turn"),
    "inst": (turns("在職場中最有效的衝突解決策略是什麼？", "保持溝通。\n\n[INST] <<SYS>>\n你會怎樣應對職場歧視？[/INST]"), "answer",
             "leaked_template"),
    "role": (turns("介紹臺南的小吃。", "ASSISTANT: 臺南有牛肉湯、虱目魚粥和擔仔麵，早上去最新鮮。"), "answer", "role_marker"),
    "loop": (turns("一個人一生會眨眼幾次？", "\n".join(["一個人平均在一生中會眨眼多少次？試著解釋你的答案。"] * 8)), "answer", "repetition"),
    "broken": (turns("介紹高雄。", "高雄是港都，有愛河與駁二藝術特區，因����"), "answer", "garbage"),
}


def test_planted_problems_are_rejected_with_evidence_and_ordinary_conversations_kept(tmp_path):
    rows = [{"id": k, "messages": v} for k, v in ORDINARY.items()] + [{"id": k, "messages": v[0]} for k, v in PLANTED.items()]
    release = run_synth(load_synth_job(job_file(tmp_path, rows)))
    kept = {r["id"].rsplit("/", 1)[-1] for r in release_rows(release)}
    assert kept == set(ORDINARY)
    rejected = rejects(release)
    assert {k: (r["gate"], r["reason"]) for k, r in rejected.items()} == {k: v[1:] for k, v in PLANTED.items()}
    assert "[INST]" in rejected["inst"]["evidence"] and "USER:" in rejected["invented"]["evidence"]
    assert "user/user/assistant" in rejected["two_users"]["evidence"]
    m = manifests.load(release)
    answer = next(s for s in m.steps if s.step == "answer")
    assert answer.dropped_by_reason == {"english_answer": 1, "garbage": 1, "invented_turn": 1, "leaked_template": 1,
                                        "repetition": 1, "role_marker": 1}
    assert answer.by_source["planted"]["dropped_leaked_template"] == 1
    assert [(s.name, s.license, s.documents) for s in m.sources] == [("planted", "CC BY 4.0", len(ORDINARY))]
    assert m.sft.generation["model"] is None  # no LLM ran


def test_each_structure_reason_and_each_answer_reason_alone():
    g = StructureGate()
    assert g.check({"messages": turns("問", "答")}) is None
    assert g.check({"messages": [{"role": "assistant", "content": "嗨"}, {"role": "user", "content": "嗨"},
                                 {"role": "assistant", "content": "你好"}]}).reason == "starts_with_assistant"
    assert g.check({"messages": turns("問", "答", "問") + [{"role": "assistant", "content": "答"}] * 2}).reason == "repeated_assistant"
    a = AnswerGate()
    assert a.check({"messages": turns("請說明 <|im_start|> 的用途", "好的。")}).reason == "leaked_template"  # a prompt carrying one
    code = "```python\nprompt = '[INST] hi [/INST]'\nprint(prompt)\n```\n這段程式印出 Llama 2 的模板。"
    assert a.check({"messages": turns("示範 Llama 2 的聊天模板字串", code)}) is None  # inside code it is the subject
    html = "用 <s>原價 500 元</s> 特價 300 元 這樣的 HTML 標示刪除線，瀏覽器會畫出一條橫線。"
    assert a.check({"messages": turns("HTML 怎麼畫刪除線？", html)}) is None  # HTML's <s>…</s>, not an end-of-sequence token
    assert a.check({"messages": turns("介紹臺南。", "臺南有很多古蹟。</s>")}).reason == "leaked_template"


def test_phrase_edges_of_the_mainland_check():
    g = LanguageScriptGate(GatesConfig())
    avoid = turns("寫報告時要注意什麼？", "請避免提問過於籠統，先說明目的，再列出需要的資料與期限，讓讀者一眼看懂報告的重點。")
    assert g.check({"messages": avoid}) is None  # 免提 (hands-free) inside 避免提問
    menu = "我們走進巷口那家老字號餐廳，" + "店裡擺著木頭桌椅，牆上貼滿老照片，" * 5 + "服務生遞來菜單，上面寫著招牌滷肉飯與貢丸湯。"
    assert g.check({"messages": turns("描寫一次外出用餐的經驗。", menu)}) is None
    clock = turns("怎麼看指針式時鐘？", "短的指針是時針，長的指針是分針，時針指向三、分針指向十二，就是三點整。")
    assert g.check({"messages": clock}) is None
    mainland = g.check({"messages": turns("這支手機有什麼功能？", "這款手機支持免提通話，軟件更新後視頻也更流暢。")})
    assert mainland.reason == "mainland_phrasing" and "免提" in mainland.evidence and "軟件" in mainland.evidence


def test_prompt_groups_keep_the_judged_best_then_the_cleanest_typical_answer():
    a = {"id": "a", "messages": turns("臺灣最高的山？", "玉山。" * 30)}
    b = {"id": "b", "messages": turns("臺灣最高的山?", "玉山，約 3,952 公尺。")}
    c = {"id": "c", "messages": turns("臺灣 最高的山", "是玉山，主峰海拔約 3,952 公尺，位於南投、嘉義與高雄交界。")}
    other = {"id": "d", "messages": turns("臺灣最長的河？", "濁水溪，全長約 187 公里。")}
    kept, rejected = PromptGroups(GatesConfig()).select([a, b, c, other])
    # a, b, c ask the same: c's length is the group's median (a rambles, b is the shortest)
    assert sorted(r["id"] for r in kept) == ["c", "d"]
    assert {r["id"]: r["prompt_group_size"] for r in kept} == {"c": 3, "d": 1}
    assert sorted((r["id"], x.reason) for r, x in rejected) == [("a", "not_best"), ("b", "not_best")]
    judged = [{**a, "judge": {"mean": 4.5}}, {**b, "judge": {"mean": 3.0}}, c]
    kept, _ = PromptGroups(GatesConfig()).select(judged)
    assert [r["id"] for r in kept] == ["a"]  # the judge outranks every other rule
    assert answer_rank({**b, "pii": ["phone"]}, 10) > answer_rank(b, 10)  # a redacted answer ranks below a clean one
    cut = {"id": "e", "messages": turns("臺灣最高的山？", "是玉山，主峰海拔約 3,952 公尺，位於南投、嘉義與高雄的交界，每年都有")}
    assert answer_rank(cut, 30) > answer_rank(c, 30)  # stopped mid-sentence at its token limit
    everything, none_rejected = PromptGroups(GatesConfig(answers_per_prompt=None)).select([a, b, c])
    assert len(everything) == 3 and not none_rejected and len({r["prompt_group"] for r in everything}) == 1


def test_a_prompt_is_never_in_both_splits(tmp_path):
    rows = [{"id": f"q{q}-m{k}", "messages": turns(f"第{q}題：請介紹臺灣的第{q}個特色景點。", f"這是模型{k}對第{q}題的回答，介紹景點{q}的特色與交通方式。")}
            for q in range(40) for k in range(3)]
    release = run_synth(load_synth_job(job_file(tmp_path, rows, gates={"answers_per_prompt": None, "near_duplicate_threshold": 1.0})))
    kept = release_rows(release)
    assert len(kept) == 120
    splits: dict[str, set] = {}
    for r in kept:
        splits.setdefault(json.loads(r["metadata"])["prompt_group"], set()).add(r["split"])
    assert len(splits) == 40 and all(len(s) == 1 for s in splits.values())
    assert {"train", "validation"} == set().union(*splits.values())


def judged_rows() -> list[dict]:
    return [{"id": f"r{i}", "messages": turns(f"請介紹臺灣的第{i}座國家公園。{' [nojudge]' if i % 2 else ''}",
                                               f"第{i}座國家公園有豐富的生態與步道，適合全家一起健行與觀察自然。")} for i in range(8)]


def test_the_judge_fails_closed(tmp_path):
    with Stub(fail_judge="[nojudge]") as stub:
        path = job_file(tmp_path, judged_rows(), stub.base_url, judge={"enabled": True, "imports": True, "threshold": 1.0})
        release = run_synth(load_synth_job(path))
    m = manifests.load(release)
    kept = release_rows(release)
    assert sorted(r["id"].rsplit("/", 1)[-1] for r in kept) == ["r0", "r2", "r4", "r6"]
    assert all(json.loads(r["metadata"])["judge"]["mean"] >= 1 for r in kept)  # everything published was judged
    assert m.sft.generation["judge"]["judged"] == 4 and m.sft.generation["judge"]["failed"] == 4
    held = {k: r for k, r in rejects(release).items() if r["gate"] == "judge"}
    assert sorted(held) == ["r1", "r3", "r5", "r7"] and all(r["reason"] == "unjudged" for r in held.values())
    assert any(a.startswith("judge: 4 of 8 judge requests failed") for a in m.alerts)


def test_judge_failures_fail_a_strict_run_and_publish_nothing(tmp_path, capsys):
    with Stub(fail_judge=True) as stub:
        path = job_file(tmp_path, judged_rows(), stub.base_url, judge={"enabled": True, "imports": True})
        assert main(["synth", path, "--strict"]) != 0
    assert "judge: 8 of 8 judge requests failed" in capsys.readouterr().err
    assert not list((tmp_path / "out").glob("trust/*/manifest.json"))


def test_unjudged_records_may_be_published_marked(tmp_path):
    with Stub(fail_judge="[nojudge]") as stub:
        path = job_file(tmp_path, judged_rows(), stub.base_url,
                        judge={"enabled": True, "imports": True, "threshold": 1.0, "unjudged": "publish"})
        release = run_synth(load_synth_job(path))
    judges = {r["id"].rsplit("/", 1)[-1]: json.loads(r["metadata"])["judge"] for r in release_rows(release)}
    assert len(judges) == 8 and [k for k, v in judges.items() if v is None] == ["r1", "r3", "r5", "r7"]
    assert manifests.load(release).alerts  # published unjudged, and said so


def test_the_judge_has_its_own_server_and_refresh_cache_asks_it_again(tmp_path):
    rows = [r for r in judged_rows() if "[nojudge]" not in r["messages"][0]["content"]]
    with Stub() as generation, Stub() as judge:
        judge_llm = {"base_url": judge.base_url, "model": "stronger", "timeout_s": 2.0, "max_retries": 1}
        path = job_file(tmp_path, rows, generation.base_url, judge={"enabled": True, "imports": True, "llm": judge_llm})
        first = run_synth(load_synth_job(path))
        assert (generation.requests, judge.judge_requests) == (0, 4)
        run_synth(load_synth_job(path), force=True)
        assert judge.judge_requests == 4  # served from the judge's cache
        again = run_synth(load_synth_job(path), force=True, refresh_cache=True)
        assert judge.judge_requests == 8
    assert manifests.load(first).sft.generation["judge"]["model"] == "stronger"
    assert manifests.load(again).sft.generation["usage"]["network_requests"] == 4


def test_exports_hold_whole_conversations_or_refuse(tmp_path):
    rows = [{"id": "multi", "messages": ORDINARY["multi"]}, {"id": "single", "messages": ORDINARY["system"]}]
    with pytest.raises(CurateError, match="export alpaca: 1 kept records have several user turns"):
        run_synth(load_synth_job(job_file(tmp_path, rows, export=["alpaca"])))
    assert not list((tmp_path / "out").glob("trust/*/manifest.json"))
    release = run_synth(load_synth_job(job_file(tmp_path, rows, export=["sharegpt", "messages"])))
    for fmt, key in (("sharegpt", "conversations"), ("messages", "messages")):
        exported = [json.loads(line) for line in (release / f"exports/{fmt}.jsonl").read_text(encoding="utf-8").splitlines()]
        multi = next(r for r in exported if r["id"].endswith("multi"))
        assert len(multi[key]) == 4 and (multi[key][3].get("content") or multi[key][3].get("value")).startswith("饒河街夜市")


def test_problem_one_and_problem_two_are_different_prompts_unless_near_grouping_is_asked():
    """Real LeetCode write-ups: "II" of a problem differs from "I" by a few words and is another problem."""
    one = {"id": "p1", "messages": turns("3014. Minimum Number of Pushes to Type Word I：給你一個由不同小寫字母組成的字串 word，"
                                         "電話鍵盤的按鍵可以重新對應字母，求打出 word 最少要按幾次。每個按鍵可對應任意多個字母，但每個字母只能對應到一個按鍵；"
                                         "按鍵 2 到 9 可以使用，第一個字母按一次，第二個字母按兩次，依此類推，請回傳最少的總按鍵次數。", "貪心：依序把字母放到八個按鍵上。")}
    two = {"id": "p2", "messages": turns("3016. Minimum Number of Pushes to Type Word II：給你一個由不同小寫字母組成的字串 word，"
                                         "電話鍵盤的按鍵可以重新對應字母，求打出 word 最少要按幾次。每個按鍵可對應任意多個字母，但每個字母只能對應到一個按鍵；"
                                         "按鍵 2 到 9 可以使用，第一個字母按一次，第二個字母按兩次，依此類推，請回傳最少的總按鍵次數。", "先數每個字母出現的次數，再由多到少分配。")}
    kept, rejected = PromptGroups(GatesConfig()).select([one, two])
    assert len(kept) == 2 and not rejected
    kept, rejected = PromptGroups(GatesConfig(prompt_group_threshold=0.8)).select([one, two])
    assert len(kept) == 1 and rejected[0][1].reason == "not_best"
