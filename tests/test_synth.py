import json

import pytest
from pathlib import Path

import yaml

import manifests
from curation.cli import main
from curation.config import GatesConfig, load_synth_job
from synth.gates import Decontamination, GroundingGate, LanguageScriptGate, LengthGate, NearDuplicates, RefusalGate, redact_pii
from curation.synth_job import run_synth
from synth.tasks import extract_json
from tests.conftest import SAMPLES
from tests.llm_stub import Stub, kill_after_requests


def record(user: str, assistant: str, **extra) -> dict:
    return {"id": "r", "messages": [{"role": "system", "content": "你是助理。"}, {"role": "user", "content": user},
                                    {"role": "assistant", "content": assistant}], **extra}


def write_seeds(tmp_path, instructions: list[str]) -> str:
    path = tmp_path / "seeds.jsonl"
    path.write_text("".join(json.dumps({"id": f"s{i}", "instruction": t, "response": "臺灣的捷運很方便，記憶體夠用就好。"},
                                       ensure_ascii=False) + "\n" for i, t in enumerate(instructions)), encoding="utf-8")
    return str(path)


def synth_job(tmp_path, base_url: str, tasks: list[dict], **extra) -> str:
    data = {"name": "sft", "version": "auto", "output": str(tmp_path / "out"),
            "llm": {"base_url": base_url, "model": "stub", "timeout_s": 1.0, "max_retries": 2, "backoff_base_s": 0.05,
                    "backoff_max_s": 0.2, "concurrency": 4},
            "tasks": tasks, "validation_fraction": 0.2, "export": ["alpaca", "sharegpt"], **extra}
    path = tmp_path / "synth.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return str(path)


