"""Text classifiers for the spam, toxicity and quality-model steps: the features both training and scoring use, and
the model card that travels with each model (threshold, labels, what it was trained on). Models are fastText (spam,
toxicity) or a hashed character n-gram logistic model (filters/ngrammodel.py, the quality model's fast option)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import orjson

from filters.base import StepModel
from filters.hanfold import han_count, traditional_to_simplified
from filters.ngrammodel import NGRAM_FEATURES_VERSION, HashedNgramModel, NgramParams

MODELS = Path(__file__).parent / "models"
FEATURES_VERSION = "cjk-char+t2s+num/1"

CJK = re.compile(r"([\u3400-\u9fff\uf900-\ufaff])")
# A run of digits, or of x standing for digits (the SMS spam set replaced every digit of its spam rows with x; a model
# that learns "contains x" learns the data set, not spam). Both become one length-bucketed number token. An x inside a
# Latin word (box, vx) is a letter and stays.
# (The lookahead names the first characters, so the engine skips other positions at once: half the cost.)
NUMBER = re.compile(r"(?=[0-9０-９xX])(?<![A-Za-z0-9])(?:[0-9０-９]|[xX](?![a-wyzA-WYZ]))+(?:[.,:/-][0-9xX]+)*")


BMP = 0x10000


@lru_cache(maxsize=1)
def _fold_and_space() -> list[int | str]:
    """The `str.translate` table of `features`: every Han character -> itself folded to Simplified, with a space on
    each side, so one pass both folds the script and makes each Han character a token; every other code point of the
    Basic Multilingual Plane -> itself. A list indexed by code point (above it the lookup fails, which `translate`
    reads as "unchanged", as a dict without the key): the same output as the dict of Han characters it replaced, at a
    third of the cost, because no lookup of a character outside the table raises and catches a KeyError."""
    t2s = traditional_to_simplified()
    table: list[int | str] = list(range(BMP))
    for lo, hi in ((0x3400, 0xA000), (0xF900, 0xFB00)):
        for c in range(lo, hi):
            d = t2s.get(c, chr(c))
            # a few characters fold to one outside these ranges (an Extension E form), which is not a token of its own
            table[c] = f" {d} " if CJK.fullmatch(d) else ord(d)
    return table


def _number_token(m: re.Match) -> str:
    n = sum(ch.isalnum() for ch in m.group())
    return f" <num{1 if n == 1 else 2 if n == 2 else 4 if n <= 4 else 8 if n <= 8 else 16}> "


MAY_HOLD_NUMBER = re.compile(r"[0-9０-９xX]")


def features(text: str) -> str:
    """One line of fastText input: Han folded to Simplified, lower-cased, numbers as `<numN>` (N = length bucket),
    every Han character a token of its own, so fastText's word n-grams act as character n-grams. (Numbers are
    replaced before the Han characters are spaced out, on a text half as long: NUMBER never matches Han, and a Han
    character reads the same to its look-arounds as the space that takes its place. Lower-casing first is the same
    too: Han characters and spaces are neither cased nor case-ignorable, so no letter's case depends on them.)"""
    text = text.lower()
    if MAY_HOLD_NUMBER.search(text):
        text = NUMBER.sub(_number_token, text)
    return " ".join(text.translate(_fold_and_space()).split())




def chunks(text: str, size: int) -> list[str]:
    """Paragraph-aligned pieces of about `size` characters. The labeled sets are comments and messages; a long
    document is scored piece by piece so a 5,000-character article is judged on text shaped like the training data."""
    out, cur = [], ""
    for para in text.split("\n"):
        para = para.strip()
        if len(para) > size:  # cut by offsets: slicing the rest off again and again is quadratic in the length
            cut = len(para) - len(para) % size if len(para) % size else len(para) - size
            out += [para[i:i + size] for i in range(0, cut, size)]
            para = para[cut:]
        if cur and len(cur) + len(para) > size:
            out.append(cur)
            cur = ""
        cur = f"{cur}\n{para}" if cur else para
    if cur.strip():
        out.append(cur)
    return out or [""]


@lru_cache(maxsize=8)
def scored_chunks(text: str, size: int) -> tuple[tuple[int, str], ...]:
    """(Han characters, `features`) of each chunk of `text` worth scoring. The models learned from Chinese and cannot
    judge other text, so a chunk weighs by its Han characters, and one that is not mostly Han (an English paragraph
    quoting a Chinese term) is not scored. Cached: the spam, toxicity and region models all read the same document's
    chunks, and a step's document is the next step's (the text object is the key)."""
    out = []
    for piece in chunks(text, size):
        n = han_count(piece)
        if n >= 0.3 * max(len("".join(piece.split())), 1):
            out.append((n, features(piece)))
    return tuple(out)


