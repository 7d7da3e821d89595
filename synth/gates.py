"""Quality gates for generated chat records. Each gate is a small class: `check(record) -> reason | None`;
the runner counts every rejection by gate and reason and keeps the rejected records with their reason."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from filters.config import LanguageConfig, ScriptConfig
from synth.config import GatesConfig


def _turns(record: dict, role: str) -> list[str]:
    return [m["content"] for m in record["messages"] if m["role"] == role]


def _texts(record: dict) -> tuple[str, str]:
    """Every user turn and every assistant turn, each joined: a multi-turn record is judged whole, not its first pair."""
    return "\n".join(_turns(record, "user")), "\n".join(_turns(record, "assistant"))


class LengthGate:
    """Every user and assistant turn between `min_chars` and the task's maximum (`max_chars_by_task`, else
    `max_chars`: long enough for a code write-up)."""

    name = "length"

    def __init__(self, config: GatesConfig):
        self.config = config

    def check(self, record: dict) -> str | None:
        limit = self.config.max_chars_by_task.get(record.get("task", ""), self.config.max_chars)
        shortest = self.config.min_chars_by_task.get(record.get("task", ""), self.config.min_chars)
        for m in record["messages"]:
            if m["role"] == "system":
                continue
            if len(m["content"].strip()) < shortest:
                return "too_short"
            if len(m["content"]) > limit:
                return "too_long"
        return None


VARIANT_ZHE = re.compile(r"[\u4e00-\u9fff]着")


class LanguageScriptGate:
    """Chinese, Traditional script and not mainland phrasing, with the CPT path's own language and script steps."""

    name = "language"

    def __init__(self, config: GatesConfig):
        from filters.language import LanguageFilter
        from filters.script import ScriptFilter

        self.config = config
        self.lid = LanguageFilter(LanguageConfig())
        # phrases only, no region model: a rejection names its words (信息, 算法), and the model's unexplained calls were
        # the wrong ones in the hand review (bench/RESULTS.md, issue 29)
        self.script = ScriptFilter(ScriptConfig(action="tag", region_classifier=False))

    def _language(self, text: str) -> str:
        """The CPT language step's decision: mostly-Han text is zh without asking the model (a fifth of the cost)."""
        from datatrove.data import Document

        doc = Document(text=text, id="gate", metadata={})
        self.lid.filter(doc)
        return doc.metadata["annotations"]["lang"]

    def check(self, record: dict) -> str | None:
        user, assistant = _texts(record)
        text = f"{user}\n{assistant}"
        lang = self._language(text)
        analysis = self.script.analyse(text)  # 質量/菜單/前綴 are read in context by the phrase count itself
        # a Chinese question answered with a formula or code ("f(2) = 22") is Chinese data
        if lang != "zh" and analysis["script"] == "none" and self._language(user) != "zh":
            return "not_chinese"
        if self.config.require_traditional and analysis["script"] in ("hans", "mixed"):
            return f"script_{analysis['script']}"
        if self.config.reject_mainland_phrasing and analysis["region"] == "cn":
            return "mainland_phrasing"
        if self.config.reject_mainland_phrasing and len(VARIANT_ZHE.findall(assistant)) >= 2:
            return "mainland_phrasing"  # 代表着, 意味着: the mainland form of 著, which the character tables count as both
        return None


REFUSAL = re.compile(
    r"作為(?:一個)?(?:AI|人工智慧|人工智能|語言模型)|身為(?:一個)?(?:AI|人工智慧|語言模型)|我是(?:一個)?(?:AI|人工智慧)(?:助理|語言模型)"
    r"|我(?:無法|不能)(?:提供|回答|協助|幫助)|很抱歉，我(?:無法|不能)|as an ai\b|i'?m sorry,? (?:but )?i can'?t|i cannot (?:help|provide)",
    re.IGNORECASE)


class RefusalGate:
    """An assistant turn that refuses and stops. 「很抱歉，我無法給出一個確切的數字」 followed by a full estimate is an
    answer: only a refusal with less than `answer_chars` of text after it counts."""

    name = "refusal"
    answer_chars = 80

    def check(self, record: dict) -> str | None:
        for answer in _turns(record, "assistant"):
            m = REFUSAL.search(answer)
            if m and len(re.sub(r"\s+", "", answer[m.end():])) < self.answer_chars:
                return "refusal"
        return None


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
    """MinHash LSH over 5-token shingles of every turn (Han characters and Latin words, script-folded: the
    decontamination tokens): a record near-duplicating a seed or an earlier record is removed. Seeds are inserted
    first, so copies of the seeds never pass. All 128 permutations are computed at once in numpy and banded 16 x 8;
    a candidate counts when its estimated Jaccard similarity (equal signature values) reaches the threshold."""

    name = "near_duplicate"
    NUM_PERM, BANDS, SHINGLE = 128, 16, 5

    def __init__(self, config: GatesConfig, seeds: list[str]):
        self.threshold = config.near_duplicate_threshold
        self.buckets: list[dict[bytes, list[int]]] = [{} for _ in range(self.BANDS)]
        self.signatures: list[np.ndarray] = []
        for s in seeds:
            self._insert(self._minhash(s))

    @staticmethod
    @lru_cache(maxsize=1)
    def _permutations() -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(1)
        return (rng.integers(1, 2**63, NearDuplicates.NUM_PERM, dtype=np.uint64) | np.uint64(1),
                rng.integers(0, 2**63, NearDuplicates.NUM_PERM, dtype=np.uint64))

    def _minhash(self, text: str) -> np.ndarray:
        from filters.decontamination import tokens, window_hashes

        ids = tokens(text)[0]
        shingles = window_hashes(ids, min(self.SHINGLE, max(len(ids), 1)))
        if not len(shingles):
            shingles = np.zeros(1, dtype=np.uint64)
        a, b = self._permutations()
        with np.errstate(over="ignore"):
            return ((shingles[None, :] * a[:, None] + b[:, None]) >> np.uint64(32)).min(axis=1)

    def _bands(self, sig: np.ndarray) -> list[bytes]:
        rows = self.NUM_PERM // self.BANDS
        return [sig[i * rows:(i + 1) * rows].tobytes() for i in range(self.BANDS)]

    def _insert(self, sig: np.ndarray) -> None:
        n = len(self.signatures)
        self.signatures.append(sig)
        for band, key in zip(self.buckets, self._bands(sig)):
            band.setdefault(key, []).append(n)

    def check(self, record: dict) -> str | None:
        sig = self._minhash("\n".join(_texts(record)))
        candidates = {i for band, key in zip(self.buckets, self._bands(sig)) for i in band.get(key, ())}
        if any(np.mean(self.signatures[i] == sig) >= self.threshold for i in candidates):
            return "near_duplicate"
        self._insert(sig)
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
