"""The replies an LLM must give, one pydantic model per task. The JSON schema a server constrains its output to and the
check of what came back are both read from the model, so a task states its reply once (generation tasks, the judge
and the quality rating alike)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

# the placeholder values of the JSON format examples in the prompt templates: a reply holding one copied the example
TEMPLATE_PLACEHOLDERS = {"新的指令", "對應的回答", "改寫後的問題", "改寫後的回答", "中文指令", "中文回答", "問題", "答案", "new"}


def _no_bool(value):
    """A score of `true` is not a number, though Python counts it as 1."""
    if isinstance(value, bool):
        raise PydanticCustomError("bool_score", "a score must be a number")
    return value


Text = Annotated[str, Field(min_length=2)]
Criterion = Annotated[int, Field(ge=1, le=5), BeforeValidator(_no_bool)]  # whole points: 4.0 is 4, 4.5 is no score


class Reply(BaseModel):
    """A reply object: extra keys are ignored (models add commentary), string values stripped."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    @model_validator(mode="after")
    def _not_the_format_example(self):
        for value in self.__dict__.values():
            if isinstance(value, str) and value in TEMPLATE_PLACEHOLDERS:
                raise PydanticCustomError("template_echo", "the model copied the format example instead of answering")
        return self


class InstructionReply(Reply):
    """self_instruct, paraphrase, translate: a new instruction and its response."""

    instruction: Text
    response: Text


class QuestionAnswerReply(Reply):
    """doc_qa, follow_up: a question and its answer."""

    question: Text
    answer: Text


class JudgeReply(Reply):
    """The judge's four 1-5 criteria and one sentence of reasons."""

    helpfulness: Criterion
    correctness: Criterion
    fluency: Criterion
    instruction_following: Criterion
    reason: str = ""


class RatingReply(Reply):
    """`curate label-quality`: a 0-5 score of a document's value for zh-TW pretraining (digits in a string count)."""

    score: Annotated[int, Field(ge=0, le=5), BeforeValidator(_no_bool)]
    reason: str = ""


def reply_schema(reply: type[Reply]) -> dict:
    """The JSON schema of a reply, for servers that constrain output to it (llama.cpp's grammar, OpenAI's schema mode)."""
    return reply.model_json_schema()


def check_reply(reply: type[Reply], obj: dict | None) -> str | None:
    """None when `obj` is a valid reply, else what is wrong: not_json, template_echo, missing_<key> (absent or empty),
    bad_<key> (wrong type or out of range)."""
    if obj is None:
        return "not_json"
    try:
        reply.model_validate(obj)
    except ValidationError as e:
        error = e.errors()[0]
        if error["type"] == "template_echo":
            return "template_echo"
        key = str(error["loc"][0]) if error["loc"] else "reply"
        return f"missing_{key}" if error["type"] in ("missing", "string_too_short", "string_type") else f"bad_{key}"
    return None
