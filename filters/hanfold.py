"""Han characters as code points, counted, and folded to Simplified: the text features the fastText classifiers
(filters/textclassifier.py), the hashed n-gram models (filters/ngrammodel.py) and decontamination share."""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np


@lru_cache(maxsize=1)
def traditional_to_simplified() -> dict[int, str]:
    """Character-level OpenCC t2s table. Folding every Han character to one script makes a zh-TW document score like
    the Simplified text the labeled sets hold; character level (not phrases) keeps it a table lookup."""
    import opencc

    chars = [chr(c) for c in range(0x3400, 0xA000)] + [chr(c) for c in range(0xF900, 0xFB00)]
    folded = opencc.OpenCC("t2s").convert("\n".join(chars)).split("\n")
    return {ord(a): b for a, b in zip(chars, folded) if len(b) == 1 and a != b}


def code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def han_in(codes) -> int:
    """Han code points (U+3400-U+9FFF, U+F900-U+FAFF) among `codes`; unsigned wrap-around: one comparison per range."""
    return int(np.count_nonzero((codes - np.uint32(0x3400)) <= np.uint32(0x9FFF - 0x3400))
               + np.count_nonzero((codes - np.uint32(0xF900)) <= np.uint32(0xFAFF - 0xF900)))


HAN_CHARS = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")


def han_count(text: str) -> int:
    """Han characters in `text`: on code points at once for a long text, by one regex pass for a short one (a push, a
    line), where building an array costs more than the count."""
    if len(text) < 512:
        return len(text) - len(HAN_CHARS.sub("", text))
    return han_in(code_points(text))
