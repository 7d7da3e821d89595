"""Choose the spam step's operating point on both sides at once: ads caught on the labeled sets, and ordinary zh-TW
text dropped or edited.

    python -m bench.quality.sweep_spam [--data-root ../shared/data/real] [--part dev|test] [--list-drops out.md]

(data root also from $TWCURATE_REAL_DATA; absent sets are skipped)

For each candidate (classifier_alone x classifier_threshold; the rest as shipped) the spam step (filters/spam.py) runs on:
- labeled sets: `--part dev` or `--part test`: the Taiwan labels (bench/labels, issue 39; real rows pooled, written
  rows pooled, split as the recipes split them), and the seeded parts of qq_group_ads and the SMS set, each with its
  s2twp copy; a row counts as caught when dropped or a line of it removed. The shipped model never saw the SMS set.
- ordinary real text (bench/quality/sweep_toxicity.py's sets, after normalize, PII and line cleaning; LINE messages read as
  ads or scams left out): documents dropped and edited per set.
The rule (bench/RESULTS.md): no law, wiki or news document dropped, at most 0.3% of PTT + LINE + PTT-news documents
dropped, precision >= 0.90 on the Taiwan real dev rows, then their best recall.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import opencc
from datatrove.data import Document

from bench.common.paths import REPO, real_root
from bench.quality.sweep_toxicity import FORUM, load_labeled, ordinary_docs
from bench.quality.tw_labels import label_sets, pool
from curation.classifier import prf
from filters.config import SpamConfig
from filters.spam import SpamFilter

SPLIT = {"seed": 13, "train": 0.7, "dev": 0.1}
def tw_sets(part: str) -> list[tuple[str, dict]]:
    """The Taiwan labels (bench/labels, issue 39) of one part, real rows pooled and written rows pooled."""
    return label_sets(part, "spam", {"tw real": ["cofacts_msgs_a", "cofacts_msgs_b", "takedowns", "cofacts_factcheck"],
                                        "tw written": ["written_ads", "written_forum_negatives"]})


LABELED = {
    "dev": [*tw_sets("dev"),
            ("qq_group_ads/dev 10%", {"path": "qq_group_ads/all.jsonl", "split": SPLIT, "parts": ["dev"]}),
            ("sms/dev 10%", {"path": "sms_spam_80w_subset/all.jsonl", "split": SPLIT, "parts": ["dev"]})],
    "test": [*tw_sets("test"),
             ("qq_group_ads/test 20%", {"path": "qq_group_ads/all.jsonl", "split": SPLIT, "parts": ["test"]}),
             ("sms/test 20%", {"path": "sms_spam_80w_subset/all.jsonl", "split": SPLIT, "parts": ["test"]})],
}
# classifier_alone x classifier_threshold (null: the card's)
GRID = [(alone, thr) for alone in (0.6, 0.7, 0.8, 0.9) for thr in (0.4, 0.5, None)]


def line_spam_ids(root: Path) -> set[int]:
    """Line indices of the Cofacts LINE set read as ads or scams (bench/labels): not ordinary text."""
    import orjson

    ids = [orjson.loads(x)["id"] for x in (root / "cofacts_line_msgs/cofacts_msgs.jsonl").read_bytes().splitlines() if x.strip()]
    spam = set()
    for f in ("cofacts_msgs_a", "cofacts_msgs_b"):
        for line in (REPO / "bench/labels/raw" / f"{f}.jsonl").read_bytes().splitlines():
            rec = orjson.loads(line)
            if rec["spam"] == 1 or rec.get("unsure"):
                spam.add(rec["ref"].split("#", 1)[1])
    return {i for i, x in enumerate(ids) if x in spam}


def caught(step: SpamFilter, text: str, kind: str = "jsonl") -> tuple[bool, bool, Document]:
    """(dropped, edited, document)."""
    d = Document(text=text, id="x", metadata={"source": "x", "kind": kind})
    dropped = step.filter(d) is not True
    return dropped, bool(d.metadata.get("segment_edits")), d


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", type=Path, default=real_root())
    ap.add_argument("--part", choices=["dev", "test"], default="dev")
    ap.add_argument("--grid", help="only these settings, e.g. 0.7:0.5 or 0.9:None (classifier_alone:classifier_threshold; None: the card's)")
    ap.add_argument("--list-drops", type=Path)
    args = ap.parse_args()
    root = args.data_root
    if not root.exists():
        print(f"skipped: {root} is absent")
        return 0
    labeled = load_labeled(LABELED[args.part], REPO / "filters/models/spam.recipe.yaml", root)
    labeled = pool(labeled)  # the Taiwan real files pool into one set, the written ones into another
    ordinary = ordinary_docs(root)
    not_ordinary = line_spam_ids(root)  # LINE messages read as ads are not ordinary text
    ordinary["line"] = [d for d in ordinary.get("line", []) if int(d.id.split("/")[1]) not in not_ordinary]
    s2twp = opencc.OpenCC("s2twp")
    converted = {name: [s2twp.convert(t) for t, _ in rows] for name, rows in labeled.items()}
    grid = GRID if not args.grid else [tuple(None if x == "None" else float(x) for x in g.split(":")) for g in args.grid.split(",")]
    names = list(labeled)
    print("| classifier_alone | classifier_threshold | " + " | ".join(f"{n} P / R | s2twp P / R" for n in names) + " | "
          + " | ".join(f"{k} dropped / edited" for k in ordinary) + " | forum drop rate |")
    print("|" + "---|" * (3 + 2 * len(names) + len(ordinary)))
    listing, best = [], None
    for alone, line in grid:
        step = SpamFilter(SpamConfig(classifier_alone=alone, classifier_threshold=line))
        cells, first = [], None
        for name, rows in labeled.items():
            gold = [g for _, g in rows]
            m = prf(gold, [any(caught(step, t)[:2]) for t, _ in rows])
            m2 = prf(gold, [any(caught(step, t)[:2]) for t in converted[name]])
            first = first or m
            cells.append(f"{m['precision']:.3f} / {m['recall']:.3f} | {m2['precision']:.3f} / {m2['recall']:.3f}")
        counts, forum_docs, forum_drops, clean_drops = [], 0, 0, 0
        listing.append(f"## classifier_alone {alone}, line_alone {line}\n")
        for k, docs in ordinary.items():
            drops = edits = 0
            for doc in docs:
                dropped, edited, d = caught(step, doc.text, doc.metadata["kind"])
                drops += dropped
                edits += edited
                if dropped:
                    listing.append(f"- DROP `{doc.id}` {d.metadata['annotations'].get('spam_probability')} {doc.text[:160]}".replace("\n", "⏎"))
                elif edited:
                    listing.append(f"- EDIT `{doc.id}` removed: {' | '.join(e[2][:80] for e in d.metadata['segment_edits'])}".replace("\n", "⏎"))
            counts.append(f"{drops} / {edits}")
            if k in FORUM:
                forum_docs += len(docs)
                forum_drops += drops
            else:
                clean_drops += drops
        rate = forum_drops / max(forum_docs, 1)
        print(f"| {alone} | {line} | " + " | ".join(cells) + " | " + " | ".join(counts) + f" | {rate:.2%} |")
        if clean_drops == 0 and rate <= 0.003 and first["precision"] >= 0.9 and (best is None or first["recall"] > best[0]):
            best = (first["recall"], alone, line)
    print("\nchosen by the rule: " + (f"classifier_alone {best[1]}, classifier_threshold {best[2]} ({names[0]} recall {best[0]:.3f})" if best else "no setting meets every bound"))
    if args.list_drops:
        args.list_drops.write_text("\n".join(listing) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