def test_every_injected_fault_is_handled_and_the_run_completes(tmp_path):
    seeds = write_seeds(tmp_path, ["正常的問題", "[429] 限流的問題", "[500] 伺服器錯誤的問題", "[slow] 逾時的問題", "[drop] 斷線的問題",
                                   "[badjson] 格式錯誤的問題", "[always500] 一直失敗的問題", "[badbody] 回應被截斷的問題"])
    with Stub() as stub:
        job = load_synth_job(synth_job(tmp_path, stub.base_url, [{"kind": "paraphrase", "input": seeds, "count": 1}]))
        release = run_synth(job)
    m = manifests.load(release)
    gen = m.sft.generation
    assert gen["requests"] == 8 and gen["generated"] == 7  # every fault recovered except the permanent one
    assert gen["failures"] == {"llm_error": 1}
    usage = gen["usage"]
    assert usage["retries"] >= 5 + 2  # 429, 500, timeout, dropped connection, cut-off body once each; [always500] twice
    assert {"RateLimitError", "InternalServerError", "APITimeoutError", "APIConnectionError", "JSONDecodeError"} <= set(usage["errors"])
    failures = [json.loads(line) for line in (release / "rejects/failures.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(f["id"], f["reason"]) for f in failures] == [("paraphrase/s6/0", "llm_error")]
    assert manifests.verify(release) == []


def test_second_run_makes_zero_requests(tmp_path):
    seeds = write_seeds(tmp_path, ["第一個問題", "第二個問題", "第三個問題"])
    with Stub() as stub:
        path = synth_job(tmp_path, stub.base_url, [{"kind": "self_instruct", "input": seeds, "count": 2}])
        first = run_synth(load_synth_job(path))
        sent = stub.requests
        second = run_synth(load_synth_job(path))
        assert stub.requests == sent  # everything came from the response cache
    a, b = manifests.load(first), manifests.load(second)
    assert b.sft.generation["usage"]["network_requests"] == 0 and b.sft.generation["usage"]["cached"] == 6
    assert a.content_hash == b.content_hash


def test_killed_run_resumes_without_repeated_calls_or_duplicates(tmp_path):
    seeds = write_seeds(tmp_path, [f"[slow] 第{i}個問題" for i in range(12)])
    with Stub(timeout_marker_delay=0.4) as stub:
        path = synth_job(tmp_path, stub.base_url, [{"kind": "paraphrase", "input": seeds, "count": 1}],
                         llm={"base_url": stub.base_url, "model": "stub", "timeout_s": 5, "concurrency": 2})
        before = kill_after_requests(stub, ["synth", str(path)], 4, timeout=30)
        assert 0 < before < 12
        release = run_synth(load_synth_job(path))
        resumed_requests = stub.requests - before
    gen = manifests.load(release).sft.generation
    # every reply the killed run received came from the cache; only the rest went over the network
    assert gen["usage"]["cached"] >= 1 and gen["usage"]["cached"] + gen["usage"]["network_requests"] == 12
    assert resumed_requests == gen["usage"]["network_requests"]
    ids = [r["id"] for split, n in manifests.load(release).sft.splits.items() if n for r in manifests.to_dataset(release, split=split)]
    assert len(ids) == len(set(ids)) == gen["kept"]


def test_all_tasks_gates_release_and_exports(tmp_path, demo_job, capsys):
    assert main(["run", str(demo_job)]) == 0
    cpt = capsys.readouterr().out.strip().splitlines()[-1]
    with Stub() as stub:
        path = synth_job(tmp_path, stub.base_url, [
            {"kind": "self_instruct", "input": str(SAMPLES / "sft/seeds.jsonl"), "count": 2},
            {"kind": "paraphrase", "input": str(SAMPLES / "sft/seeds.jsonl"), "count": 1},
            {"kind": "translate", "input": str(SAMPLES / "sft/en_instructions.jsonl")},
            {"kind": "doc_qa", "input": cpt, "count": 1, "limit": 3}],
            # the stub's questions reuse a handful of sentences, so prompt groups form: all answers kept, every task shows
            gates={"eval_sets": [str(SAMPLES / "sft/eval_set.jsonl")], "answers_per_prompt": None})
        assert main(["synth", path]) == 0
    release = capsys.readouterr().out.strip().splitlines()[-1]
    m = manifests.load(release)
    assert m.kind == "sft" and manifests.verify(release) == []
    tasks = {json.loads(r["metadata"]).get("task") for s in ("train", "validation") for r in manifests.to_dataset(release, split=s)
             if m.sft.splits.get(s)}
    assert tasks == {"self_instruct", "paraphrase", "translate", "doc_qa"}
    assert sum(m.sft.splits.values()) == m.sft.generation["kept"] and m.sft.categories
    train = manifests.to_dataset(release, split="train")
    assert [msg["role"] for msg in train[0]["messages"]] == ["system", "user", "assistant"]
    alpaca = (Path(release) / "exports/alpaca.jsonl").read_text(encoding="utf-8").splitlines()
    sharegpt = (Path(release) / "exports/sharegpt.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(alpaca) == len(sharegpt) == m.sft.generation["kept"]
    assert set(json.loads(alpaca[0])) == {"instruction", "input", "output", "system"}
    assert json.loads(sharegpt[0])["conversations"][1]["from"] == "human"


# -- gates -------------------------------------------------------------------------------------------
def test_length_gate():
    g = LengthGate(GatesConfig(min_chars=4, max_chars=50))
    assert g.check(record("問", "這是一個夠長的回答。")).reason == "too_short"
    assert g.check(record("請問臺灣最高的山？", "玉" * 60)).reason == "too_long"
    assert g.check(record("請問臺灣最高的山？", "玉山。海拔約三千九百多公尺。")) is None
    # existing data says what it says: an imported "否。" is an answer, a generated one a failed generation
    by_task = LengthGate(GatesConfig(min_chars=4, min_chars_by_task={"import": 1}))
    assert by_task.check({**record("這句話對嗎？", "否。"), "task": "import"}) is None
    assert by_task.check({**record("這句話對嗎？", "否。"), "task": "self_instruct"}).reason == "too_short"


def test_language_gate():
    g = LanguageScriptGate(GatesConfig())
    assert g.check(record("请问怎么设置内存？", "打开软件的设置，调整内存与视频缓存。")).reason == "script_hans"
    assert g.check(record("What is a codec?", "A codec compresses video for streaming.")).reason == "not_chinese"
    assert g.check(record("請問怎麼設置內存？", "打開軟件的設置，調整內存與視頻緩存，再重新啟動服務器。")).reason == "mainland_phrasing"
    assert g.check(record("請問怎麼設定記憶體？", "開啟軟體的設定，調整記憶體與影片快取，再重新啟動伺服器。")) is None


def test_refusal_gate():
    g = RefusalGate()
    assert g.check(record("幫我寫詩", "作為一個AI語言模型，我無法寫詩。")).reason == "refusal"
    assert g.check(record("Help", "I'm sorry, but I can't help with that.")).reason == "refusal"
    assert g.check(record("幫我寫詩", "春風吹過稻田，綠浪一層又一層。")) is None


def test_grounding_gate():
    g = GroundingGate()
    doc = "中華民國憲法第七條規定，中華民國人民，無分男女、宗教、種族、階級、黨派，在法律上一律平等。"
    assert g.check(record("第七條規定什麼？", "人民在法律上一律平等。", document=doc)) is None
    assert g.check(record("第七條規定什麼？", "總統任期四年，得連選連任一次。", document=doc)).reason == "ungrounded"


def test_decontamination_gate():
    g = Decontamination(GatesConfig(contamination_ngram=8), [SAMPLES / "sft/eval_set.jsonl"])
    assert g.check(record("臺灣最高的山是哪一座？", "是玉山。")).reason == "eval_overlap"
    assert g.check(record("臺灣最長的河是哪一條？", "濁水溪。")) is None


def test_near_duplicate_gate_against_seeds_and_each_other():
    seed = "臺灣最高的山是哪一座？臺灣最高的山是玉山，主峰海拔約 3,952 公尺，位於玉山國家公園內。"
    g = NearDuplicates(GatesConfig(), [seed])
    assert g.check(record("臺灣最高的山是哪一座？", "臺灣最高的山是玉山，主峰海拔約 3,952 公尺，位於玉山國家公園內。")).reason == "near_duplicate"
    fresh = record("臺北有哪些夜市？", "士林夜市、饒河街夜市和寧夏夜市都很有名，各有不同的小吃。")
    assert g.check(fresh) is None
    assert g.check(record("臺北有哪些夜市？", "士林夜市、饒河街夜市和寧夏夜市都很有名，各有不同的小吃！")).reason == "near_duplicate"


def test_pii_redaction_returns_a_new_record():
    original = record("我的電話是 0912-345-678", "好的，已記下 0912-345-678。")
    r = redact_pii(original)
    assert "0912" not in json.dumps(r, ensure_ascii=False) and r["pii"] == ["phone"]
    assert "0912-345-678" in original["messages"][-1]["content"] and "pii" not in original  # what was checked is unchanged


def test_json_extraction():
    assert extract_json('好的```json\n{"a": 1}\n```') == {"a": 1}
    assert extract_json('回覆：{"a": 3} 謝謝') == {"a": 3}
    assert extract_json("沒有 JSON") is None and extract_json("[1, 2]") is None


def test_bad_synth_config(tmp_path, capsys):
    """Only the task kind is wrong (its input exists): the error names the field and the kinds there are."""
    data = tmp_path / "qa.jsonl"
    data.write_text(json.dumps({"instruction": "臺灣最高的山？", "output": "玉山。"}, ensure_ascii=False) + "\n", encoding="utf-8")
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "output": str(tmp_path / "o"), "tasks": [{"kind": "summarize", "input": str(data)}]}))
    assert main(["synth", str(path)]) == 2
    err = capsys.readouterr().err
    assert "s.yaml: tasks[0].kind:" in err and "'self_instruct'" in err and "'import'" in err
    path.write_text(yaml.safe_dump({"name": "x", "output": str(tmp_path / "o"), "tasks": [{"kind": "import", "input": str(data)}]}))
    assert main(["synth", str(path)]) == 0  # the same job with a kind that exists runs


