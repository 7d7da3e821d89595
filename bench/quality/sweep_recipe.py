"""Grid search over a classifier recipe's fastText settings, chosen by dev F1 only.

    python -m bench.quality.sweep_recipe filters/models/toxicity-toxicn.recipe.yaml --data-root ../shared/data/real \
        --epoch 5 15 --lr 0.1 0.5 --wordNgrams 2 3 --dim 16 64 --bucket 50000 500000

Trains the recipe once per setting (the recipe's own sets, splits, seed and threshold rule), prints one JSON line per
setting with the dev F1 the threshold was chosen on and every evaluated set's F1, and at the end the setting with the
best dev F1. Test numbers are printed for the record, never used to choose: copy the chosen setting into the recipe.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from pathlib import Path

from bench.common.paths import real_root
from curation.classifier import load_recipe, train
from curation.errors import CurateError

AXES = {"epoch": int, "lr": float, "wordNgrams": int, "dim": int, "bucket": int, "minn": int, "maxn": int}


def main() -> None:
    try:
        sweep()
    except CurateError as e:  # a missing recipe or set, a malformed row: its file and line, without a traceback
        raise SystemExit(f"sweep_recipe: {e}") from None


def sweep() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recipe", type=Path)
    ap.add_argument("--data-root", type=Path, default=real_root())
    for name, kind in AXES.items():
        ap.add_argument(f"--{name}", type=kind, nargs="+")
    args = ap.parse_args()
    recipe = load_recipe(args.recipe)
    base = recipe.fasttext.model_dump()
    axes = {k: getattr(args, k) or [base[k]] for k in AXES}
    best = None
    for values in itertools.product(*axes.values()):
        setting = dict(zip(axes, values))
        trial = recipe.model_copy(update={"fasttext": recipe.fasttext.model_copy(update=setting)})
        with tempfile.TemporaryDirectory() as out:
            card = train(trial, args.data_root, Path(out))
        row = {**setting, "threshold": card.threshold, "dev_f1": card.metrics["dev"]["f1"],
               **{f"{name} F1": m["f1"] for name, m in card.metrics.items() if name != "dev" and "f1" in m}}
        print(json.dumps(row, ensure_ascii=False), flush=True)
        if best is None or row["dev_f1"] > best["dev_f1"]:
            best = row
    print("best by dev F1:", json.dumps(best, ensure_ascii=False))


if __name__ == "__main__":
    main()
