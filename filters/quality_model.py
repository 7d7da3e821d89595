"""A trained quality classifier as a pipeline step (FineWeb-Edu / DCLM style): LLM-rated or reference-vs-noise text
distilled into a fastText model that scores every document."""

from __future__ import annotations

from pathlib import Path

from datatrove.data import Document

from filters.base import CurationFilter, annotations
from filters.config import QualityModelConfig
from filters.textclassifier import TextClassifier, classifier_models


class QualityModelScore(CurationFilter):
    """Annotates `quality_model_score`: the model's probability that the document is the kind of text its positive
    label names (LLM score >= 3, or the reference sources of a DCLM-style recipe), from the first `max_chars`
    characters. With `drop`, documents below `threshold` (the card's, chosen on the labels' dev part, unless set) are
    dropped as `below_quality_model`; without it nothing is dropped and the score serves `curate stats`, the report,
    dedup's survivor choice (`survivor_score`) and mixtures. Documents with too little Han text to judge score 0 and
    are never dropped by this step (language and quality rules decide those)."""

    name = "quality_model"

    def __init__(self, config: QualityModelConfig, model_path: Path, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        path = Path(model_path)
        self.model_path = path if path.suffix == ".json" else path.with_suffix(".json")  # the card beside the model
        self._classifier: TextClassifier | None = None

    @property
    def classifier(self) -> TextClassifier:
        if self._classifier is None:  # loaded in the task, not pickled with the step
            self._classifier = TextClassifier(self.model_path)
        return self._classifier

    @property
    def threshold(self) -> float:
        return self.config.threshold or self.classifier.card.threshold

    def models(self):
        return classifier_models(self.classifier, self.config.model_path)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        score = self.classifier.score(doc.text[: self.config.max_chars])
        annotations(doc)["quality_model_score"] = round(score, 4) if score is not None else 0.0
        if self.config.drop and score is not None and score < self.threshold:
            return False, "below_quality_model"
        return True
