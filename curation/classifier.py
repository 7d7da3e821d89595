"""`curate train-classifier RECIPE.yaml`: a fastText classifier (spam, toxicity, quality) built from a committed recipe.

A recipe names the labeled sets (JSONL files, labels releases, or CPT releases by source), which rows of each are train / dev / test, the fastText hyperparameters and the
seed; training is single-threaded and seeded, so the same recipe over the same files gives the same model bytes.
The threshold is chosen on the dev rows only; test rows are scored for the model card's numbers and never trained on.
"""

from __future__ import annotations

import hashlib
import random
import tempfile
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, PrivateAttr, ValidationError

from curation.errors import CurateError
from curation.labelrefs import jsonl_records, read_labels
from filters.textclassifier import FEATURES_VERSION, ModelCard, features
from manifests.schema import Model


class HashSplit(Model):
    """A fixed split for a set that ships without one: each row goes by a seeded hash of its text (shares of the
    rest go to test)."""

    seed: int = 13
    train: float = Field(default=0.7, gt=0, lt=1)
    dev: float = Field(default=0.1, ge=0, lt=1)


class LabeledSet(Model):
    """One set of rows: a JSONL file, a labels release (`curate label-quality`: its train/dev/test parts are the split),
    or a CPT release whose `sources` all get one `label` (reference vs noise, DCLM style). `part` when the file is
    itself a split, or `split` to cut it by hash. `label` forces every row to one label (e.g. clean text as
    negatives). `parts` picks which parts to use."""

    path: str
    name: str | None = None
    part: Literal["train", "dev", "test"] | None = None
    split: HashSplit | None = None
    parts: list[Literal["train", "dev", "test"]] = ["train", "dev", "test"]
    label: int | str | None = None
    sources: list[str] | None = None  # a CPT release: only these sources' documents
    max_rows: int | None = Field(default=None, gt=0)
    # a labels file of this repository (curation/labelrefs.py: rows that reference text under the data root, or written
    # rows), relative to the recipe's folder; `path` then only names the set
    labels: str | None = None
    origins: list[str] | None = None  # of a labels file: only rows of these origins (real, written)
    label_field: str | None = None  # this set's label field, when not the recipe's (one labels file: spam, abuse)
    # train rows counted this many times: a few hundred Taiwan rows beside 25k COLD comments would otherwise barely
    # move the model (dev rows are never repeated)
    repeat: int = Field(default=1, ge=1, le=20)

    def display(self) -> str:
        return self.name or (f"{self.path} {'+'.join(self.sources)}" if self.sources else self.path)


class FastTextParams(Model):
    epoch: int = 5
    lr: float = 0.1
    wordNgrams: int = 2
    dim: int = 50
    minCount: int = 1
    minn: int = 0
    maxn: int = 0
    bucket: int = 500_000
    loss: Literal["softmax", "ova", "hs"] = "softmax"


class HashedNgramParams(Model):
    """`model: hashed_ngrams`: logistic regression over hashed character n-grams of the first `max_chars` characters
    (filters/ngrammodel.py): ~20x cheaper to score than fastText's per-character tokenizing, for the quality model."""

    bits: int = Field(default=20, ge=10, le=24)  # 2^bits weights
    orders: list[int] = [1, 2, 3]
    max_chars: int = Field(default=1000, ge=50)
    epochs: int = Field(default=5, ge=1)
    lr: float = Field(default=0.5, gt=0)


class ThresholdRule(Model):
    """How the threshold is chosen on the dev rows: the F1-best one, or the lowest whose precision reaches `value`;
    with `max_clean_flagged`, only among thresholds that flag at most that share of the recipe's `clean` documents.
    Labeled sets are half positive; a corpus is not, and a threshold tuned on them alone drops clean articles."""

    rule: Literal["max_f1", "min_precision"] = "max_f1"
    value: float = Field(default=0.95, gt=0, le=1)
    max_clean_flagged: float | None = Field(default=None, ge=0, le=1)


