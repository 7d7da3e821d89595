"""One reply model per LLM task (synth/replies.py): the schema a server is given and the check of what came back are
read from the same model, for generation tasks, the judge and the quality rating."""

from synth.replies import InstructionReply, JudgeReply, RatingReply, check_reply, reply_schema
from synth.judge import JudgeTask
from synth.config import JudgeConfig


def test_each_wrong_reply_is_named():
    assert check_reply(InstructionReply, {"instruction": "介紹玉山。", "response": "玉山是臺灣最高峰。"}) is None
    assert check_reply(InstructionReply, None) == "not_json"
    assert check_reply(InstructionReply, {"instruction": "介紹玉山。"}) == "missing_response"
    assert check_reply(InstructionReply, {"instruction": " ", "response": "玉山。"}) == "missing_instruction"
    assert check_reply(InstructionReply, {"instruction": "新的指令", "response": "對應的回答"}) == "template_echo"
    assert check_reply(InstructionReply, {"instruction": 3, "response": "玉山。"}) == "missing_instruction"


def test_scores_are_numbers_in_range_and_never_booleans():
    judged = {"helpfulness": 4, "correctness": 5.0, "fluency": "3", "instruction_following": 4, "reason": "好"}
    assert check_reply(JudgeReply, judged) is None
    assert check_reply(JudgeReply, {**judged, "fluency": 7}) == "bad_fluency"
    assert check_reply(JudgeReply, {**judged, "helpfulness": True}) == "bad_helpfulness"
    assert check_reply(RatingReply, {"score": "4", "reason": "完整"}) is None
    assert check_reply(RatingReply, {"score": 3.5}) == "bad_score" and check_reply(RatingReply, {"score": False}) == "bad_score"


def test_the_schema_and_the_record_come_from_the_model():
    schema = reply_schema(JudgeReply)
    assert schema["required"] == ["helpfulness", "correctness", "fluency", "instruction_following"]
    assert schema["properties"]["fluency"]["maximum"] == 5
    task = JudgeTask(JudgeConfig())
    assert check_reply(JudgeReply, {"helpfulness": 4, "correctness": 5, "fluency": 3.5, "instruction_following": 4}) == "bad_fluency"
    reply = task.parse({"helpfulness": 4, "correctness": "5", "fluency": 4.0, "instruction_following": 4, "reason": " 好 "})
    rec = task.record(task.request({"id": "r1", "messages": []}), reply)
    assert rec["scores"] == {"helpfulness": 4, "correctness": 5, "fluency": 4, "instruction_following": 4} and rec["reason"] == "好"
