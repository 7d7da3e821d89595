"""Weighted term lexicons from reviewed TSV files, matched with Aho-Corasick in Traditional and Simplified."""

from __future__ import annotations

from collections import Counter
from functools import cached_property
from pathlib import Path

import ahocorasick_rs


class Lexicon:
    """`term<TAB>category<TAB>weight` lines (`#` comments). Each term also matches in its OpenCC t2s form;
    matching is case-insensitive for Latin letters."""

    def __init__(self, *paths: str | Path):
        self.paths = [Path(p) for p in paths]
        self._last: tuple[str, list] | None = None  # (text, its matches): see `_find`

    @cached_property
    def _table(self) -> tuple[ahocorasick_rs.AhoCorasick, list[tuple[str, float]]]:
        from filters.shared import load_once

        return load_once("lexicon", self.paths, lambda: _automaton(self.paths))

    def _find(self, text: str) -> list[tuple[int, int, int]]:
        """(term index, start, end) of every non-overlapping match. The last text's matches are kept: a step asks
        about the same text more than once (spam scores a document, then looks for the lines that hold its terms),
        and the answer for a text never changes."""
        last = self._last
        if last is not None and last[0] == text:
            return last[1]
        automaton, _ = self._table
        found = automaton.find_matches_as_indexes(text.lower())
        self._last = (text, found)
        return found

    def matches(self, text: str) -> list[tuple[str, float]]:
        """(category, weight) of every non-overlapping match."""
        _, info = self._table
        return [info[m[0]] for m in self._find(text)]

    def spans(self, text: str) -> list[tuple[int, int, str, float]]:
        """(start, end, category, weight) of every non-overlapping match, so a step can say which line holds it."""
        _, info = self._table
        return [(start, end, *info[i]) for i, start, end in self._find(text)]

    def score(self, text: str, distinct: bool = False) -> tuple[float, Counter]:
        """(sum of weights, matches per category); with `distinct`, each term counts once, so a news report
        that repeats one word scores lower than an ad that lists many."""
        _, info = self._table
        found = [m[0] for m in self._find(text)]
        if distinct:
            found = list(dict.fromkeys(found))
        return sum(info[i][1] for i in found), Counter(info[i][0] for i in found)


def _automaton(files: list[Path]) -> tuple[ahocorasick_rs.AhoCorasick, list[tuple[str, float]]]:
    import opencc

    t2s = opencc.OpenCC("t2s")
    entries: dict[str, tuple[str, float]] = {}
    for path in files:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            term, category, weight = (line.split("\t") + ["", "1"])[:3]
            for form in {term.lower(), t2s.convert(term).lower()}:
                entries[form] = (category, float(weight))
    terms = list(entries)
    return ahocorasick_rs.AhoCorasick(terms, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest), [entries[t] for t in terms]
