"""Character-based quality heuristics for Chinese text.

Word-based rules (Gopher, C4, FineWeb) assume space-delimited words and reject almost all Chinese; these work
on characters and lines instead. Each check is one small function of precomputed counts; a document failing any
check is `low` quality and dropped with the first failing reason, and every failing reason is annotated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from datatrove.data import Document

from filters.base import CurationFilter, annotations
from filters.config import QualityConfig
from filters.patterns import URL, may_hold_url

SENTENCE_ENDS = tuple("。！？!?.…；;：:」』”）)》>")
# Forum posts (PTT) and chat break lines where prose would put a comma or full stop; a line with a few Han
# characters and a grammatical particle reads as a clause, while menu items and tag lists (關於我們, 熱門商品) have none
CLAUSE_PARTICLES = frozenset("的了是嗎吧啊呢就也都很在有不這那說到把被跟得著過還沒")
# A chronology line (a filmography, a timeline: "1992 新龍門客棧", "2010年 遷校") states a dated fact the way a
# sentence does; a table row that starts with a four-digit code ("2303 聯電 9,733") ends in a number instead
CHRONOLOGY_LINE = re.compile(r"^\s*(?:1[89]|20)\d\d年?\s*[^\d\s].*[\u4e00-\u9fff][^\d]*$")
# a separator line (=====) or a run of ？？？？ is one piece of decoration, not dozens of symbols; box drawing
# (─│┼) is the border of a table (a law's staffing table), not text at all
SYMBOL_RUN = re.compile(r"([^\w\s])\1{2,}")
BOX_DRAWING = re.compile(r"[\u2500-\u257f]+")
BULLET = re.compile(r"^\s*(?:[•·‧●○◦▪▫►▶◆◇■□・\-*+]|\d{1,3}[.、)]|[（(]\d{1,3}[)）]|[一二三四五六七八九十]+、)\s*")
MOJIBAKE = re.compile(r"\ufffd|锟斤拷|烫烫烫|屯屯屯|Ã.|Â.|â€.|å[\x80-\xbf]|ç[\x80-\xbf]|é[\x80-\xbf]")


PUNCT, SYMBOL, CJK, SPACE, LATIN, BOX = 1, 2, 4, 8, 16, 32  # bit flags of the character class table
FLAGS = (PUNCT, SYMBOL, CJK, SPACE, LATIN, BOX)
# row: a flag combination (a table value), column: whether it holds each flag
FLAG_BITS = np.array([[bool(combo & flag) for flag in FLAGS] for combo in range(64)], dtype=np.int64)


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
    latin_letters: int
    latin_words: int
    url_chars: int  # characters inside URLs, which are removed before everything else is counted

    @classmethod
    def of(cls, text: str, flags_table: np.ndarray) -> TextStats:
        with_urls = len(text)
        text = URL.sub("", text) if may_hold_url(text) else text
        cp = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        flags = flags_table[np.minimum(cp, len(flags_table) - 1)]
        # decoration needs box drawing or a character three times in a row; most text has neither
        if (flags & BOX).any() or ((cp[2:] == cp[:-2]) & (cp[1:-1] == cp[:-2])).any():
            text = SYMBOL_RUN.sub(r"\1", BOX_DRAWING.sub(" ", text))
            cp = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
            flags = flags_table[np.minimum(cp, len(flags_table) - 1)]
        # counts of every flag at once: characters per flag combination, times which flags each combination holds
        counts = dict(zip(FLAGS, (np.bincount(flags, minlength=len(FLAG_BITS)) @ FLAG_BITS).tolist()))
        lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
        # the most frequent character 4-gram (spaces removed), as Gopher's top n-gram rule, in characters
        ns = cp[(flags & SPACE) == 0].astype(np.uint64)
        top = 0
        if len(ns) >= 8:
            grams = (ns[:-3] << np.uint64(42)) | (ns[1:-2] << np.uint64(28)) | (ns[2:-1] << np.uint64(14)) | ns[3:]
            grams.sort()
            # the longest run of equal grams: from the first gram to the first change, between changes, after the last
            change = np.flatnonzero(grams[1:] != grams[:-1])
            longest = len(grams) if not len(change) else max(
                int(change[0]) + 1, len(grams) - 1 - int(change[-1]), int((change[1:] - change[:-1]).max(initial=0)))
            top = min(longest * 4, len(ns)) if longest > 1 else 0  # overlapping hits cover at most the text
        # Latin words, so "low CJK ratio" weighs a word like a character: player names in an NBA thread are not English text
        ascii_letter = (flags & LATIN) != 0
        latin_words = int(np.count_nonzero(ascii_letter[1:] > ascii_letter[:-1])) + int(ascii_letter[:1].sum())
        return cls(chars=len(cp), nonspace=len(cp) - counts[SPACE], cjk=counts[CJK],
                   latin_letters=counts[LATIN], latin_words=latin_words,
                   symbols=counts[SYMBOL], punctuation=counts[PUNCT],
                   lines=lines, top_ngram_chars=top,
                   mojibake=len(MOJIBAKE.findall(text)), url_chars=with_urls - len(cp))


@lru_cache(maxsize=1)  # one per process, shared by every task (filters/shared.py says why)
def _class_table() -> np.ndarray:
    """Code point -> PUNCT | SYMBOL | CJK | SPACE | LATIN | BOX flags (CJK: Han, kana and Hangul, as characters of CJK
    text; SPACE: space, tab, newline, ideographic space; LATIN: ASCII letters; BOX: box drawing)."""
    import unicodedata

    table = np.zeros(0x30000, dtype=np.uint8)
    for cp in range(0x30000):
        cat = unicodedata.category(chr(cp))
        table[cp] = PUNCT if cat[0] == "P" else SYMBOL if cat[0] == "S" else 0
    for lo, hi in ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x3040, 0x30FF), (0xAC00, 0xD7AF), (0x20000, 0x2FFFF)):
        table[lo: hi + 1] |= CJK
    table[[32, 10, 9, 0x3000]] |= SPACE
    table[ord("A"): ord("Z") + 1] |= LATIN
    table[ord("a"): ord("z") + 1] |= LATIN
    table[0x2500: 0x2580] |= BOX
    table.flags.writeable = False
    return table


class QualityFilter(CurationFilter):
    """Drops low-quality pages: mostly links, too short, too little CJK, symbol- or punctuation-heavy, few lines
    that end like sentences or read like clauses (forum posts break lines instead of ending sentences; menus and
    tag lists do neither), many repeated lines, one 4-gram repeated over much of the text, bullet-list or navigation-menu
    pages, mojibake. URLs are cut out before the ratios are counted, so links in a post do not make it "not
    Chinese". Annotates `quality` (ok | low), `quality_reasons` and `quality_score` (share of checks passed)."""

    name = "quality"

    def __init__(self, config: QualityConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self._table = None

    def min_chars(self, doc: Document) -> int:
        """`min_chars_by_source`, else `min_chars_by_kind`, else `min_chars`."""
        c = self.config
        meta = doc.metadata
        return c.min_chars_by_source.get(meta.get("source"), c.min_chars_by_kind.get(meta.get("kind"), c.min_chars))

    def checks(self, s: TextStats, min_chars: int | None = None) -> list[tuple[str, bool]]:
        c = self.config
        min_chars = c.min_chars if min_chars is None else min_chars
        n_lines = len(s.lines)
        line_chars = sum(len(ln) for ln in s.lines) or 1
        seen, dup_chars = set(), 0
        for ln in s.lines:
            if ln in seen and len(ln) > 1:
                dup_chars += len(ln)
            seen.add(ln)
        statement = [ln.endswith(SENTENCE_ENDS) or (len(ln) >= 4 and not CLAUSE_PARTICLES.isdisjoint(ln))
                     or bool(CHRONOLOGY_LINE.match(ln)) for ln in s.lines]
        ends = sum(statement)
        bullets = sum(bool(BULLET.match(ln)) for ln in s.lines)
        # a menu item is short and says nothing; a forum post's short line (你們會這樣嗎, 就剛剛) is a clause
        short = sum(len(ln) <= 8 and not st for ln, st in zip(s.lines, statement))
        has_prose = any(st and len(ln) >= c.menu_prose_line_chars for ln, st in zip(s.lines, statement))
        nonspace = max(s.nonspace, 1)
        return [
            # a link dump, or a caption with its links whose text alone is too short: counted apart from short text
            ("link_heavy", s.url_chars > 0 and (s.chars < c.link_caption_min_chars or s.url_chars / (s.url_chars + nonspace) > c.max_link_ratio)),
            ("too_short", s.chars < min_chars),
            ("low_cjk_ratio", s.cjk / max(nonspace - s.latin_letters + s.latin_words, 1) < c.min_cjk_ratio),
            ("too_many_symbols", s.symbols / nonspace > c.max_symbol_ratio),
            ("too_much_punctuation", s.punctuation / nonspace > c.max_punctuation_ratio),
            # lines that neither end like sentences nor are long enough to be prose: menus, tag clouds, link lists
            ("few_sentence_ends", n_lines >= 5 and ends / n_lines < c.min_sentence_end_ratio and line_chars / n_lines < c.prose_line_chars),
            ("duplicate_lines", dup_chars / line_chars > c.max_duplicate_line_ratio),
            ("repetitive_ngrams", s.top_ngram_chars / nonspace > c.max_top_ngram_ratio),
            ("bullet_list", n_lines >= 5 and bullets / n_lines > c.max_bullet_line_ratio),
            ("navigation_menu", n_lines >= 10 and short / n_lines > c.max_short_line_ratio and not has_prose),
            ("mojibake", s.mojibake / max(s.chars, 1) > c.max_mojibake_ratio),
        ]

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if self._table is None:
            self._table = _class_table()
        results = self.checks(TextStats.of(doc.text, self._table), self.min_chars(doc))
        reasons = [name for name, failed in results if failed]
        ann = annotations(doc)
        ann["quality"] = "low" if reasons else "ok"
        ann["quality_reasons"] = reasons
        ann["quality_score"] = round(1 - len(reasons) / len(results), 3)
        return (False, reasons[0]) if reasons else True