@dataclass
class ModelCard:
    """What travels with a model (`<name>.json` beside the model file): the positive label, the threshold chosen on
    dev data, the feature version it expects, and the recipe, data sets and measured numbers behind it."""

    name: str
    model_file: str
    positive_label: str
    threshold: float
    features: str = FEATURES_VERSION
    chunk_chars: int = 300
    trained_on: list[dict] = field(default_factory=list)
    license: str = ""
    recipe: str = ""
    sha256: str = ""
    metrics: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)  # hashed n-gram models: bits, orders, max_chars

    @classmethod
    def load(cls, path: Path) -> ModelCard:
        data = orjson.loads(path.read_bytes())
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def dump(self, path: Path) -> None:
        path.write_bytes(orjson.dumps(self.__dict__, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")


def shipped_card(name: str) -> Path | None:
    """The card of the model shipped in the package (filters/models/<name>.json), or None when it is not installed."""
    path = MODELS / f"{name}.json"
    return path if path.is_file() and (MODELS / ModelCard.load(path).model_file).is_file() else None


class TextClassifier:
    """A model and its card. `probability(text)` is the positive label's probability for a document. fastText models:
    the mean over its chunks weighted by their Han characters, so one flagged sentence in a long article does not
    condemn the article, while a document that is an ad or a rant throughout scores as its pieces do. Hashed n-gram
    models: one score of the document's first `max_chars` characters."""

    def __init__(self, card_path: Path):
        self.card_path = Path(card_path)
        self.card = ModelCard.load(self.card_path)
        if self.card.features not in (FEATURES_VERSION, NGRAM_FEATURES_VERSION):
            raise ValueError(f"{self.card_path}: model expects features {self.card.features!r}, this twcurate makes "
                             f"{FEATURES_VERSION!r} or {NGRAM_FEATURES_VERSION!r}; retrain it with `curate train-classifier`")
        self.hashed = self.card.features == NGRAM_FEATURES_VERSION
        self.model_path = self.card_path.parent / self.card.model_file
        self._model = None

    @property
    def model(self):
        if self._model is None and self.hashed:
            params = NgramParams(**{**self.card.params, "orders": tuple(self.card.params.get("orders", (1, 2, 3)))})
            self._model = HashedNgramModel.load(self.model_path, params)
        if self._model is None:
            from filters.shared import fasttext_model

            self._model = fasttext_model(self.model_path)
        return self._model

    def chunk_probabilities(self, text: str) -> list[tuple[int, float]]:
        """(Han characters, probability) per chunk of `scored_chunks`."""
        pieces = scored_chunks(text, self.card.chunk_chars)
        if not pieces:
            return []
        labels, probs = self.model.predict([f for _, f in pieces], k=-1)
        target = "__label__" + self.card.positive_label
        out = []
        for (n, _), ls, ps in zip(pieces, labels, probs):
            p = next((float(pr) for lb, pr in zip(ls, ps) if lb == target), 0.0)
            out.append((n, min(p, 1.0)))
        return out

    def segment_probabilities(self, segments: list[str], min_han: int) -> list[float | None]:
        """The positive label's probability for each segment (a line, a push, a paragraph), None for one with fewer
        than `min_han` Han characters or not mostly Han. All segments go to the model in one call; a segment longer
        than the card's chunk size is the Han-weighted mean of its chunks, as a document is."""
        pieces, owner = [], []
        for i, seg in enumerate(segments):
            if han_count(seg) < min_han:
                continue
            for n, f in scored_chunks(seg, self.card.chunk_chars):
                pieces.append((n, f))
                owner.append(i)
        out: list[float | None] = [None] * len(segments)
        if not pieces:
            return out
        labels, probs = self.model.predict([f for _, f in pieces], k=-1)
        target = "__label__" + self.card.positive_label
        sums: dict[int, list[float]] = {}
        for i, (n, _), ls, ps in zip(owner, pieces, labels, probs):
            p = min(next((float(pr) for lb, pr in zip(ls, ps) if lb == target), 0.0), 1.0)
            acc = sums.setdefault(i, [0.0, 0.0])
            acc[0] += n * p
            acc[1] += n
        for i, (weighted, n) in sums.items():
            out[i] = weighted / n
        return out

    def score(self, text: str) -> float | None:
        """The positive label's probability, or None when the text holds too little Han to judge (under 30% of its
        non-space characters): the models learned from Chinese."""
        if self.hashed:
            return self.model.score(text, min_han_share=0.3)
        scored = self.chunk_probabilities(text)
        return sum(n * p for n, p in scored) / sum(n for n, _ in scored) if scored else None

    def probability(self, text: str) -> float:
        score = self.score(text)
        return 0.0 if score is None else score


def classifier_models(classifier: TextClassifier | None, configured: str | None) -> list[StepModel]:
    """The step's model, if it has one: as configured, or by its place in this package when shipped."""
    if classifier is None:
        return []
    origin = configured or f"twcurate:{classifier.model_path.relative_to(MODELS.parent.parent).as_posix()}"
    return [StepModel(classifier.card.name, classifier.model_path, origin, classifier.card.threshold)]


def load_classifier(name: str, enabled: bool, model_path: str | Path | None) -> TextClassifier | None:
    """The classifier a step uses: the model at `model_path` (its card `.json`, or the model file with the card beside
    it), else the one shipped as filters/models/<name>.json. A configured path that does not exist is an error; a
    shipped model that is not installed means the lexicon layer works alone, with a warning, so a stripped-down
    install still runs."""
    if not enabled:
        return None
    if model_path is not None:
        path = Path(model_path)
        card = path if path.suffix == ".json" else path.with_suffix(".json")
        if not card.is_file():
            raise FileNotFoundError(f"{name} classifier: {card} not found (give the model card .json that "
                                    f"`curate train-classifier` writes beside the model)")
        return TextClassifier(card)
    card = shipped_card(name)
    if card is None:
        from datatrove.utils.logging import logger

        logger.warning(f"{name}: no shipped classifier in {MODELS}; the lexicon layer works alone")
        return None
    return TextClassifier(card)