def test_cache_is_keyed_by_server_and_can_be_refreshed(tmp_path):
    seeds = write_seeds(tmp_path, ["第一個問題", "第二個問題"])
    with Stub() as a, Stub() as b:
        path = synth_job(tmp_path, a.base_url, [{"kind": "self_instruct", "input": seeds, "count": 1}])
        run_synth(load_synth_job(path))
        assert a.requests == 2
        other = synth_job(tmp_path, b.base_url, [{"kind": "self_instruct", "input": seeds, "count": 1}])
        run_synth(load_synth_job(other))
        assert b.requests == 2  # another server: its own replies, not the first server's from the cache
        run_synth(load_synth_job(other), refresh_cache=True)
        assert b.requests == 4  # asked again


def test_a_run_where_every_request_fails_is_an_alert(tmp_path, capsys):
    from curation.cli import main

    seeds = write_seeds(tmp_path, ["[always500] 一直失敗的問題", "[always500] 也失敗的問題"])
    with Stub() as stub:
        path = synth_job(tmp_path, stub.base_url, [{"kind": "paraphrase", "input": seeds, "count": 1}])
        assert main(["synth", path]) == 5  # published, flagged
        assert "curate: alert: synth: 0 records kept" in capsys.readouterr().err
        assert main(["synth", path, "--strict"]) == 1  # not published
    assert sorted(p.name for p in (tmp_path / "out/sft").iterdir() if not p.name.startswith(".")) == ["0.1.0"]


