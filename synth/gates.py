"""Quality gates for generated chat records. Each gate is a small class: `check(record) -> reason | None`;
the runner counts every rejection by gate and reason and keeps the rejected records with their reason."""

from __future__ import annotations

import re
from pathlib import Path

from filters.config import LanguageConfig, ScriptConfig
from synth.config import GatesConfig


def _texts(record: dict) -> tuple[str, str]:
    user = next(m["content"] for m in record["messages"] if m["role"] == "user")
    assistant = next(m["content"] for m in record["messages"] if m["role"] == "assistant")
    return user, assistant


class LengthGate:
    name = "length"

    def __init__(self, config: GatesConfig):
        self.config = config

    def check(self, record: dict) -> str | None:
        for text in _texts(record):
            if len(text.strip()) < self.config.min_chars:
                return "too_short"
            if len(text) > self.config.max_chars:
                return "too_long"
        return None


class LanguageScriptGate:
    """Chinese, Traditional script and not mainland phrasing, with the CPT path's own language and script steps."""

    name = "language"

    def __init__(self, config: GatesConfig):
        from filters.language import LanguageFilter
        from filters.script import ScriptFilter

        self.config = config
        self.lid = LanguageFilter(LanguageConfig())
        self.script = ScriptFilter(ScriptConfig(action="tag"))

    def check(self, record: dict) -> str | None:
        user, assistant = _texts(record)
        text = f"{user}\n{assistant}"
        lang, _ = self.lid.predict(text)
        analysis = self.script.analyse(text)
        if lang != "zh" and analysis["script"] == "none":
            return "not_chinese"
        if self.config.require_traditional and analysis["script"] in ("hans", "mixed"):
            return f"script_{analysis['script']}"
        if self.config.reject_mainland_phrasing and analysis["region"] == "cn":
            return "mainland_phrasing"
        return None


REFUSAL = re.compile(
    r"作為(?:一個)?(?:AI|人工智慧|人工智能|語言模型)|身為(?:一個)?(?:AI|人工智慧|語言模型)|我是(?:一個)?(?:AI|人工智慧)(?:助理|語言模型)"
    r"|我(?:無法|不能)(?:提供|回答|協助|幫助)|很抱歉，我(?:無法|不能)|as an ai\b|i'?m sorry,? (?:but )?i can'?t|i cannot (?:help|provide)",
    re.IGNORECASE)


class RefusalGate:
    name = "refusal"

    def check(self, record: dict) -> str | None:
        return "refusal" if REFUSAL.search(_texts(record)[1]) else None


class GroundingGate:
    """doc_qa only: the answer must come from its document (share of the answer's character bigrams found there)."""

    name = "grounding"
    min_overlap = 0.5

    def check(self, record: dict) -> str | None:
        document = record.get("document")
        if not document:
            return None
        answer = re.sub(r"\s+", "", _texts(record)[1])
        grams = {answer[i: i + 2] for i in range(len(answer) - 1)}
        if not grams:
            return "ungrounded"
        found = sum(g in document for g in grams) / len(grams)
        return None if found >= self.min_overlap else "ungrounded"


class Decontamination:
    """Removes records that overlap an evaluation item: the CPT step's matcher (filters/decontamination.py: Han
    characters and Latin words as tokens, script and width folded, every string of the evaluation records, lists and
    nested fields included; JSONL, JSON or Parquet), checked on every message of the record."""

    name = "decontamination"

    def __init__(self, config: GatesConfig, eval_files: list[Path]):
        from filters.decontamination import EvalIndex, EvalMatcher

        self.matcher = None
        if eval_files:
            sources = {f"{i}:{Path(f).stem}": Path(f) for i, f in enumerate(eval_files)}
            self.matcher = EvalMatcher(EvalIndex.build(sources, n=config.contamination_ngram))

    def check(self, record: dict) -> str | None:
        if self.matcher is None:
            return None
        text = "\n".join(_texts(record))
        return "eval_overlap" if self.matcher.contaminated(self.matcher.overlap(text)) else None


class NearDuplicates:
    """In-memory MinHash LSH (datasketch) over character 5-grams of question + answer: a record near-duplicating
    a seed or an earlier record is removed. Seeds are inserted first, so copies of the seeds never pass."""

    name = "near_duplicate"

    def __init__(self, config: GatesConfig, seeds: list[str]):
        from datasketch import MinHashLSH

        self.lsh = MinHashLSH(threshold=config.near_duplicate_threshold, num_perm=128)
        self.count = 0
        for s in seeds:
            self._insert(self._minhash(s))

    def _minhash(self, text: str):
        from datasketch import MinHash

        t = re.sub(r"\s+", "", text)
        m = MinHash(num_perm=128)
        m.update_batch([t[i: i + 5].encode() for i in range(max(1, len(t) - 4))])
        return m

    def _insert(self, m) -> None:
        self.lsh.insert(str(self.count), m)
        self.count += 1

    def check(self, record: dict) -> str | None:
        m = self._minhash("".join(_texts(record)))
        if self.lsh.query(m):
            return "near_duplicate"
        self._insert(m)
        return None


class PiiGate:
    """Redacts personal data in place (never rejects), like the CPT path's PII step, except in code (numbers in a
    code block are not phone numbers) and for RFC 2606 example addresses (`test@example.com` reaches no one)."""

    name = "pii"

    def check(self, record: dict) -> str | None:
        from filters.pii import redact_chat

        kinds = set()
        for m in record["messages"]:
            m["content"], found = redact_chat(m["content"])
            kinds |= set(found)
        if kinds:
            record["pii"] = sorted(kinds)
        return None
