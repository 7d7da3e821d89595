"""An LLM judge for SFT records (the anchors: distilabel's UltraFeedback and Prometheus): a rubric of helpfulness,
correctness, Taiwan-Chinese fluency and instruction following, each 1-5, asked as JSON through the same cached,
rate-limited, costed client as generation. The scores stay with every record in the release (metadata `judge`), so a
later selection can use them; records whose mean is under the threshold are rejected as `judge:low_score`."""

from __future__ import annotations

from synth.config import JudgeConfig
from synth.replies import JudgeReply
from synth.tasks import PROMPTS, ReplyTask, Request

CRITERIA = ("helpfulness", "correctness", "fluency", "instruction_following")


class JudgeTask(ReplyTask):
    """A reply task to the client loop (`generate`): a conversation in, a JudgeReply out."""

    name = "judge"
    reply = JudgeReply

    def __init__(self, config: JudgeConfig):
        self.config = config
        self.prompt = (PROMPTS / "judge.txt").read_text(encoding="utf-8")

    def request(self, record: dict) -> Request:
        turns = "\n".join(f"{'使用者' if m['role'] == 'user' else '助理'}：{m['content']}" for m in record["messages"]
                          if m["role"] in ("user", "assistant"))
        reference = record.get("reference")
        ref = f"\n參考答案（可用來判斷正確性）：\n{reference}\n" if reference else ""
        return Request(f"judge/{record['id']}", self.name,
                       [{"role": "user", "content": self.prompt.format(conversation=turns, reference=ref)}], {"record_id": record["id"]})

    def record(self, request: Request, obj: dict) -> dict:
        scores = {k: int(round(obj[k])) for k in CRITERIA}
        return {"id": request.meta["record_id"], "scores": scores, "mean": round(sum(scores.values()) / len(CRITERIA), 3),
                "reason": obj["reason"][:300]}