def test_import_existing_data_in_every_format_with_every_turn_gated(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    alpaca = tmp_path / "alpaca.jsonl"
    alpaca.write_text("\n".join([
        json.dumps({"id": "a1", "question": "臺灣最高的山是哪一座？", "answer": "是玉山，主峰海拔三千九百五十二公尺。", "category": "knowledge_qa"}, ensure_ascii=False),
        json.dumps({"id": "a2", "question": "缺了回答的題目"}, ensure_ascii=False),
        "{broken",
    ]) + "\n", encoding="utf-8")
    sharegpt = tmp_path / "chat.json"
    sharegpt.write_text(json.dumps([{"id": "c1", "conversations": [
        {"from": "human", "value": "推薦一本關於臺灣歷史的書。"}, {"from": "gpt", "value": "可以讀《臺灣史論》，內容完整好讀。"},
        {"from": "human", "value": "還有別的嗎？"}, {"from": "gpt", "value": "作為一個AI語言模型，我無法回答。"}]}], ensure_ascii=False), encoding="utf-8")
    pq.write_table(pa.Table.from_pylist([{"id": "m1", "messages": [
        {"role": "user", "content": "請用一句話介紹臺北。"}, {"role": "assistant", "content": "臺北是臺灣的首都，有捷運和夜市。"}]}]),
        tmp_path / "messages.parquet")
    path = synth_job(tmp_path, "http://127.0.0.1:9/v1", [  # no server at all: imports never call one
        {"kind": "import", "input": str(alpaca), "format": "alpaca", "fields": {"instruction": "question", "output": "answer"},
         "license": "CC BY 4.0"},
        {"kind": "import", "input": str(sharegpt), "source": "chats", "license": "MIT"},
        {"kind": "import", "input": str(tmp_path / "messages.parquet")}])
    release = run_synth(load_synth_job(path))
    m = manifests.load(release)
    gen = m.sft.generation
    assert gen["requests"] == 0 and gen["imports"]["alpaca"] == {"file": str(alpaca), "sha256": gen["imports"]["alpaca"]["sha256"],
                                                                  "license": "CC BY 4.0", "records": 1, "malformed": 2}
    assert gen["imports"]["chats"]["license"] == "MIT"
    # the second turn of the chat refuses and stops: the whole conversation is gated, not only its first pair
    assert gen["gates"] == {"refusal:refusal": 1}
    failures = [json.loads(line) for line in (release / "rejects/failures.jsonl").read_text(encoding="utf-8").splitlines()]
    errors = sorted(f["error"] for f in failures)  # file and line, then what is wrong
    assert errors[0] == f"{alpaca}:2: field 'answer': a non-empty string expected"
    assert errors[1].startswith(f"{alpaca}:3: malformed JSON")
    rows = [r for split, n in m.sft.splits.items() if n for r in manifests.to_dataset(release, split=split).to_list()]
    assert sorted(r["id"] for r in rows) == ["import/alpaca/a1", "import/messages/m1"]
    assert {r["source"] for r in rows} == {"alpaca", "messages"}


def test_gates_decide_in_context():
    from synth.gates import LengthGate, LanguageScriptGate, RefusalGate

    lang = LanguageScriptGate(GatesConfig())
    physics = record("物體的質量和重量有什麼不同？", "質量是物體所含物質的多少，單位是公斤；重量是物體受到的重力，會隨地點改變。質量守恆。")
    assert lang.check(physics) is None  # 質量 as mass
    quality = record("這個軟件的質量怎麼樣？", "這個軟件的質量很好，視頻功能也很完整，默認設置就能用。")
    assert lang.check(quality).reason == "mainland_phrasing"
    zhe = record("請解釋這句話", "這代表着一個新的開始，也意味着我們要更努力。")
    assert lang.check(zhe).reason == "mainland_phrasing"
    estimate = "很抱歉，我無法給出一個確切的數字，但可以估算：臺灣約有兩千三百萬人，若每十人有一台機車，大約是兩百三十萬台，" * 2
    assert RefusalGate().check(record("臺灣有多少台機車？", estimate)) is None
    assert RefusalGate().check(record("幫我駭進系統", "很抱歉，我無法協助。")).reason == "refusal"
    writeup = "## 思路\n" + "說明文字。" * 1500 + "\n```python\nprint(1)\n```"
    assert LengthGate(GatesConfig()).check(record("請寫出這題的題解", writeup)) is None  # a long code write-up
    assert LengthGate(GatesConfig(max_chars_by_task={"paraphrase": 4000})).check({**record("請寫出這題的題解", writeup), "task": "paraphrase"}).reason == "too_long"


REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


@pytest.mark.skipif(not (REAL / "mt_bench_tw" / "reference_answer_human_w_gpt4_augmented.jsonl").is_file(),
                    reason="MT-Bench-TW reference answers are not in ../shared/data/real on this machine")
def test_the_judge_gate_separates_references_from_broken_answers(tmp_path):
    """MT-Bench-TW questions with their reference answers, and the same answers cut to a third or swapped between
    questions, imported and judged through the stand-in server (tests/llm_stub.py names its rule)."""
    import ast

    refs = {}
    for line in (REAL / "mt_bench_tw/reference_answer_human_w_gpt4_augmented.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        choices = r["choices"] if isinstance(r["choices"], list) else ast.literal_eval(r["choices"])
        refs[str(r["question_id"])] = choices[0]["turns"][0]
    questions = {}
    for line in (REAL / "mt_bench_tw/question.jsonl").read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        turns = q["turns"] if isinstance(q["turns"], list) else ast.literal_eval(q["turns"])
        if str(q["question_id"]) in refs and len(refs[str(q["question_id"])]) >= 60:
            questions[str(q["question_id"])] = turns[0]
    ids = sorted(questions)
    rows = []
    for i, qid in enumerate(ids):
        ref = refs[qid]
        other = refs[ids[(i + 1) % len(ids)]]
        for kind, answer in (("reference", ref), ("truncated", ref[: len(ref) // 3]), ("swapped", other)):
            rows.append({"id": f"{qid}-{kind}", "instruction": questions[qid], "output": answer, "reference": ref})
    data = tmp_path / "mt.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    with Stub() as stub:
        path = synth_job(tmp_path, stub.base_url, [{"kind": "import", "input": str(data), "format": "alpaca"}],
                         judge={"enabled": True, "imports": True, "threshold": 3.0},
                         gates={"reject_mainland_phrasing": False, "require_traditional": False, "near_duplicate_threshold": 1.0})
        release = run_synth(load_synth_job(path))
        assert stub.requests >= len(rows)
    m = manifests.load(release)
    kept = [r["id"] for split, n in m.sft.splits.items() if n for r in manifests.to_dataset(release, split=split).to_list()]
    by_kind = {k: sum(i.endswith(k) for i in kept) for k in ("reference", "truncated", "swapped")}
    n = len(ids)
    assert by_kind["reference"] >= 0.9 * n and by_kind["truncated"] <= 0.1 * n and by_kind["swapped"] <= 0.1 * n, by_kind
    assert m.sft.generation["judge"]["judged"] == 3 * n - (3 * n - len(kept) - m.sft.generation["gates"].get("judge:low_score", 0))
    rejects = [json.loads(line) for line in (release / "rejects/gate_rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    assert all("scores" in r["judge"] for r in rejects if r["gate"] == "judge")


def test_follow_up_turns_extend_seed_conversations_and_every_turn_is_gated(tmp_path):
    seeds = tmp_path / "conversations.jsonl"
    seeds.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in [
        {"id": "c1", "messages": [{"role": "user", "content": "推薦臺北的夜市。"}, {"role": "assistant", "content": "可以去士林夜市和饒河街夜市。"}]},
        {"id": "c2", "instruction": "颱風天要準備什麼？", "response": "準備飲用水、手電筒與乾糧。"},
    ]) + "\n", encoding="utf-8")
    with Stub() as stub:
        path = synth_job(tmp_path, stub.base_url, [{"kind": "follow_up", "input": str(seeds), "count": 2}],
                         export=["sharegpt", "messages"])
        release = run_synth(load_synth_job(path))
        assert stub.requests == 4
    m = manifests.load(release)
    rows = [r for split, n in m.sft.splits.items() if n for r in manifests.to_dataset(release, split=split).to_list()]
    assert len(rows) == 4
    for r in rows:
        roles = [x["role"] for x in r["messages"]]
        assert roles == ["system", "user", "assistant", "user", "assistant"]  # the seed's turns, then the follow-up
    first = next(r for r in rows if r["id"] == "follow_up/c1/0")
    assert first["messages"][1]["content"] == "推薦臺北的夜市。" and first["messages"][3]["content"].startswith("請問")
