"""Toxic language, judged line by line: a fastText classifier (shipped, trained on labeled Chinese data) and a reviewed
lexicon that explains and, for slurs and insults, corroborates it."""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from pathlib import Path

from datatrove.data import Document

from filters.base import CurationFilter, annotations
from filters.config import ToxicityConfig
from filters.lexicon import Lexicon
from filters.segments import remove_lines
from filters.textclassifier import classifier_models, load_classifier

DATA = Path(__file__).parent / "data"


class ToxicityFilter(CurationFilter):
    """Scores every segment (line: a push, a chat message, a paragraph) of a document, because toxic text in a corpus
    lives inside longer documents (one hateful push in a thread) and a whole-document score averages it away.

    A segment is toxic when the classifier alone is confident (p >= `classifier_alone`), or when it is above the card's
    threshold (or `threshold`) and the segment holds a word aimed at someone (`corroborating_categories`: insults,
    slurs) of weight >= `corroborating_weight`, or when it holds such words of weight >= `segment_lexicon_weight` on its own
    (你這個智障腦殘，去死啦: the lexicon as a high-precision layer). Mild profanity (靠北, 他媽的: `mild_categories`) is how zh-TW forums
    talk: a segment whose only lexicon hits are such words is tagged (`profanity`), never removed for them.
    Then the document: if toxic segments hold at least `drop_share` of its characters (a short comment, a rant) it is
    dropped (`toxic_classifier`); otherwise those segments are removed as segment edits (`toxic_segment`) and the rest
    is kept, so a thread is not lost for one bad push. Lexicon hits spread over the other segments, dense enough on
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
        starts, pos = [], 0
        for line in lines:
            starts.append(pos)
            pos += len(line) + 1
        hits = self.lexicon.spans(text)
        directed = [0.0] * len(lines)
        weights = [0.0] * len(lines)
        categories: Counter = Counter()
        for start, _, category, weight in hits:
            categories[category] += 1
            line = bisect_right(starts, start) - 1
            weights[line] += weight
            if category in c.corroborating_categories:
                directed[line] += weight
        probs = self.classifier.segment_probabilities(lines, c.segment_min_han) if self.classifier else [None] * len(lines)
        by_model = {i for i, p in enumerate(probs) if p is not None and (
            p >= c.classifier_alone or (p >= self.threshold and directed[i] >= c.corroborating_weight))}
        toxic = sorted(by_model | {i for i, w in enumerate(directed) if w >= c.segment_lexicon_weight})
        scored = [p for p in probs if p is not None]
        # what the segments left: hits spread thinly over many lines still make a rant (texts under 200 characters count as 200)
        rest = set(range(len(lines))) - set(toxic)
        density = sum(weights[i] for i in rest) * 1000 / max(sum(len(lines[i]) for i in rest), 200)
        ann = annotations(doc)
        ann["toxicity_score"] = round(max(scored) if scored else min(1.0, density / c.lexicon_hits_per_1k), 4)
        ann["toxicity_hits"] = dict(categories)
        mild = any(cat in c.mild_categories for cat in categories)
        ann["profanity"] = mild
        toxic_chars = sum(len(lines[i]) for i in toxic)
        if density >= c.lexicon_hits_per_1k:
            ann["toxic"], ann["toxic_segments"] = True, len(toxic)
            return False, "toxic_lexicon"
        if toxic and toxic_chars >= c.drop_share * max(len(text) - len(lines) + 1, 1):
            ann["toxic"], ann["toxic_segments"] = True, len(toxic)
            return False, "toxic_classifier" if by_model else "toxic_lexicon"
        ann["toxic"], ann["toxic_segments"] = bool(toxic), len(toxic)
        if toxic:
            remove_lines(doc, dict.fromkeys(toxic, "toxic_segment"), self, self.name)
        elif mild:
            self.stat_update("tagged_profanity", f"source:{doc.metadata.get('source', 'unknown')}/tagged_profanity")
        return True
