"""Character-based quality heuristics for Chinese text.

Word-based rules (Gopher, C4, FineWeb) assume space-delimited words and reject almost all Chinese; these work
on characters and lines instead. Each check is one small function of precomputed counts; a document failing any
check is `low` quality and dropped with the first failing reason, and every failing reason is annotated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from datatrove.data import Document

from curation.config import QualityConfig
from filters.base import CurationFilter, annotations

SENTENCE_ENDS = tuple("。！？!?.…；;：:」』”）)》>")
BULLET = re.compile(r"^\s*(?:[•·‧●○◦▪▫►▶◆◇■□・\-*+]|\d{1,3}[.、)]|[（(]\d{1,3}[)）]|[一二三四五六七八九十]+、)\s*")
MOJIBAKE = re.compile(r"\ufffd|锟斤拷|烫烫烫|屯屯屯|Ã.|Â.|â€.|å[\x80-\xbf]|ç[\x80-\xbf]|é[\x80-\xbf]")


def _cjk(cp: np.ndarray) -> np.ndarray:
    return ((cp >= 0x4E00) & (cp <= 0x9FFF)) | ((cp >= 0x3400) & (cp <= 0x4DBF)) | ((cp >= 0xF900) & (cp <= 0xFAFF)) \
        | ((cp >= 0x3040) & (cp <= 0x30FF)) | ((cp >= 0xAC00) & (cp <= 0xD7AF))


@dataclass
class TextStats:
    chars: int
    nonspace: int
    cjk: int
    symbols: int
    punctuation: int
    lines: list[str]
    top_ngram_chars: int
    mojibake: int

    @classmethod
    def of(cls, text: str, punct_table: np.ndarray, symbol_table: np.ndarray) -> TextStats:
        cp = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        clipped = np.minimum(cp, len(punct_table) - 1)
        space = (cp == 32) | (cp == 10) | (cp == 9) | (cp == 0x3000)
        lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
        # the most frequent character 4-gram (spaces removed), as Gopher's top n-gram rule, in characters
        ns = cp[~space].astype(np.uint64)
        top = 0
        if len(ns) >= 8:
            grams = (ns[:-3] << np.uint64(42)) | (ns[1:-2] << np.uint64(28)) | (ns[2:-1] << np.uint64(14)) | ns[3:]
            _, counts = np.unique(grams, return_counts=True)
            top = min(int(counts.max()) * 4, len(ns)) if counts.max() > 1 else 0  # overlapping hits cover at most the text
        return cls(chars=len(cp), nonspace=int((~space).sum()), cjk=int(_cjk(cp).sum()), symbols=int(symbol_table[clipped].sum()),
                   punctuation=int(punct_table[clipped].sum()), lines=lines, top_ngram_chars=top,
                   mojibake=len(MOJIBAKE.findall(text)))


def _category_tables() -> tuple[np.ndarray, np.ndarray]:
    import unicodedata

    punct = np.zeros(0x30000, dtype=bool)
    symbol = np.zeros(0x30000, dtype=bool)
    for cp in range(0x30000):
        cat = unicodedata.category(chr(cp))
        punct[cp] = cat[0] == "P"
        symbol[cp] = cat[0] == "S"
    return punct, symbol


class QualityFilter(CurationFilter):
    """Drops low-quality pages: too short, too little CJK, symbol- or punctuation-heavy, few lines ending like
    sentences, many repeated lines, one 4-gram repeated over much of the text, bullet-list or navigation-menu
    pages, mojibake. Annotates `quality` (ok | low), `quality_reasons` and `quality_score` (share of checks passed)."""

    name = "quality"

    def __init__(self, config: QualityConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self._tables = None

    def checks(self, s: TextStats) -> list[tuple[str, bool]]:
        c = self.config
        n_lines = len(s.lines)
        line_chars = sum(len(ln) for ln in s.lines) or 1
        seen, dup_chars = set(), 0
        for ln in s.lines:
            if ln in seen and len(ln) > 1:
                dup_chars += len(ln)
            seen.add(ln)
        ends = sum(ln.endswith(SENTENCE_ENDS) for ln in s.lines)
        bullets = sum(bool(BULLET.match(ln)) for ln in s.lines)
        short = sum(len(ln) <= 8 for ln in s.lines)
        nonspace = max(s.nonspace, 1)
        return [
            ("too_short", s.chars < c.min_chars),
            ("low_cjk_ratio", s.cjk / nonspace < c.min_cjk_ratio),
            ("too_many_symbols", s.symbols / nonspace > c.max_symbol_ratio),
            ("too_much_punctuation", s.punctuation / nonspace > c.max_punctuation_ratio),
            # lines that neither end like sentences nor are long enough to be prose: menus, tag clouds, link lists
            ("few_sentence_ends", n_lines >= 5 and ends / n_lines < c.min_sentence_end_ratio and line_chars / n_lines < c.prose_line_chars),
            ("duplicate_lines", dup_chars / line_chars > c.max_duplicate_line_ratio),
            ("repetitive_ngrams", s.top_ngram_chars / nonspace > c.max_top_ngram_ratio),
            ("bullet_list", n_lines >= 5 and bullets / n_lines > c.max_bullet_line_ratio),
            ("navigation_menu", n_lines >= 10 and short / n_lines > c.max_short_line_ratio),
            ("mojibake", s.mojibake / max(s.chars, 1) > c.max_mojibake_ratio),
        ]

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if self._tables is None:
            self._tables = _category_tables()
        results = self.checks(TextStats.of(doc.text, *self._tables))
        reasons = [name for name, failed in results if failed]
        ann = annotations(doc)
        ann["quality"] = "low" if reasons else "ok"
        ann["quality_reasons"] = reasons
        ann["quality_score"] = round(1 - len(reasons) / len(results), 3)
        return (False, reasons[0]) if reasons else True
