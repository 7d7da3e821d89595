"""Spam and toxicity on real labeled Chinese sets: lexicon alone, classifier alone, and the step as configured
(combined), on each test split and on its OpenCC s2twp copy; share of clean zh-TW documents flagged; µs/document.

    python -m bench.quality.classifiers [--data-root ../shared/data/real] [--recipe-model CARD.json ...]

(data root also from $TWCURATE_REAL_DATA). `--recipe-model`: a model a user trained from a recipe that is not shipped
(filters/models/spam-sms.recipe.yaml, toxicity-toxicn.recipe.yaml), scored alone at its card threshold on the test sets
of its kind (spam or toxicity, from its positive label) as one more row per set.

Test splits: cold/test, toxicn/test, and the seeded 20% test parts of swsr, qq_group_ads and sms written in the recipes
(filters/models/*.recipe.yaml). Prints a markdown table; sets absent here are skipped and named."""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from pathlib import Path

import opencc
import orjson
from datatrove.data import Document

from bench.common.paths import REPO, real_root
from curation.classifier import LabeledSet, load_recipe, prf, read_set
from filters.config import SpamConfig, ToxicityConfig
from filters.spam import SpamFilter
from filters.textclassifier import NUMBER, TextClassifier, features
from filters.toxicity import ToxicityFilter

MODELS = REPO / "filters" / "models"
SPLIT = {"seed": 13, "train": 0.7, "dev": 0.1}
TESTS = {
    "toxicity": [("cold/test", {"path": "cold/test.jsonl", "part": "test"}),
                 ("toxicn/test", {"path": "toxicn/test.jsonl", "part": "test"}),
                 ("swsr/test 20%", {"path": "swsr/all.jsonl", "split": SPLIT, "parts": ["test"]})],
    "spam": [("sms/test 20%", {"path": "sms_spam_80w_subset/all.jsonl", "split": SPLIT, "parts": ["test"]}),
             ("qq_group_ads/test 20%", {"path": "qq_group_ads/all.jsonl", "split": SPLIT, "parts": ["test"]}),
             ("game_chat_ads/dev", {"path": "game_chat_ads/dev.jsonl", "part": "test", "max_rows": 5000})],
}
CLEAN = [("wiki", "drcd_wiki_zh_tw/drcd_articles.jsonl"), ("news", "tw_news/news_articles.jsonl"),
         ("ptt_news", "tw_news/ptt_news_reposts.jsonl")]


def judge(kind: str, text: str) -> tuple[bool, bool, bool]:
    """(lexicon alone, classifier alone, step as configured) for one text."""
    d = Document(text=text, id="x")
    if kind == "toxicity":
        step = STEPS["toxicity"]
        combined = step.filter(d) is not True
        a = d.metadata["annotations"]
        weight, _ = step.lexicon.score(text)
        lexicon = weight * 1000 / max(len(text), 200) >= step.config.lexicon_hits_per_1k
        return lexicon, a["toxicity_score"] >= step.threshold, combined
    step = STEPS["spam"]
    combined = step.filter(d) is not True
    a = d.metadata["annotations"]
    return a["spam_score"] >= step.config.threshold, a.get("spam_probability", 0) >= step.classifier_threshold, combined


def row(m: dict, m2: dict) -> str:
    """Precision, recall and F1 on a set, then on its s2twp copy, as table cells."""
    return " | ".join(f"{x[k]:.3f}" for x in (m, m2) for k in ("precision", "recall", "f1"))


def with_digits(text: str, rng: random.Random) -> str:
    """The text with every x that stands for a digit (inside a number as `NUMBER` reads it) put back as a digit."""
    return NUMBER.sub(lambda m: re.sub("[xX]", lambda _: str(rng.randrange(10)), m.group()), text)


