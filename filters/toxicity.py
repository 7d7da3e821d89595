"""Toxic language: a reviewed lexicon layer plus, when configured, a fastText classifier."""

from __future__ import annotations

from pathlib import Path

from datatrove.data import Document

from curation.config import ToxicityConfig
from filters.base import CurationFilter, annotations
from filters.lexicon import Lexicon

DATA = Path(__file__).parent / "data"


def classifier_tokens(text: str) -> str:
    """fastText splits on spaces; Chinese has none, so CJK characters become tokens of their own and the
    model's word n-grams act as character n-grams. Newlines become spaces (one line per prediction)."""
    out = []
    for ch in text:
        if "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff":
            out.append(f" {ch} ")
        elif ch in "\n\r\t":
            out.append(" ")
        else:
            out.append(ch.lower())
    return " ".join("".join(out).split())


class ToxicityFilter(CurationFilter):
    """Drops toxic documents. Lexicon layer (filters/data/toxicity_lexicon.tsv plus `lexicon`): weighted hits per
    1,000 characters at or above `lexicon_hits_per_1k` (reason `toxic_lexicon`). Classifier layer, when
    `model_path` names a fastText model from `curate train-classifier`: probability of `positive_label` at or
    above `threshold` (reason `toxic_classifier`). Annotates `toxic`, `toxicity_score` (the larger of the
    classifier probability and the lexicon density scaled to the threshold) and `toxicity_hits`."""

    name = "toxicity"

    def __init__(self, config: ToxicityConfig, lexicon_path: Path | None = None, model_path: Path | None = None, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.lexicon = Lexicon(DATA / "toxicity_lexicon.tsv", *([lexicon_path] if lexicon_path else []))
        self.model_path = str(model_path) if model_path else None
        self._model = None

    def classifier_probability(self, text: str) -> float | None:
        if self.model_path is None:
            return None
        if self._model is None:
            import fasttext

            fasttext.FastText.eprint = lambda *_: None
            self._model = fasttext.load_model(self.model_path)
        labels, probs = self._model.predict(classifier_tokens(text[:5000]), k=-1)
        scores = {label.removeprefix("__label__"): float(p) for label, p in zip(labels, probs)}
        return min(scores.get(self.config.positive_label, 0.0), 1.0)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        weight, categories = self.lexicon.score(doc.text)
        density = weight * 1000 / max(len(doc.text), 200)  # texts under 200 characters count as 200
        lexicon_toxic = density >= self.config.lexicon_hits_per_1k
        prob = self.classifier_probability(doc.text)
        ann = annotations(doc)
        lexicon_score = min(1.0, density / self.config.lexicon_hits_per_1k * 0.5)
        ann["toxicity_score"] = round(max(lexicon_score, prob or 0.0), 4)
        ann["toxicity_hits"] = dict(categories)
        ann["toxic"] = lexicon_toxic or (prob is not None and prob >= self.config.threshold)
        if lexicon_toxic:
            return False, "toxic_lexicon"
        if ann["toxic"]:
            return False, "toxic_classifier"
        return True
