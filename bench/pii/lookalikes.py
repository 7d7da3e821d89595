"""The PII step as shipped on PII lookalikes and real identifiers written apart from the rules (issue 39).

    python -m bench.pii.lookalikes [bench/labels/pii/lookalikes_written.jsonl]

Each row is a sentence with one span: a lookalike the step must leave alone (`expect: keep`: versions, section numbers,
dotted dates, order and post ids, ISBNs, English "line:", numbers) or an identifier of a kind. The set was written by
someone who did not read filters/pii.py. Counted with the default config's kinds (replaced) and tag kinds (found,
left in place): a lookalike is wrong when its span is replaced or tagged; an identifier is found when its kind is.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from bench.common.paths import REPO
from filters.config import PiiConfig
from filters.pii import scan

DEFAULT = REPO / "bench" / "labels" / "pii" / "lookalikes_written.jsonl"


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    c = PiiConfig()
    total, wrong, examples = Counter(), Counter(), []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        result = scan(row["text"], set(c.kinds), set(c.tag_kinds))
        found = set(result.redacted) | set(result.tagged)
        total[row["kind"]] += 1
        if row["expect"] == "keep":
            bad = row["span"] not in result.text or bool(found)
        else:
            bad = row["expect"] not in found
        if bad:
            wrong[row["kind"]] += 1
            examples.append(f"- {row['kind']}: {row['text'][:80]} -> {sorted(found)}")
    print("| kind | rows | wrong | share right |\n|---|---|---|---|")
    for kind in sorted(total):
        print(f"| {kind} | {total[kind]} | {wrong[kind]} | {1 - wrong[kind] / total[kind]:.3f} |")
    print("\n" + "\n".join(examples))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
