"""Quality gates for chat records, generated or imported. Each gate is a small class: `check(record) -> Rejection |
None`, where a rejection names its reason and quotes its evidence (the words or turns that tripped it); the runner counts
every rejection by gate, reason and source and keeps the rejected records with both."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from filters.config import LanguageConfig, ScriptConfig
from filters.fingerprint import estimate_similarity
from synth.config import GatesConfig


@dataclass(frozen=True)
class Rejection:
    reason: str
    evidence: str = ""  # what tripped the gate, quoted short enough to read in a listing


def quote(text: str, start: int = 0, end: int | None = None, around: int = 30) -> str:
    """The text from `start` to `end` with `around` characters either side, on one line."""
    end = start if end is None else end
    left, right = max(0, start - around), min(len(text), end + around)
    snippet = text[left:right].replace("\n", "⏎")
    return ("…" if left else "") + snippet + ("…" if right < len(text) else "")


def _turns(record: dict, role: str) -> list[str]:
    return [m["content"] for m in record["messages"] if m["role"] == role]


def _texts(record: dict) -> tuple[str, str]:
    """Every user turn and every assistant turn, each joined: a multi-turn record is judged whole, not its first pair."""
    return "\n".join(_turns(record, "user")), "\n".join(_turns(record, "assistant"))


class StructureGate:
    """A conversation a trainer can take as it is: at most one system turn, and first; then user and assistant turns
    alternating, from a user turn to an assistant turn (the trainer learns the last turn: a record ending on a
    question teaches nothing, two questions in a row mean a lost answer). Nothing is repaired: which turn was lost is
    not knowable from the record."""

    name = "structure"

    def check(self, record: dict) -> Rejection | None:
        roles = [m["role"] for m in record["messages"]]
        for i, role in enumerate(roles):
            if role == "system" and i > 0:
                return Rejection("system_not_first", f"turn {i + 1} of {len(roles)} is a system turn")
        turns = [r for r in roles if r != "system"]
        if not turns or turns[0] != "user":
            return Rejection("starts_with_assistant", f"roles: {'/'.join(turns)}")
        for i in range(1, len(turns)):
            if turns[i] == turns[i - 1]:
                return Rejection(f"repeated_{turns[i]}", f"turns {i} and {i + 1} are both {turns[i]}: {'/'.join(turns)}")
        if turns[-1] != "assistant":
            return Rejection("ends_with_user", f"roles: {'/'.join(turns)}")
        return None


class LengthGate:
    """Every user and assistant turn between `min_chars` and the task's maximum (`max_chars_by_task`, else
    `max_chars`: long enough for a code write-up)."""

    name = "length"

    def __init__(self, config: GatesConfig):
        self.config = config

    def check(self, record: dict) -> Rejection | None:
        limit = self.config.max_chars_by_task.get(record.get("task", ""), self.config.max_chars)
        shortest = self.config.min_chars_by_task.get(record.get("task", ""), self.config.min_chars)
        for i, m in enumerate(record["messages"], start=1):
            if m["role"] == "system":
                continue
            if len(m["content"].strip()) < shortest:
                return Rejection("too_short", f"turn {i} ({m['role']}): {len(m['content'].strip())} characters, at least {shortest}")
            if len(m["content"]) > limit:
                return Rejection("too_long", f"turn {i} ({m['role']}): {len(m['content'])} characters, at most {limit}")
        return None


# the control tokens of the chat templates models are trained with (Llama 2, ChatML, Llama 3, Gemma, Alpaca), and the
# bracketed section tags base models invent in their place ([/INPUT], <<QUEST>>): text that only a template writes
LEAKED_TEMPLATE = re.compile(
    r"\[/?INST\]|<</?SYS>>|<</?[A-Z]{2,}>>|\[/[A-Z]{2,}\]|\[(?:SYS|INPUT|OUTPUT|RESPONSE|INSTRUCTION)\]"
    r"|<\|(?:im_start|im_end|endoftext|eot_id|start_header_id|end_header_id|begin_of_text|user|assistant|system|end)\|>"
    r"|<(?:start|end)_of_turn>|</s>|^#{2,3}\s*(?:Instruction|Response|Input)\s*:", re.I | re.M)
# a line that opens a turn: a speaker label of the user side (an invented next question) or of the assistant side (the
# answer wrote its own role). Chinese 回答：/答： start ordinary answers and are not counted.
# The English capitals also count mid-line, after a sentence ends ("…的變化。USER: 你能告訴我…"): a model that ran on.
USER_LABEL = re.compile(r"^[ \t]*(?:\*\*)?(?:USER|User|Human|HUMAN|使用者|用戶|用户)(?:\*\*)?[ \t]*[:：]"
                        r"|(?<=[。！？.!?」\s])(?:USER|HUMAN|Human):", re.M)
ASSISTANT_LABEL = re.compile(r"^[ \t]*(?:\*\*)?(?:ASSISTANT|Assistant|GPT|ChatGPT|AI助理|助理)(?:\*\*)?[ \t]*[:：]"
                             r"|(?<=[。！？.!?」\s])ASSISTANT:", re.M)
CODE_FENCE = re.compile(r"```.*?```", re.S)
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
LATIN = re.compile(r"[A-Za-z]")
# function words of English prose that code and formulas rarely hold (not if/in/for/and/or/not/is: Python has them)
# (nor single letters: a formula's `a` is a variable)
ENGLISH_WORDS = re.compile(r"\b(?:the|an|to|of|you|your|we|that|this|can|will|be|are|which|these|there|here|would|"
                           r"should|it|its|following|use|using|then|has|have)\b", re.I)
ASKS_FOR_ENGLISH = re.compile(r"英文|英語|英译|英譯|English|english|翻譯|翻译|翻成|譯成|译成|translate|Translate")
GARBAGE = re.compile(r"[\ufffd\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class AnswerGate:
    """What an assistant turn says, checked on every assistant turn (the prose outside closed ``` code blocks, where
    a template token or an English sentence is the point of the code):
    - `leaked_template`: a chat template's control tokens ([INST], <<SYS>>, <|im_start|>, </s>) or the section tags
      base models invent in their place; also checked in user turns (a prompt that carries a template is one);
    - `invented_turn`: a line opening a user turn (USER:, Human:, 使用者：) inside the answer: the model went on
      playing both sides; `role_marker`: a line opening an assistant turn (ASSISTANT:, 助理：);
    - `english_answer`: a Chinese prompt answered in English prose (English function words make up the answer; code
      has none of them), unless the prompt asks for English or a translation;
    - `repetition`: the same 10-character strings make up over `max_repetition` of the answer (Data-Juicer's
      character-repetition measure: the top √n most frequent 10-grams' share), or one line is over a third of its
      non-empty lines (at least 6): a model stuck in a loop;
    - `garbage`: replacement characters or control characters, the marks of a broken decoding."""

    name = "answer"
    max_repetition = 0.5
    repetition_ngram = 10

    def check(self, record: dict) -> Rejection | None:
        user = _texts(record)[0]
        for m in record["messages"]:
            if m["role"] not in ("user", "assistant"):
                continue
            prose = CODE_FENCE.sub(" ", m["content"])
            # </s> after an <s> is HTML's strikethrough, not Llama's end of sequence
            found = next((f for f in LEAKED_TEMPLATE.finditer(prose) if f.group() != "</s>" or "<s>" not in prose[:f.start()]), None)
            if found:
                return Rejection("leaked_template", f"{m['role']}: {quote(prose, found.start(), found.end())}")
            if m["role"] == "assistant":
                rejection = self._answer(prose, user)
                if rejection:
                    return rejection
        return None

    def _answer(self, prose: str, user: str) -> Rejection | None:
        for pattern, reason in ((USER_LABEL, "invented_turn"), (ASSISTANT_LABEL, "role_marker")):
            found = pattern.search(prose)
            label = found and re.sub(r"[\s*:：]", "", found.group())
            if found and label not in user:  # a prompt that asks for a dialogue in this form («使用者：») may get one
                return Rejection(reason, quote(prose, found.start(), found.end()))
        garbage = GARBAGE.search(prose)
        if garbage:
            return Rejection("garbage", f"U+{ord(garbage.group()):04X} in {quote(prose, garbage.start(), garbage.end(), 15)}")
        english = self._english_share(prose, user)
        if english:
            return Rejection("english_answer", english)
        return self._repetition(prose)

    @staticmethod
    def _english_share(prose: str, user: str) -> str | None:
        """Evidence when a Chinese prompt gets an English answer: Latin words outnumber Han characters two to one in
        the prose, and English function words are a tenth of its words (an answer of code without a fence has none)."""
        han_user, latin_user = len(HAN.findall(user)), len(LATIN.findall(user))
        if han_user * 3 < latin_user or ASKS_FOR_ENGLISH.search(user):
            return None
        han, words = len(HAN.findall(prose)), re.findall(r"[A-Za-z][A-Za-z']*", prose)
        function_words = [w.lower() for w in ENGLISH_WORDS.findall(prose)]
        if len(words) >= 20 and len(words) > 2 * han and len(function_words) >= 0.1 * len(words) and len(set(function_words)) >= 4:
            return f"{len(words)} English words, {han} Han characters: {quote(prose, 0, 0, 60)}"
        return None

    def _repetition(self, prose: str) -> Rejection | None:
        text = re.sub(r"\s+", "", prose)
        n = self.repetition_ngram
        if len(text) > 4 * n:
            counts = Counter(text[i:i + n] for i in range(len(text) - n + 1))
            top = sorted(counts.values(), reverse=True)[: int(len(counts) ** 0.5)]
            share = sum(c for c in top if c > 1) / sum(counts.values())
            if share > self.max_repetition:
                gram = max(counts, key=counts.get)
                return Rejection("repetition", f"{share:.0%} repeated 10-grams, e.g. {gram!r} x{counts[gram]}")
        lines = [line.strip() for line in prose.splitlines() if line.strip()]
        if len(lines) >= 6:
            line, times = Counter(lines).most_common(1)[0]
            if times > len(lines) / 3 and len(line) >= 2:
                return Rejection("repetition", f"line {line[:40]!r} is {times} of {len(lines)} lines")
        return None


VARIANT_ZHE = re.compile(r"[\u4e00-\u9fff]着")


class LanguageScriptGate:
    """Chinese, Traditional script and not mainland phrasing, with the CPT path's own language and script steps; the
    answer's script is also checked alone (a long Traditional prompt must not carry a Simplified answer through)."""

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

    def check(self, record: dict) -> Rejection | None:
        user, assistant = _texts(record)
        text = f"{user}\n{assistant}"
        lang = self._language(text)
        analysis = self.script.analyse(text)  # 質量/菜單/前綴 are read in context by the phrase count itself
        # a Chinese question answered with a formula or code ("f(2) = 22") is Chinese data
        if lang != "zh" and analysis["script"] == "none" and self._language(user) != "zh":
            return Rejection("not_chinese", f"language {lang}: {quote(text, 0, 0, 60)}")
        if self.config.require_traditional:
            rejection = self._simplified("record", analysis) or self._simplified("answer", self.script.analyse(assistant))
            if rejection:
                return rejection
        if self.config.reject_mainland_phrasing and analysis["region"] == "cn":
            words = self.script.phrasing.mainland_phrases(text)
            return Rejection("mainland_phrasing", "、".join(dict.fromkeys(words)) or "mainland wording")
        if self.config.reject_mainland_phrasing and len(VARIANT_ZHE.findall(assistant)) >= 2:
            # 代表着, 意味着: the mainland form of 著, which the character tables count as both
            return Rejection("mainland_phrasing", "、".join(dict.fromkeys(VARIANT_ZHE.findall(assistant))))
        return None


    @staticmethod
    def _simplified(where: str, analysis: dict) -> Rejection | None:
        if analysis["script"] in ("hans", "mixed"):
            return Rejection(f"script_{analysis['script']}", f"{where}: Traditional share {analysis['hant_ratio']}")
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

    def check(self, record: dict) -> Rejection | None:
        for answer in _turns(record, "assistant"):
            m = REFUSAL.search(answer)
            if m and len(re.sub(r"\s+", "", answer[m.end():])) < self.answer_chars:
                return Rejection("refusal", quote(answer, m.start(), m.end()))
        return None


class GroundingGate:
    """doc_qa only: the answer must come from its document (share of the answer's character bigrams found there)."""

    name = "grounding"
    min_overlap = 0.5

    def check(self, record: dict) -> Rejection | None:
        document = record.get("document")
        if not document:
            return None
        answer = re.sub(r"\s+", "", _texts(record)[1])
        grams = {answer[i: i + 2] for i in range(len(answer) - 1)}
        found = sum(g in document for g in grams) / len(grams) if grams else 0.0
        return None if found >= self.min_overlap else Rejection("ungrounded", f"{found:.0%} of the answer's bigrams in its document")


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

    def check(self, record: dict) -> Rejection | None:
        if self.matcher is None:
            return None
        items = self.matcher.contaminated(self.matcher.overlap("\n".join(_texts(record))))
        if not items:
            return None
        ids = self.matcher.index.item_ids
        return Rejection("eval_overlap", ", ".join(f"{ids[i]} ({share:.0%})" for i, share in sorted(items.items())[:3]))


class MinHashIndex:
    """An in-memory LSH index over the CPT dedup step's fingerprints (filters/fingerprint.py: script-folded, width-
    and case-folded, punctuation dropped; Han characters and Latin words as tokens, 5-token shingles, one-permutation
    MinHash), banded 16 x 8; a candidate counts when its estimated Jaccard similarity (equal signature values)
    reaches the threshold. SFT sets are small enough to hold whole, so no disk stages."""

    NUM_PERM, BANDS, SHINGLE = 128, 16, 5

    def __init__(self, threshold: float):
        from filters.fingerprint import TextFingerprint

        self.threshold = threshold
        self.fingerprint = TextFingerprint(ngram=self.SHINGLE, num_perm=self.NUM_PERM)
        self.buckets: list[dict[bytes, list[int]]] = [{} for _ in range(self.BANDS)]
        self.signatures: list[np.ndarray] = []
        self.names: list[str] = []

    def signature(self, text: str) -> np.ndarray:
        return self.fingerprint.signatures([text])[0][0]

    def _bands(self, sig: np.ndarray) -> list[bytes]:
        rows = self.NUM_PERM // self.BANDS
        return [sig[i * rows:(i + 1) * rows].tobytes() for i in range(self.BANDS)]

    def similar(self, sig: np.ndarray) -> list[int]:
        """Positions of the inserted texts whose estimated similarity to `sig` reaches the threshold."""
        candidates = {i for band, key in zip(self.buckets, self._bands(sig)) for i in band.get(key, ())}
        return sorted(i for i in candidates if estimate_similarity(self.signatures[i], sig) >= self.threshold)

    def insert(self, sig: np.ndarray, name: str) -> int:
        n = len(self.signatures)
        self.signatures.append(sig)
        self.names.append(name)
        for band, key in zip(self.buckets, self._bands(sig)):
            band.setdefault(key, []).append(n)
        return n


class NearDuplicates:
    """A record whose turns near-duplicate a seed's or an earlier record's is removed (MinHashIndex over every turn).
    Seeds are inserted first, so copies of the seeds never pass; the runner hands records over best first, so of two
    near-duplicates the better one stays."""

    name = "near_duplicate"

    def __init__(self, config: GatesConfig, seeds: list[str]):
        self.index = MinHashIndex(config.near_duplicate_threshold)
        for i, s in enumerate(seeds):
            self.index.insert(self.index.signature(s), f"seed {i + 1}")

    def check(self, record: dict) -> Rejection | None:
        sig = self.index.signature("\n".join(_texts(record)))
        similar = self.index.similar(sig)
        if similar:
            return Rejection("near_duplicate", f"of {self.index.names[similar[0]]}")
        self.index.insert(sig, record.get("id", "?"))
        return None


def normalized_prompt(record: dict) -> str:
    """The user side of a record (every user turn) without spaces and punctuation, the key of exact prompt copies."""
    return re.sub(r"[\W_]+", "", _texts(record)[0]).lower()


CUT_OFF = re.compile(r"[\u4e00-\u9fff，、,：:（(「]\s*$")


def looks_cut_off(answer: str) -> bool:
    """An answer that stops mid-sentence (on a Han character, a comma or an opening bracket): a reply that hit its
    token limit. A sign for ranking, not a gate: poems and list items may end without punctuation too."""
    return bool(CUT_OFF.search(answer))


def answer_rank(record: dict, typical_chars: float | None = None, mainland_phrases: int = 0) -> tuple:
    """The stated rule for the best answer among records asking the same thing (and among near-duplicates): the higher
    judge mean first (unjudged after judged); then the cleaner answer: fewer of personal-data kinds redacted, mainland
    phrases left under the rejection threshold and a last turn cut off mid-sentence; then the answer whose length is nearest the group's median
    (`typical_chars`: neither cut short nor rambling; the longest answer of the Taiwan-LLM bench was mostly a base
    model's wandering); then the id, a stable tie-break."""
    judge = record.get("judge") or {}
    mean = judge.get("mean")
    spread = abs(len(_texts(record)[1]) - typical_chars) if typical_chars is not None else 0
    last = _turns(record, "assistant")[-1] if _turns(record, "assistant") else ""
    flaws = len(record.get("pii", [])) + mainland_phrases + looks_cut_off(last)
    return (-(mean if mean is not None else 0), flaws, spread, str(record.get("id")))


class PromptGroups:
    """Records that ask the same thing (the same user turns once spaces, punctuation and case are gone; with
    `prompt_group_threshold`, also MinHash-similar ones) form one prompt group. Each group keeps its best
    `answers_per_prompt` records by `answer_rank` (all with null); the rest are rejected as `not_best`. Every kept
    record carries its group's key and size, and the release splits train/validation by group, so a prompt is never
    in both."""

    name = "prompt_group"

    def __init__(self, config: GatesConfig):
        self.config = config
        self._phrasing = None  # the Taiwan/mainland phrase counter, loaded when a group needs ranking

    def groups(self, records: list[dict]) -> list[list[dict]]:
        threshold = self.config.prompt_group_threshold
        index = MinHashIndex(threshold) if threshold else None
        parent = list(range(len(records)))

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        exact: dict[str, int] = {}
        for i, record in enumerate(records):
            key = normalized_prompt(record)
            if key in exact:
                parent[root(i)] = root(exact[key])
                continue
            exact[key] = i
            if index is not None:
                sig = index.signature(_texts(record)[0])
                for j in index.similar(sig):
                    parent[root(i)] = root(int(index.names[j]))
                index.insert(sig, str(i))
        members: dict[int, list[dict]] = {}
        for i, record in enumerate(records):
            members.setdefault(root(i), []).append(record)
        return list(members.values())

    def select(self, records: list[dict]) -> tuple[list[dict], list[tuple[dict, Rejection]]]:
        """(kept records with `prompt_group` and `prompt_group_size`, rejected records with their rejection)."""
        import hashlib

        kept, rejected = [], []
        for group in self.groups(records):
            key = hashlib.sha256(min(normalized_prompt(r) for r in group).encode()).hexdigest()[:16]
            ranked = self.rank(group)
            n = self.config.answers_per_prompt or len(ranked)
            kept += [{**r, "prompt_group": key, "prompt_group_size": len(group)} for r in ranked[:n]]
            best = ", ".join(str(r["id"]) for r in ranked[:n])
            rejected += [(r, Rejection("not_best", f"group of {len(group)} asking the same; kept {best}")) for r in ranked[n:]]
        return kept, rejected

    def rank(self, group: list[dict]) -> list[dict]:
        if len(group) == 1:
            return group
        typical = float(np.median([len(_texts(r)[1]) for r in group]))
        return sorted(group, key=lambda r: answer_rank(r, typical, len(self.phrasing.mainland_phrases(_texts(r)[1]))))

    @property
    def phrasing(self):
        if self._phrasing is None:
            from filters.script import TaiwanPhrasingScore

            self._phrasing = TaiwanPhrasingScore(ScriptConfig())
        return self._phrasing


def redact_pii(record: dict) -> dict:
    """The record with personal data redacted (never rejected), like the CPT path's PII step, except in code (numbers
    in a code block are not phone numbers) and for RFC 2606 example addresses (`test@example.com` reaches no one); the
    kinds found are listed in `pii`. A new record: the caller's stays as it was."""
    from filters.pii import redact_chat

    kinds, messages = set(), []
    for m in record["messages"]:
        content, found = redact_chat(m["content"])
        messages.append({**m, "content": content})
        kinds |= set(found)
    return {**record, "messages": messages, **({"pii": sorted(kinds)} if kinds else {})}
