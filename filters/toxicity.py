"""Toxic language, judged line by line: a fastText classifier (shipped, trained on labeled Chinese data) and a reviewed
lexicon that explains and, for slurs and insults, corroborates it."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from pathlib import Path

from datatrove.data import Document

from filters.base import CurationFilter, StatName, annotations, count_for_source
from filters.config import ToxicityConfig
from filters.hanfold import han_count
from filters.lexicon import Lexicon
from filters.patterns import QUOTED
from filters.segments import line_index, remove_lines
from filters.textclassifier import classifier_models, load_classifier

DATA = Path(__file__).parent / "data"


class ToxicityFilter(CurationFilter):
    """Scores every segment (a push, or a paragraph: the lines between blank lines; `segment_units`) of a document, because toxic text in a corpus
    lives inside longer documents (one hateful push in a thread) and a whole-document score averages it away.

    A segment is toxic when the classifier alone is confident (p >= `classifier_alone` when the segment is the whole
    document, `segment_alone` for one segment among several), or when it is above the card's
    threshold (or `threshold`) and the segment holds a word aimed at someone (`corroborating_categories`: insults,
    slurs, threats) of weight >= `corroborating_weight`, or when it holds such words of weight >= `segment_lexicon_weight`
    on its own (你這個智障腦殘，去死啦: the lexicon as a high-precision layer), or >= `comment_lexicon_weight` when the
    document is a short comment (低能兒, 殺你全家). A word inside quotation marks is mentioned, not aimed: it does not count. Mild profanity (靠北, 他媽的: `mild_categories`) is how zh-TW forums
    talk: a segment whose only lexicon hits are such words is tagged (`profanity`), never removed for them.
    Then the document: if toxic segments hold at least `drop_share` of its characters (a short comment, a rant) it is
    dropped (`toxic_classifier`); otherwise those segments are segment edits (`toxic_segment`: tagged by default, removed
    with `edit_actions: {toxic_segment: remove}`) and the rest is kept, so a thread is not lost for one bad push. Lexicon hits spread over the other segments, dense enough on
    their own (`lexicon_hits_per_1k`), drop the document as `toxic_lexicon`.
    Annotates `toxic` (dropped or edited for toxicity), `toxicity_score` (the highest segment probability, or the scaled
    lexicon density without a classifier), `toxicity_hits` (lexicon hits by category), `toxic_segments`, `profanity`."""

    name = "toxicity"

    def __init__(self, config: ToxicityConfig, lexicon_path: Path | None = None, model_path: Path | None = None, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.lexicon = Lexicon(DATA / "toxicity_lexicon.tsv", *([lexicon_path] if lexicon_path else []))
        self.classifier = load_classifier("toxicity", config.classifier, model_path)
        self.threshold = config.threshold or (self.classifier.card.threshold if self.classifier else 1.0)

    def models(self):
        return classifier_models(self.classifier, self.config.model_path)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        c = self.config
        if doc.metadata.get("kind") in c.skip_kinds:
            return True
        text = doc.text
        lines = text.split("\n")
        units = segment_units(lines)
        unit_of = {i: u for u, members in enumerate(units) for i in members}
        line_of = line_index(lines)
        directed = [0.0] * len(units)
        weights = [0.0] * len(units)
        categories: Counter = Counter()
        quoted = [m.span() for m in QUOTED.finditer(text)] if any(q in text for q in "「『“") else []
        quote_starts = [a for a, _ in quoted]  # quotes do not overlap: the one a word may sit in is the last to start before it
        for start, _, category, weight in self.lexicon.spans(text):
            categories[category] += 1
            u = unit_of.get(line_of(start))
            if u is None:
                continue
            weights[u] += weight
            # a word in quotation marks is mentioned (a post about a slur, a report of abuse), not thrown at someone
            q = bisect_right(quote_starts, start) - 1
            if category in c.corroborating_categories and not (q >= 0 and start < quoted[q][1]):
                directed[u] += weight
        unit_texts = ["\n".join(lines[i] for i in members) for members in units]
        probs: list[float | None] = [None] * len(units)
        if self.classifier is not None:
            if len(units) == 1:  # the document's own chunks: features shared with the spam step (cached)
                probs = [self.classifier.score(text) if han_count(text) >= c.segment_min_han else None]
            elif max((p for _, p in self.classifier.chunk_probabilities(text)), default=0.0) >= c.segment_gate or any(directed):
                # segments are scored one by one only where a chunk of the document looks toxic at all
                probs = self.classifier.segment_probabilities(unit_texts, c.segment_min_han)
        # one segment is the whole document (a comment, a message): the document-level bar; inside a longer document a
        # segment is removed only on stronger evidence, since most of its neighbours are ordinary
        alone = c.classifier_alone if len(units) == 1 else c.segment_alone
        by_model = {u for u, p in enumerate(probs) if p is not None and (
            p >= alone or (p >= self.threshold and directed[u] >= c.corroborating_weight))}
        # a short comment is one remark to someone: one strong insult, slur or threat in it is the point of it, where a
        # segment of a longer text needs more (a post may quote or discuss a slur)
        word_alone = c.comment_lexicon_weight if len(units) == 1 and len(text) <= c.comment_max_chars else c.segment_lexicon_weight
        toxic = sorted(by_model | {u for u, w in enumerate(directed) if w >= word_alone})
        scored = [p for p in probs if p is not None]
        # what the toxic segments left: hits spread thinly over the rest still make a rant (under 200 characters count as 200)
        rest = set(range(len(units))) - set(toxic)
        density = sum(weights[u] for u in rest) * 1000 / max(sum(len(unit_texts[u]) for u in rest), 200)
        ann = annotations(doc)
        ann["toxicity_score"] = round(max(scored) if scored else min(1.0, density / c.lexicon_hits_per_1k), 4)
        ann["toxicity_hits"] = dict(categories)
        mild = any(cat in c.mild_categories for cat in categories)
        ann["profanity"] = mild
        toxic_chars = sum(len(unit_texts[u]) for u in toxic)
        ann["toxic"], ann["toxic_segments"] = bool(toxic) or density >= c.lexicon_hits_per_1k, len(toxic)
        if density >= c.lexicon_hits_per_1k:
            return False, "toxic_lexicon"
        if toxic and toxic_chars >= c.drop_share * max(sum(map(len, unit_texts)), 1):
            return False, "toxic_classifier" if by_model else "toxic_lexicon"
        if toxic:
            remove_lines(doc, {i: "toxic_segment" for u in toxic for i in units[u]}, self, self.name)
        elif mild:
            count_for_source(self, StatName("tagged", "profanity"), doc.metadata.get("source", "unknown"))
        return True


# a PTT push (推 user: ..., 噓, →): one comment, one segment
PUSH = re.compile(r"^\s*(?:推|噓|→)\s*[^\s:：]+\s*[:：]")


def segment_units(lines: list[str]) -> list[list[int]]:
    """The segments a document is judged in, as lists of line indices: each push on its own, and prose as paragraphs
    (runs of lines between blank lines). Forum posts wrap a sentence over several lines; judged line by line, a clause
    such as 她喃喃自語， is too little text for the model and its false alarms multiply."""
    units: list[list[int]] = []
    current: list[int] = []
    for i, line in enumerate(lines):
        if not line.strip():
            if current:
                units.append(current)
                current = []
        elif PUSH.match(line):
            if current:
                units.append(current)
                current = []
            units.append([i])
        else:
            current.append(i)
    if current:
        units.append(current)
    return units