class Recipe(Model):
    name: str
    positive_label: str = "positive"
    negative_label: str = "negative"
    positive_values: list[int | str] = [1]  # values of `label_field` that mean positive
    text_field: str = "text"
    label_field: str = "label"
    license: str = ""  # of the trained model, from the sets' licenses
    seed: int = 0
    sets: list[LabeledSet]
    evaluate: list[LabeledSet] = []  # test data for the card's numbers; also scored as an OpenCC s2twp copy
    # score each evaluate set's s2twp copy too (a Traditional copy must score like its Simplified original); off for
    # a model of wording itself (region), whose mainland rows s2twp turns into Taiwan wording
    script_copies: bool = True
    clean: list[LabeledSet] = []  # unlabeled clean documents (every row counts as negative) for `max_clean_flagged`
    model: Literal["fasttext", "hashed_ngrams"] = "fasttext"
    fasttext: FastTextParams = FastTextParams()
    hashed_ngrams: HashedNgramParams = HashedNgramParams()
    quantize: bool = True
    quantize_cutoff: int = 100_000
    threshold: ThresholdRule = ThresholdRule()
    chunk_chars: int = Field(default=300, gt=0)
    _base: Path = PrivateAttr(default_factory=Path.cwd)  # the recipe's folder: `labels` files are relative to it


def load_recipe(path: Path) -> Recipe:
    try:
        recipe = Recipe.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        recipe._base = Path(path).resolve().parent
        return recipe
    except FileNotFoundError:
        raise CurateError(f"{path}: recipe not found") from None
    except (yaml.YAMLError, ValidationError) as e:
        raise CurateError(f"{path}: invalid recipe: {e}") from None


