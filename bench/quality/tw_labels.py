"""The Taiwan labeled rows (bench/labels/, issue 39) through the default steps as shipped: `curate annotate` with the
default job, so the numbers are what a user's run does, not a component alone.

    python -m bench.quality.tw_labels [--data-root ../shared/data/real] [--part test|dev] [--list-misses out.md]

Rows are split by the same seeded hash as the model recipes (filters/models/*.recipe.yaml: seed 39, 60% train,
15% dev, 25% test); `--part test` (the default) reads only rows no model or threshold was tuned on. Files in
`HELD_OUT` were labeled after everything was chosen and are test rows whole.
Per labels file and origin (real / written), separately:
- spam: the share of ad/scam rows flagged (the spam step says `spam`, drops it or removes an ad or contact line),
  the share that reaches the release (kept by every step), and the share of spam-0 rows flagged;
- abuse: the share of abuse rows flagged by the toxicity step (`toxic`: dropped or a segment removed), and the share of
  abuse-0 rows flagged.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import orjson

from bench.common.paths import REPO, real_root
from curation.classifier import HashSplit, _hash_part
from curation.labelrefs import read_labels

LABELS = REPO / "bench" / "labels" / "raw"
SPLIT = HashSplit(seed=39, train=0.6, dev=0.15)
# labels files read after every rule, term and threshold was chosen, and never trained on: all their rows are test rows
HELD_OUT = {"ptt_pushes_2"}


def spam_flagged(ann: dict) -> bool:
    """The spam step called the document an ad, or found an ad or contact line in it (removed or tagged)."""
    return bool(ann.get("spam")) or (ann.get("drop_reason") or "").startswith(("spam", "keyword_stuffing")) or any(
        k.startswith("spam:") for k in (*ann.get("edits", {}), *ann.get("tagged_edits", {})))


def abuse_flagged(ann: dict) -> bool:
    return bool(ann.get("toxic"))


def load_rows(data_root: Path, part: str) -> list[dict]:
    rows = []
    for path in sorted(LABELS.glob("*.jsonl")):
        for _, rec in read_labels(path, data_root):
            if (part == "test" and path.stem in HELD_OUT) or (path.stem not in HELD_OUT and _hash_part(rec["text"], SPLIT) == part):
                rec["file"] = path.stem
                rows.append(rec)
    return rows


def label_sets(part: str, label_field: str, groups: dict[str, list[str]]) -> list[tuple[str, dict]]:
    """Recipe-style specs (curation.classifier.LabeledSet) of the labels files in `groups` (group -> file stems under
    bench/labels/raw), one part of the recipes' split, each named `<group>/<part>#<file>` so `pool` can join a group."""
    split = SPLIT.model_dump()
    return [(f"{group}/{part}#{n}", {"path": n, "labels": f"../../bench/labels/raw/{n}.jsonl", "label_field": label_field,
                                     "split": split, "parts": [part]})
            for group, names in groups.items() for n in names if (LABELS / f"{n}.jsonl").is_file()]


def pool(labeled: dict[str, list]) -> dict[str, list]:
    """Rows of the sets named by `label_sets`, joined per group."""
    pooled: dict[str, list] = {}
    for name, rows in labeled.items():
        pooled.setdefault(name.split("#")[0], []).extend(rows)
    return pooled


def annotate_records(texts: list[str]) -> list[dict]:
    """What `curate annotate` (the default job) writes for each text, in order; {} for one it could not read."""
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        src.write_bytes(b"".join(orjson.dumps({"id": str(i), "text": t}) + b"\n" for i, t in enumerate(texts)))
        curate = Path(sys.executable).with_name("curate")
        subprocess.run([str(curate), "annotate", str(src), "-o", str(out)], check=True, stdout=subprocess.DEVNULL)
        # by id: a record annotate cannot read (an empty post) is not written, so the output is no row-for-row copy
        by_id = {d["id"]: d for d in map(orjson.loads, out.read_bytes().splitlines())}
    return [by_id.get(str(i), {}) for i in range(len(texts))]


def annotate(rows: list[dict]) -> list[dict]:
    return [rec.get("annotations", {"kept": False, "drop_reason": "unreadable"}) for rec in annotate_records([r["text"] for r in rows])]


def rate(xs: list[bool]) -> str:
    return f"{sum(xs) / len(xs):.3f} ({sum(xs)}/{len(xs)})" if xs else "-"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", type=Path, default=real_root())
    ap.add_argument("--part", choices=["dev", "test"], default="test")
    ap.add_argument("--list-misses", type=Path)
    args = ap.parse_args()
    if not args.data_root.exists():
        print(f"skipped: data root {args.data_root} not found", file=sys.stderr)
        return 0
    rows = load_rows(args.data_root, args.part)
    anns = annotate(rows)
    groups: dict[tuple, list[tuple[dict, dict]]] = defaultdict(list)
    for r, a in zip(rows, anns):
        groups[(r["file"], r.get("origin", "real"))].append((r, a))
    print(f"## Taiwan labeled rows, {args.part} part, default steps through `curate annotate`\n")
    print("| labels file | origin | ads/scams flagged | ads reach release | spam-0 flagged | abuse flagged | abuse-0 flagged |")
    print("|---|---|---|---|---|---|---|")
    totals: dict[str, list[bool]] = defaultdict(list)
    for (file, origin), pairs in sorted(groups.items()):
        spam_pos = [spam_flagged(a) for r, a in pairs if r.get("spam") == 1]
        spam_reach = [bool(a.get("kept")) for r, a in pairs if r.get("spam") == 1]
        spam_neg = [spam_flagged(a) for r, a in pairs if r.get("spam") == 0]
        abuse_pos = [abuse_flagged(a) for r, a in pairs if r.get("abuse") == 1]
        abuse_neg = [abuse_flagged(a) for r, a in pairs if r.get("abuse") == 0]
        for k, v in (("spam_pos", spam_pos), ("spam_reach", spam_reach), ("spam_neg", spam_neg),
                     ("abuse_pos", abuse_pos), ("abuse_neg", abuse_neg)):
            totals[f"{origin}/{k}"] += v
        print(f"| {file} | {origin} | {rate(spam_pos)} | {rate(spam_reach)} | {rate(spam_neg)} | {rate(abuse_pos)} | {rate(abuse_neg)} |")
    for origin in ("real", "written"):
        t = totals
        print(f"| **all** | {origin} | {rate(t[origin + '/spam_pos'])} | {rate(t[origin + '/spam_reach'])} | "
              f"{rate(t[origin + '/spam_neg'])} | {rate(t[origin + '/abuse_pos'])} | {rate(t[origin + '/abuse_neg'])} |")
    if args.list_misses:
        lines = []
        for r, a in zip(rows, anns):
            wrong = []
            if r.get("spam") == 1 and not spam_flagged(a):
                wrong.append("spam missed")
            if r.get("spam") == 0 and spam_flagged(a):
                wrong.append(f"spam false ({a.get('drop_reason')})")
            if r.get("abuse") == 1 and not abuse_flagged(a):
                wrong.append("abuse missed")
            if r.get("abuse") == 0 and abuse_flagged(a):
                wrong.append("abuse false")
            if wrong:
                text = r["text"].replace("\n", " ⏎ ")[:200]
                lines.append(f"- {', '.join(wrong)} [{r['file']} {r.get('type')}] {r.get('ref', 'written')}: {text}")
        args.list_misses.parent.mkdir(parents=True, exist_ok=True)
        args.list_misses.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
