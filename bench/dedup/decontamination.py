"""Decontamination against Taiwan benchmarks: planted items found in every form, false hits on ordinary real text,
index size and build time at 100k items, step cost.

    python -m bench.dedup.decontamination [--n 300] [--seed 0] [--list-hits hits.md]

(data from ../shared/data/real beside the checkout, or $TWCURATE_REAL_DATA)

1. Planted: TMMLU and TTQA questions (tw_eval_tmmlu_ttqa) with their options pasted into real documents (laws, wiki,
   news, PTT, LINE) at seeded places: verbatim; with spaces, line breaks and punctuation changed; converted t2s (and
   that back s2t); with the answer options reordered. Found = the step (shipped index, default settings) calls the
   document contaminated with that set.
2. False hits: every document of the real zh-TW sets against the shipped index; each hit is listed for review.
3. Scale: an index of 100,000 items (real sentences of 30-200 characters standing in for evaluation items): build time
   and file size; µs per document of the check on real documents.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
import time
from pathlib import Path

import opencc

from bench.common.paths import real_root
from filters.decontamination import SHIPPED_INDEX, EvalIndex, EvalMatcher

SETS = {"laws": "tw_laws/FalVMingLing", "wiki": "drcd_wiki_zh_tw/drcd_articles.jsonl", "news": "tw_news/news_articles.jsonl",
        "ptt": "ptt_boards_2024/ptt_posts.jsonl", "line": "cofacts_line_msgs/cofacts_msgs.jsonl", "ptt_news": "tw_news/ptt_news_reposts.jsonl"}
OPTION = re.compile(r"\(([A-D])\)")


def read_set(name: str) -> list[str]:
    path = real_root() / SETS[name]
    if not path.exists():
        return []
    if path.is_dir():
        return ["\n".join(a.get("條文內容", "") for a in json.loads(f.read_text(encoding="utf-8-sig")).get("法規內容", []) if isinstance(a, dict))
                for f in sorted(path.glob("*.json"))]
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def eval_items() -> list[tuple[str, str, list[str]]]:
    """(set, question stem, options) of every TMMLU and TTQA item."""
    base = real_root() / "tw_eval_tmmlu_ttqa"
    out = []
    for line in (base / "tmmlu_sample.jsonl").read_text(encoding="utf-8").splitlines():
        text = json.loads(line)["text"]
        parts = OPTION.split(text)  # stem, A, text, B, text, ...
        out.append(("tmmlu", parts[0], [parts[i + 1] for i in range(1, len(parts) - 1, 2)]))
    for rec in json.loads((base / "TTQA_mc.json").read_text(encoding="utf-8")).values():
        out.append(("ttqa", rec["question"], rec["choices"]))
    return out


def render(stem: str, options: list[str], form: str, rng: random.Random, t2s, s2t) -> str:
    opts = list(options)
    if form == "options reordered":
        while len(opts) > 1 and opts == options:
            rng.shuffle(opts)
    text = stem + "".join(f"({chr(65 + i)}){o}" for i, o in enumerate(opts)) if opts else stem
    if form == "spacing and punctuation":
        text = re.sub(r"[，。？、：]", lambda m: rng.choice([" ", "\n", "，", ", ", " . "]), text)
        text = re.sub(r"\(([A-D])\)", lambda m: f"\n{m.group(1)}. ", text)
    elif form == "t2s":
        text = t2s.convert(text)
    elif form == "t2s then s2t":
        text = s2t.convert(t2s.convert(text))
    return text


def plant(host: str, item: str, rng: random.Random) -> str:
    lines = host.split("\n")
    at = rng.randrange(len(lines) + 1)
    return "\n".join(lines[:at] + [item] + lines[at:])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="planted items per form")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--list-hits", type=Path, help="write every false hit on ordinary text here")
    args = ap.parse_args()
    if not (real_root() / "tw_eval_tmmlu_ttqa").exists():
        print(f"skipped: {real_root()}/tw_eval_tmmlu_ttqa is absent")
        return 0
    rng = random.Random(args.seed)
    matcher = EvalMatcher(EvalIndex.load(SHIPPED_INDEX))
    texts = {name: read_set(name) for name in SETS}
    hosts = [t for name in ("laws", "wiki", "news", "ptt", "line") for t in texts[name] if t.strip()]
    items = eval_items()
    t2s, s2t = opencc.OpenCC("t2s"), opencc.OpenCC("s2t")
    print(f"\n### Planted items (shipped index, {len(items)} TMMLU + TTQA items; {args.n} per form, seed {args.seed})\n")
    print("| form | planted | found | recall |\n|---|---|---|---|")
    for form in ("verbatim", "spacing and punctuation", "t2s", "t2s then s2t", "options reordered"):
        found = 0
        for i in range(args.n):
            set_name, stem, options = items[rng.randrange(len(items))]
            doc = plant(rng.choice(hosts), render(stem, options, form, rng, t2s, s2t), rng)
            hit = {matcher.set_of(x) for x in matcher.contaminated(matcher.overlap(doc))}
            found += set_name in hit
        print(f"| {form} | {args.n} | {found} | {found / args.n:.3f} |")

    print("\n### False hits on ordinary real text (shipped index)\n")
    print("| set | documents | contaminated | share |\n|---|---|---|---|")
    listing = []
    start = time.perf_counter()
    n_docs = 0
    for name, docs in texts.items():
        hits = 0
        for j, t in enumerate(docs):
            n_docs += 1
            c = matcher.contaminated(matcher.overlap(t))
            if c:
                hits += 1
                items_hit = [matcher.index.item_ids[i] if matcher.index.item_ids else f"{matcher.set_of(i)} item {i}" for i in c]
                listing.append(f"- `{name}/{j}` {items_hit} {t[:200]}".replace("\n", "⏎"))
        print(f"| {name} | {len(docs)} | {hits} | {hits / max(len(docs), 1):.4%} |")
    per_doc = (time.perf_counter() - start) / max(n_docs, 1) * 1e6
    chars = sum(len(t) for docs in texts.values() for t in docs) / max(n_docs, 1)
    print(f"\nCheck cost: {per_doc:.0f} µs per document (mean {chars:.0f} characters), one core")
    if args.list_hits:
        args.list_hits.write_text("\n".join(listing) + "\n", encoding="utf-8")
        print(f"hits listed in {args.list_hits}")

    sentences = [s for t in hosts + texts["ptt_news"] for s in re.split(r"(?<=[。！？\n])", t) if 30 <= len(s.strip()) <= 200]
    rng.shuffle(sentences)
    pool = (sentences * (100_000 // max(len(sentences), 1) + 1))[:100_000]
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "items.jsonl"
        src.write_text("".join(json.dumps({"id": i, "text": s + f" 第{i}題"}, ensure_ascii=False) + "\n" for i, s in enumerate(pool)), encoding="utf-8")
        start = time.perf_counter()
        big = EvalIndex.build({"synthetic": src})
        built = time.perf_counter() - start
        size = big.save(Path(tmp) / "big.npz").stat().st_size
    print(f"\nIndex of {len(pool):,} items (real sentences of 30-200 characters, {len(set(pool)):,} distinct): built in "
          f"{built:.1f} s, {size / 1e6:.1f} MB on disk, {big.hashes.nbytes / 1e6 + big.items.nbytes / 1e6:.1f} MB in memory "
          f"({len(big.hashes):,} hashes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
