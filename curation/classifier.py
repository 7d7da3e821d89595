"""`curate train-classifier`: a fastText supervised classifier (toxicity, spam, ...) from labeled JSONL."""

from __future__ import annotations

import hashlib
import random
import tempfile
from pathlib import Path

import orjson

from curation.errors import CurateError
from filters.toxicity import classifier_tokens


def load_labeled(path: Path, text_field: str, label_field: str) -> list[tuple[str, str]]:
    rows = []
    for n, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            raise CurateError(f"{path}:{n}: malformed JSON: {e}") from None
        text, label = rec.get(text_field), rec.get(label_field)
        if not isinstance(text, str) or label in (None, ""):
            raise CurateError(f"{path}:{n}: needs a string {text_field!r} and a {label_field!r}")
        rows.append((text, str(label).replace(" ", "_")))
    if len({label for _, label in rows}) < 2:
        raise CurateError(f"{path}: needs at least two labels, found {sorted({label for _, label in rows})}")
    return rows


def split(rows: list[tuple[str, str]], holdout: float, seed: int) -> tuple[list, list]:
    """Deterministic held-out split by hash of the text, so the same file always splits the same way."""
    train, test = [], []
    for row in rows:
        h = int(hashlib.sha256(f"{seed}:{row[0]}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        (test if h < holdout else train).append(row)
    return train, test


def train(path: Path, output: Path, text_field: str = "text", label_field: str = "label", positive: str = "toxic",
          holdout: float = 0.2, seed: int = 0, epochs: int = 25) -> dict:
    """Train, evaluate on the held-out split, save; returns precision/recall/F1 of `positive` and counts."""
    import fasttext

    rows = load_labeled(path, text_field, label_field)
    train_rows, test_rows = split(rows, holdout, seed)
    if not train_rows or not test_rows:
        raise CurateError(f"{path}: too few records for a {holdout:.0%} held-out split ({len(rows)} records)")
    random.Random(seed).shuffle(train_rows)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8", delete=False) as f:
        for text, label in train_rows:
            f.write(f"__label__{label} {classifier_tokens(text)}\n")
        train_file = f.name
    model = fasttext.train_supervised(input=train_file, epoch=epochs, wordNgrams=2, minCount=1, lr=0.5, seed=seed, thread=1,
                                      verbose=0)
    Path(train_file).unlink()
    tp = fp = fn = 0
    for text, label in test_rows:
        pred = model.predict(classifier_tokens(text))[0][0].removeprefix("__label__")
        tp += pred == positive and label == positive
        fp += pred == positive and label != positive
        fn += pred != positive and label == positive
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    output.parent.mkdir(parents=True, exist_ok=True)
    model.save_model(str(output))
    return {"train": len(train_rows), "test": len(test_rows), "positive": positive, "precision": precision, "recall": recall, "f1": f1}