def digit_shortcut(root: Path, classifiers: list) -> None:
    """The SMS set wrote every digit of its spam rows as x: score its test spam rows as written and with the x put back
    as seeded random digits. A model that learned "contains x" loses recall on the second spelling; with the number
    token both spellings are one input."""
    spec = {"path": "sms_spam_80w_subset/all.jsonl", "split": SPLIT, "parts": ["test"]}
    try:
        rows = [r for part in read_set(LabeledSet(**spec), load_recipe(MODELS / "spam.recipe.yaml"), root).values() for r in part]
    except Exception as e:  # noqa: BLE001 - an absent set is reported, not fatal
        print(f"\nDigit shortcut: skipped ({e})")
        return
    rng = random.Random(0)
    spam = [t for t, g in rows if g]
    digits = [with_digits(t, rng) for t in spam]
    changed = sum(a != b for a, b in zip(spam, digits))
    same_input = sum(features(a) == features(b) for a, b in zip(spam, digits))
    print(f"\nDigit shortcut, sms/test 20%: {len(spam)} spam rows, {changed} with x placeholders put back as random digits "
          f"(seed 0); model input identical for {same_input} of {len(spam)}\n")
    print("| model | recall, x as in the set | recall, x as random digits |\n|---|---|---|")
    for clf in classifiers:
        if clf is None:
            continue
        recall = [sum(clf.probability(t) >= clf.card.threshold for t in texts) / len(texts) for texts in (spam, digits)]
        print(f"| {clf.card.name} | {recall[0]:.3f} | {recall[1]:.3f} |")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-root", type=Path, default=real_root())
    ap.add_argument("--recipe-model", type=Path, action="append", default=[])
    args = ap.parse_args()
    root = Path(args.data_root)
    extra = {"toxicity": [], "spam": []}
    for card in args.recipe_model:
        if not card.is_file():
            raise SystemExit(f"classifiers: --recipe-model {card}: model card not found")
        clf = TextClassifier(card)
        extra["toxicity" if clf.card.positive_label == "toxic" else "spam"].append(clf)
    s2twp = opencc.OpenCC("s2twp")
    print("| model | set | rows | layer | precision | recall | F1 | s2twp copy: precision | recall | F1 |\n"
          "|---|---|---|---|---|---|---|---|---|---|")
    for kind, sets in TESTS.items():
        recipe = load_recipe(MODELS / f"{kind}.recipe.yaml")
        for name, spec in sets:
            try:
                rows = [r for part in read_set(LabeledSet(**spec), recipe, root).values() for r in part]
            except Exception as e:  # noqa: BLE001 - an absent set is reported, not fatal
                print(f"| {kind} | {name} | skipped: {e} |")
                continue
            gold = [g for _, g in rows]
            orig = [judge(kind, t) for t, _ in rows]
            tw = [judge(kind, s2twp.convert(t)) for t, _ in rows]
            for i, layer in enumerate(("lexicon", "classifier", "combined (step)")):
                m, m2 = prf(gold, [o[i] for o in orig]), prf(gold, [o[i] for o in tw])
                print(f"| {kind} | {name} | {len(rows)} | {layer} | {row(m, m2)} |")
            for clf in extra[kind]:
                m = prf(gold, [clf.probability(t) >= clf.card.threshold for t, _ in rows])
                m2 = prf(gold, [clf.probability(s2twp.convert(t)) >= clf.card.threshold for t, _ in rows])
                print(f"| {kind} | {name} | {len(rows)} | classifier {clf.card.name} (recipe, not shipped) | {row(m, m2)} |")
    digit_shortcut(root, [STEPS["spam"].classifier, *extra["spam"]])
    print("\n| clean set | documents | toxicity step flags | spam step flags | classifier µs/doc (tox, spam) |\n|---|---|---|---|---|")
    for name, rel in CLEAN:
        path = root / rel
        if not path.is_file():
            print(f"| {name} | absent |")
            continue
        texts = [orjson.loads(line)["text"] for line in path.read_bytes().splitlines() if line.strip()]
        flags, cost = {}, {}
        for kind in ("toxicity", "spam"):
            flags[kind] = sum(judge(kind, t)[2] for t in texts)
            clf = STEPS[kind].classifier
            t1 = time.perf_counter()
            for t in texts:
                clf.probability(t)
            cost[kind] = (time.perf_counter() - t1) / len(texts) * 1e6
        print(f"| {name} | {len(texts)} | {flags['toxicity']} ({flags['toxicity'] / len(texts):.2%}) | "
              f"{flags['spam']} ({flags['spam'] / len(texts):.2%}) | {cost['toxicity']:.0f}, {cost['spam']:.0f} |")
    return 0


STEPS = {"toxicity": ToxicityFilter(ToxicityConfig()), "spam": SpamFilter(SpamConfig())}

if __name__ == "__main__":
    sys.exit(main())
