"""Hong Kong written Cantonese as a region (issue 37): how often the script step says `hk`, on Taiwan text and on
Cantonese, and what it costs.

    python -m bench.language.region_hk [--data-root ../shared/data/real]

- Taiwan text: every document of the real zh-TW sets (PTT posts, PTT Gossiping threads with their pushes, Cofacts LINE
  messages, news, PTT news reposts, wiki, laws): the share labeled `hk` (target <= 1%, laws and wiki 0).
- Written rows (bench/labels/region/written.jsonl, written by someone who had not read the rules: Hong Kong forum and
  social posts, Taiwan lookalikes such as Hokkien, news about Hong Kong, 關係/係數, mainland text): the share of each
  label called `hk`, rows of >= 100 Han characters. There is no real Hong Kong forum text on this machine.
- Three deciders side by side: the shipped one (a gate of Cantonese-only characters, then cantonesedetect), the gate
  alone (>= 3 such characters), cantonesedetect alone (cantonese or mixed); and each one's cost on bench.quality.filter_path's
  clean corpus (Taiwan and mainland documents) and on the Cantonese rows.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench.common.paths import REPO, real_root
from bench.quality.sweep_toxicity import real_texts, threads
from filters.config import ScriptConfig
from filters.hanfold import han_count
from filters.script import CANTONESE_CHARS, HongKongCantonese

WRITTEN = REPO / "bench" / "labels" / "region" / "written.jsonl"


def taiwan_sets(root: Path) -> dict[str, list[str]]:
    """The real zh-TW sets as stored, and the PTT Gossiping threads with their pushes."""
    out = real_texts(root)
    out["gossiping"] = ["\n".join(lines) for lines in threads(root)]
    return {k: v for k, v in out.items() if v}


def deciders():
    from cantonesedetect.Detector import CantoneseDetector

    shipped = HongKongCantonese(ScriptConfig())
    detector = CantoneseDetector()
    return {"shipped (gate + cantonesedetect)": lambda t: shipped.judge(t)[0],
            "gate alone (>= 3 Cantonese-only characters)": lambda t: len(CANTONESE_CHARS.findall(t[:3000])) >= 3,
            "cantonesedetect alone": lambda t: str(detector.judge(t)) in ("cantonese", "mixed")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", type=Path, default=real_root())
    args = ap.parse_args()
    decide = deciders()
    names = list(decide)
    print("### Share labeled hk\n")
    print("| set | documents | " + " | ".join(names) + " |\n|---|---|" + "---|" * len(names))
    for name, docs in (taiwan_sets(args.data_root) if args.data_root.exists() else {}).items():
        print(f"| {name} (real, Taiwan) | {len(docs)} | " + " | ".join(f"{sum(map(d, docs)) / len(docs):.2%} ({sum(map(d, docs))})"
                                                             for d in decide.values()) + " |")
    written = [json.loads(x) for x in WRITTEN.read_text(encoding="utf-8").splitlines()] if WRITTEN.is_file() else []
    for region in ("hk", "tw", "cn"):
        docs = [r["text"] for r in written if r["region"] == region and han_count(r["text"]) >= 100]
        if docs:
            print(f"| written {region}, >= 100 Han | {len(docs)} | " + " | ".join(
                f"{sum(map(d, docs)) / len(docs):.3f} ({sum(map(d, docs))})" for d in decide.values()) + " |")
    from bench.common.corpora import clean_zh_corpus

    clean = [t for _, t in clean_zh_corpus(20_000, size=220)[:4000]]
    canto = [r["text"] for r in written if r["region"] == "hk"] or ["我哋今日去咗旺角食嘢，佢話而家冇得做。"]
    print("\n### Cost, µs per document (one core)\n\n| decider | filter_path corpus (4,000) | Cantonese rows |\n|---|---|---|")
    for name, d in decide.items():
        cells = []
        for docs in (clean, canto):
            start = time.perf_counter()
            for t in docs:
                d(t)
            cells.append(f"{(time.perf_counter() - start) / len(docs) * 1e6:.1f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