def _hash_part(text: str, split: HashSplit) -> str:
    h = int(hashlib.sha256(f"{split.seed}:{text}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "train" if h < split.train else "dev" if h < split.train + split.dev else "test"


def _release_rows(path: Path, s: LabeledSet, recipe: Recipe):
    """(where, record, part) of a release's shards: a labels release's parts come from its shards."""
    import pyarrow.parquet as pq

    import manifests

    manifest = manifests.load(path)
    if manifest.kind == "cpt" and s.label is None:
        raise CurateError(f"{path}: a CPT release holds no labels; give the set a `label` (recipe set {s.display()!r})")
    if s.sources:
        missing = set(s.sources) - {src.name for src in manifest.sources}
        if missing:
            raise CurateError(f"{path}: no source {sorted(missing)} in this release (has {[x.name for x in manifest.sources]})")
    for shard in sorted(manifest.shards, key=lambda x: x.path):
        if s.sources and shard.source not in s.sources:
            continue
        columns = [c for c in ("id", recipe.text_field, recipe.label_field) if c in pq.read_schema(path / shard.path).names]
        for n, rec in enumerate(pq.read_table(path / shard.path, columns=columns).to_pylist()):
            yield f"{path / shard.path}:row {n}", rec, shard.split if manifest.kind == "labels" else None


def _jsonl_rows(path: Path):
    return ((where, rec, None) for where, rec in jsonl_records(path))


def labeled_rows(s: LabeledSet, recipe: Recipe, data_root: Path):
    """(text, label value, part) of every row of a set, in file order. A malformed row stops training with file, line
    and field: a model trained on silently fewer rows than its recipe says cannot be rebuilt bit for bit."""
    path = (data_root / s.path) if not Path(s.path).is_absolute() else Path(s.path)
    if s.labels is not None:
        labels_path = recipe._base / s.labels
        if not labels_path.is_file():
            raise CurateError(f"{labels_path}: labels file not found (recipe set {s.display()!r})")
        rows = ((where, rec, None) for where, rec in read_labels(labels_path, data_root)
                if s.origins is None or rec.get("origin") in s.origins)
    elif path.is_dir() and (path / "manifest.json").is_file():
        rows = _release_rows(path, s, recipe)
    elif path.is_file():
        rows = _jsonl_rows(path)
    else:
        raise CurateError(f"{path}: labeled set not found (recipe set {s.display()!r}; data root {data_root})")
    n_rows = 0
    for where, rec, release_part in rows:
        text = rec.get(recipe.text_field) if isinstance(rec, dict) else None
        label_field = s.label_field or recipe.label_field
        label = s.label if s.label is not None else (rec.get(label_field) if isinstance(rec, dict) else None)
        if not isinstance(text, str):
            raise CurateError(f"{where}: field {recipe.text_field!r} must be a string")
        if label is None or label == "":
            raise CurateError(f"{where}: field {label_field!r} is missing")
        part = s.part or (_hash_part(text, s.split) if s.split else release_part or "train")
        if part in s.parts:
            yield text, label, part
        n_rows += 1
        if s.max_rows and n_rows >= s.max_rows:
            break


def read_set(s: LabeledSet, recipe: Recipe, data_root: Path) -> dict[str, list[tuple[str, bool]]]:
    """Rows of one set by part: (text, is_positive)."""
    positives = {str(v) for v in recipe.positive_values}
    out: dict[str, list[tuple[str, bool]]] = {"train": [], "dev": [], "test": []}
    for text, label, part in labeled_rows(s, recipe, data_root):
        out[part].append((text, str(label) in positives))
    return out


def spearman(x: list[float], y: list[float]) -> float | None:
    """Rank correlation (ties get their mean rank); None when either side is constant."""
    import numpy as np

    def ranks(v):
        v = np.asarray(v, dtype=float)
        order = np.argsort(v, kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(len(v))
        for value in np.unique(v):  # mean rank of ties
            tie = v == value
            r[tie] = r[tie].mean()
        return r

    if len(x) < 2:
        return None
    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return None
    return round(float(np.corrcoef(rx, ry)[0, 1]), 4)


def prf(gold: list[bool], pred: list[bool]) -> dict[str, float]:
    tp = sum(g and p for g, p in zip(gold, pred))
    fp = sum(p and not g for g, p in zip(gold, pred))
    fn = sum(g and not p for g, p in zip(gold, pred))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "rows": len(gold),
            "positives": sum(gold)}


def choose_threshold(gold: list[bool], probs: list[float], rule: ThresholdRule, clean_probs: list[float] = ()) -> float:
    candidates = [round(0.05 * i, 2) for i in range(1, 20)]
    if rule.max_clean_flagged is not None and clean_probs:
        candidates = [t for t in candidates if sum(p >= t for p in clean_probs) / len(clean_probs) <= rule.max_clean_flagged]
        candidates = candidates or [0.95]
    if rule.rule == "min_precision":
        ok = [t for t in candidates if prf(gold, [p >= t for p in probs])["precision"] >= rule.value]
        return min(ok) if ok else candidates[-1]
    return max(candidates, key=lambda t: (prf(gold, [p >= t for p in probs])["f1"], -t))


def train(recipe: Recipe, data_root: Path, output_dir: Path, recipe_path: str = "") -> ModelCard:
    """Train, choose the threshold on dev, evaluate; write the model (`<name>.ftz|.bin`, or `.npz` for hashed
    n-grams) and its card `<name>.json` to output_dir."""
    from filters.textclassifier import TextClassifier

    parts: dict[str, list[tuple[str, bool]]] = {"train": [], "dev": [], "test": []}
    counts = []
    for s in recipe.sets:
        got = read_set(s, recipe, data_root)
        parts["train"] += got["train"] * s.repeat
        parts["dev"] += got["dev"]
        counts.append({"set": s.display(), "train": len(got["train"]), "dev": len(got["dev"]),
                       "positives": sum(p for _, p in got["train"] + got["dev"]), **({"repeat": s.repeat} if s.repeat > 1 else {})})
    if not parts["train"] or not any(p for _, p in parts["train"]) or all(p for _, p in parts["train"]):
        raise CurateError(f"recipe {recipe.name!r}: training rows need both labels ({len(parts['train'])} rows)")
    if not parts["dev"]:
        raise CurateError(f"recipe {recipe.name!r}: no dev rows to choose the threshold on; give a set `part: dev` or a `split`")
    rows = parts["train"][:]
    random.Random(recipe.seed).shuffle(rows)
    output_dir.mkdir(parents=True, exist_ok=True)
    if recipe.model == "hashed_ngrams":
        card = _train_hashed(recipe, rows, output_dir, counts, recipe_path)
    else:
        card = _train_fasttext(recipe, rows, output_dir, counts, recipe_path)
    card_path = output_dir / f"{recipe.name}.json"
    card.dump(card_path)
    clf = TextClassifier(card_path)
    dev_probs = [clf.probability(t) for t, _ in parts["dev"]]
    clean = [t for s in recipe.clean for rows in read_set(s.model_copy(update={"label": 0}), recipe, data_root).values()
             for t, _ in rows]
    clean_probs = [clf.probability(t) for t in clean]
    card.threshold = choose_threshold([p for _, p in parts["dev"]], dev_probs, recipe.threshold, clean_probs)
    card.metrics = {"dev": prf([p for _, p in parts["dev"]], [x >= card.threshold for x in dev_probs])}
    if clean:
        card.metrics["clean flagged (threshold choice)"] = {
            "documents": len(clean), "flagged": round(sum(p >= card.threshold for p in clean_probs) / len(clean), 4)}
    card.metrics.update(evaluate(clf, recipe, data_root, card.threshold))
    card.dump(card_path)
    return card


def _train_hashed(recipe: Recipe, rows: list[tuple[str, bool]], output_dir: Path, counts: list[dict], recipe_path: str) -> ModelCard:
    from filters.ngrammodel import NGRAM_FEATURES_VERSION, HashedNgramModel, NgramParams

    h = recipe.hashed_ngrams
    params = NgramParams(bits=h.bits, orders=tuple(h.orders), max_chars=h.max_chars)
    model = HashedNgramModel.train(rows, params, epochs=h.epochs, lr=h.lr, seed=recipe.seed)
    model_file = f"{recipe.name}.npz"
    model.save(output_dir / model_file)
    return ModelCard(name=recipe.name, model_file=model_file, positive_label=recipe.positive_label, threshold=0.5,
                     features=NGRAM_FEATURES_VERSION, chunk_chars=h.max_chars, trained_on=counts, license=recipe.license,
                     recipe=recipe_path, sha256=hashlib.sha256((output_dir / model_file).read_bytes()).hexdigest(),
                     params={"bits": h.bits, "orders": list(h.orders), "max_chars": h.max_chars})


def _train_fasttext(recipe: Recipe, rows: list[tuple[str, bool]], output_dir: Path, counts: list[dict], recipe_path: str) -> ModelCard:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from curation.fasttext_fit import fasttext_fit

    model_file = f"{recipe.name}.ftz" if recipe.quantize else f"{recipe.name}.bin"
    with tempfile.TemporaryDirectory() as tmp:
        train_file = Path(tmp) / "train.txt"
        with open(train_file, "w", encoding="utf-8") as f:
            for text, positive in rows:
                label = recipe.positive_label if positive else recipe.negative_label
                f.write(f"__label__{label} {features(text)}\n")
        # a fresh process per training: in a long-lived process that has already loaded and run fastText models,
        # training the same recipe was seen to give other bytes or diverge ("Encountered NaN"); the CLI and a
        # fresh interpreter give the same model bytes every time
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            try:
                pool.submit(fasttext_fit, str(train_file), recipe.fasttext.model_dump(), recipe.seed, recipe.quantize,
                            recipe.quantize_cutoff, str(output_dir / model_file)).result()
            except RuntimeError as e:  # fastText diverges ("Encountered NaN") when lr is too high for the data
                raise CurateError(f"recipe {recipe.name!r}: fastText training failed ({e}); lower fasttext.lr "
                                  f"(now {recipe.fasttext.lr})") from None
    return ModelCard(name=recipe.name, model_file=model_file, positive_label=recipe.positive_label, threshold=0.5,
                     features=FEATURES_VERSION, chunk_chars=recipe.chunk_chars, trained_on=counts, license=recipe.license,
                     recipe=recipe_path, sha256=hashlib.sha256((output_dir / model_file).read_bytes()).hexdigest())


def evaluate(clf, recipe: Recipe, data_root: Path, threshold: float) -> dict[str, dict]:
    """Precision/recall/F1 at `threshold` on each `evaluate` set, and on its OpenCC s2twp (Taiwan) copy; where the
    labels are numbers (LLM scores 0-5), also the rank correlation of the model's probability with them."""
    import opencc

    s2twp = opencc.OpenCC("s2twp")
    positives = {str(v) for v in recipe.positive_values}
    out = {}
    for s in recipe.evaluate:
        rows = list(labeled_rows(s, recipe, data_root))
        gold = [str(label) in positives for _, label, _ in rows]
        probs = [clf.probability(t) for t, _, _ in rows]
        out[s.display()] = prf(gold, [p >= threshold for p in probs])
        if rows and all(isinstance(label, (int, float)) and not isinstance(label, bool) for _, label, _ in rows):
            out[s.display()]["spearman"] = spearman(probs, [float(label) for _, label, _ in rows])
        if recipe.script_copies:
            out[s.display() + " (s2twp)"] = prf(gold, [clf.probability(s2twp.convert(t)) >= threshold for t, _, _ in rows])
    return out
