"""Text normalization: the first step after reading, so every filter sees the same clean text."""

from __future__ import annotations

import re

import ftfy
from datatrove.data import Document

from filters.base import CurationFilter
from filters.config import NormalizeConfig

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# C0/C1 controls except tab and newline, plus zero-width and BOM characters
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u200e\u200f\u2028\u2029\ufeff]")
SPACES = re.compile(r"[ \t\u00a0]+")
BLANK_LINES = re.compile(r"\n{3,}")
# ftfy without its width and quote fixes: full-width CJK punctuation (，。！？（）「」) and “” must survive
FTFY_CONFIG = ftfy.TextFixerConfig(uncurl_quotes=False, fix_character_width=False, fix_latin_ligatures=False,
                                   normalization="NFC", explain=False)


# UTF-8 read as Latin-1/cp1252 always leaves characters of U+0080..U+00FF (or cp1252's €‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ)
# behind; text without any of them has nothing for ftfy to repair, which is most Chinese text
MOJIBAKE_HINT = re.compile("[\u0080-\u00ff\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013\u2014\u2018-\u201e"
                           "\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122\ufffd]")


def normalize_text(text: str, fix_mojibake: bool = True) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x1b" in text:
        text = ANSI_ESCAPE.sub("", text)
    if fix_mojibake and MOJIBAKE_HINT.search(text):
        text = ftfy.fix_text(text, config=FTFY_CONFIG)
    text = CONTROL.sub("", text)
    lines = [SPACES.sub(" ", ln).strip(" ") for ln in text.split("\n")]
    return BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


class TextNormalizer(CurationFilter):
    """Repairs mojibake (ftfy), removes control characters and ANSI colour codes, unifies line ends and
    collapses runs of spaces and blank lines. No NFKC: it would turn full-width CJK punctuation into ASCII.
    Drops a document only when it is shorter than `min_chars` afterwards (reason `too_short`).
    """

    name = "normalize"

    def __init__(self, config: NormalizeConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        doc.text = normalize_text(doc.text, self.config.fix_mojibake)
        if len(doc.text) < max(self.config.min_chars, 1):
            return False, "too_short"
        return True
