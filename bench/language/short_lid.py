"""Short Chinese social text through the language step (issue 13: >= 99% of the Chinese rows labeled zh).

    python -m bench.language.short_lid        # prints a Markdown table (copied into bench/RESULTS.md)

(data from ../shared/data/real beside the checkout, or $TWCURATE_REAL_DATA; absent sets are skipped with a note)

Rows of the labeled toxicity and spam sets (comments, SMS, chat ads: median 15-60 characters) whose letters are
mostly Han (Han >= half of Han + Latin + kana + Hangul letters, at least one Han character) are "Chinese rows".
Each goes through `LanguageFilter` with the default config, alone; a row counts as labeled zh when the step keeps
it. Dropped rows are counted by reason, with a few examples printed below the table.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter

from datatrove.data import Document

from bench.common.paths import real_root
from filters.config import LanguageConfig
from filters.language import LanguageFilter

SETS = ["cold/test.jsonl", "toxicn/test.jsonl", "swsr/all.jsonl", "sms_spam_80w_subset/all.jsonl", "qq_group_ads/all.jsonl",
        "game_chat_ads/dev.jsonl"]
HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
OTHER_LETTERS = re.compile(r"[A-Za-z\u3040-\u30ff\uac00-\ud7af]")


def chinese(text: str) -> bool:
    han = len(HAN.findall(text))
    return han > 0 and han >= (han + len(OTHER_LETTERS.findall(text))) / 2


def main() -> None:
    step = LanguageFilter(LanguageConfig())
    print("| set | Chinese rows | median characters | labeled zh | share zh | dropped by reason |\n|---|---|---|---|---|---|")
    examples = []
    for name in SETS:
        path = real_root() / name
        if not path.is_file():
            print(f"| {name} | skipped: not found under {real_root()} | | | | |")
            continue
        rows = [json.loads(line)["text"] for line in path.open(encoding="utf-8") if line.strip()]
        texts = [t for t in rows if isinstance(t, str) and chinese(t)]
        reasons = Counter()
        for i, text in enumerate(texts):
            verdict = step.filter(Document(text=text, id=str(i)))
            if verdict is not True:
                reasons[verdict[1]] += 1
                if len([e for e in examples if e[0] == name]) < 3:
                    examples.append((name, verdict[1], text[:80]))
        kept = len(texts) - sum(reasons.values())
        print(f"| {name} | {len(texts):,} | {statistics.median(len(t) for t in texts):.0f} | {kept:,} | {kept / len(texts):.2%} | "
              f"{', '.join(f'{r} {n}' for r, n in reasons.most_common()) or '-'} |")
    print("\nExamples of dropped rows:")
    for name, reason, text in examples:
        print(f"- {name} ({reason}): {text!r}")


if __name__ == "__main__":
    main()
