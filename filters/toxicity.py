"""Toxic language: a fastText classifier (shipped, trained on labeled Chinese data) plus a reviewed lexicon layer."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from datatrove.data import Document

from filters.base import CurationFilter, annotations
from filters.config import ToxicityConfig
from filters.lexicon import Lexicon
from filters.textclassifier import classifier_models, load_classifier

DATA = Path(__file__).parent / "data"


class ToxicityFilter(CurationFilter):
    """Drops toxic documents. Two layers:
    - classifier: the fastText model (shipped filters/models/toxicity.json, trained on COLD + SWSR, or `model_path`)
      scores the document (text folded to one script first, so zh-TW scores like the Simplified training data). It drops
      a document as `toxic_classifier` at `classifier_alone` (0.99) on its own, or at the card's threshold (or
      `threshold`) when the lexicon corroborates: words aimed at someone (`corroborating_categories`: insults,
      slurs) of summed weight >= `corroborating_weight` (one 腦殘, not one 白痴). On real forum text the model alone
      flags political rants that hold no insult, and with any hit it flagged posts whose only "hit" was 靠北 or a
      news report of 比中指: profanity is how zh-TW forums talk, not what makes text abusive.
    - lexicon (filters/data/toxicity_lexicon.tsv plus `lexicon`): high-precision terms. Weighted hits per 1,000
      characters at or above `lexicon_hits_per_1k` drop a document on their own (`toxic_lexicon`); below that they are
      the explanation shown in `toxicity_hits`. One 白痴 in a forum post is the classifier's call, not the lexicon's.
    Annotates `toxic`, `toxicity_score` (the classifier probability, or the lexicon density scaled to 0..1 without a
    classifier) and `toxicity_hits`."""

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
        found = self.lexicon.matches(doc.text)  # one scan: total weight, hits per category, directed weight
        weight, categories = sum(w for _, w in found), Counter(c for c, _ in found)
        density = weight * 1000 / max(len(doc.text), 200)  # texts under 200 characters count as 200
        lexicon_toxic = density >= self.config.lexicon_hits_per_1k
        prob = self.classifier.probability(doc.text) if self.classifier else None
        ann = annotations(doc)
        ann["toxicity_score"] = round(prob if prob is not None else min(1.0, density / self.config.lexicon_hits_per_1k), 4)
        ann["toxicity_hits"] = dict(categories)
        directed = sum(w for c, w in found if c in self.config.corroborating_categories)
        corroborated = weight > 0 and directed >= self.config.corroborating_weight
        classifier_toxic = prob is not None and (prob >= self.config.classifier_alone or (prob >= self.threshold and corroborated))
        ann["toxic"] = lexicon_toxic or classifier_toxic
        if lexicon_toxic:
            return False, "toxic_lexicon"
        if classifier_toxic:
            return False, "toxic_classifier"
        return True
