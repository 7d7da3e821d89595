"""Precision of every segment-edit kind and PII kind on real forum text held back from rule writing (issue 39).

    python -m bench.quality.edit_precision sample [--data-root ../shared/data/real] [--per-kind 120]
    python -m bench.quality.edit_precision score

`sample` runs the default steps (`curate annotate`, as shipped) over the held-back part (bench/common/heldback.py: `test`)
of the real forum sets: PTT posts of eight boards, PTT Gossiping threads with their pushes, PTT news reposts, Cofacts
LINE messages. Every edit the run makes (removed or only tagged) and every PII replacement is collected, and up to
`--per-kind` of each kind (all when fewer) are drawn with a fixed seed into bench/out/edit_sample.jsonl (real text:
git-ignored) with two lines of context either side. People read that file and write a verdict per row to
bench/labels/edits/*.jsonl: `{"key", "kind", "verdict": "right"|"wrong", "note"}` (no text: the key names
the document and line). `score` prints precision per kind (right / judged) and which kinds reach 0.90.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections import Counter, defaultdict
from pathlib import Path

from bench.common.heldback import part
from bench.common.paths import REPO, real_root
from bench.quality.tw_labels import annotate_records
from filters.normalize import normalize_text

SAMPLE = REPO / "bench" / "out" / "edit_sample.jsonl"
VERDICTS = REPO / "bench" / "labels" / "edits"  # one or more *.jsonl files of verdicts
BAR = 0.90


def heldback_docs(root: Path) -> list[tuple[str, str]]:
    """(ref, text) of the held-back real forum documents."""
    docs = []
    for rel in ("ptt_boards_2024/ptt_posts.jsonl", "tw_news/ptt_news_reposts.jsonl", "cofacts_line_msgs/cofacts_msgs.jsonl"):
        path = root / rel
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                if part(str(rec["id"])) == "test":
                    docs.append((f"{rel}#{rec['id']}", rec["text"]))
    gossip = root / "ptt_gossiping_json" / "Gossiping.json"
    if gossip.is_file():
        for a in json.loads(gossip.read_text(encoding="utf-8"))["articles"]:
            if part(a["article_id"]) != "test":
                continue
            pushes = [f"{m.get('push_tag', '').strip()} {m.get('push_userid', '')}: {m.get('push_content', '').strip()}"
                      for m in a.get("messages", []) if isinstance(m, dict)]
            docs.append((f"ptt_gossiping_json/Gossiping.json#{a['article_id']}", "\n".join([a.get("content", ""), *pushes])))
    return docs


def line_key(kind: str, ref: str, line: int, text: str) -> str:
    """What a verdict names: the kind (one line may be a PII find and a contact line at once), the document, the line."""
    return f"{kind}|{ref}:{line}:{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def pii_rows(ref: str, text: str) -> list[dict]:
    """One row per line the PII step changes or tags, per kind it found there (as shipped: PiiConfig defaults)."""
    from filters.config import PiiConfig
    from filters.pii import scan

    c = PiiConfig()
    out = []
    for n, line in enumerate(text.split("\n")):
        result = scan(line, set(c.kinds), set(c.tag_kinds))
        for kind in sorted(set(result.redacted) | set(result.tagged)):  # a tagged kind (line_id) is still judged
            out.append({"key": line_key(f"pii:{kind}", ref, n, line), "kind": f"pii:{kind}", "text": line, "after": result.text})
    return out


def sample(root: Path, per_kind: int) -> None:
    docs = heldback_docs(root)
    results = annotate_records([text for _, text in docs])
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for (ref, original), res in zip(docs, results):
        # edits count lines of the normalized text (stripped, runs of blank lines made one): the context comes from it
        lines = normalize_text(original).split("\n")
        for e in res.get("segment_edits", []):
            n = e["line"]
            context = lines[max(0, n - 2):n] + [">>> " + e["text"]] + lines[n + 1:n + 3]
            by_kind[e["reason"]].append({"key": line_key(e["reason"], ref, n, e["text"]), "kind": e["reason"], "action": e["action"],
                                         "text": e["text"], "context": "\n".join(context)})
        for row in pii_rows(ref, original):
            by_kind[row["kind"]].append(row)
    rng = random.Random(39)
    SAMPLE.parent.mkdir(parents=True, exist_ok=True)
    with open(SAMPLE, "w", encoding="utf-8") as f:
        for kind in sorted(by_kind):
            rows = by_kind[kind]
            picked = rng.sample(rows, per_kind) if len(rows) > per_kind else rows
            for row in picked:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(docs)} held-back documents; edits found per kind (sampled up to {per_kind}) -> {SAMPLE}")
    for kind in sorted(by_kind):
        print(f"  {kind}: {len(by_kind[kind])}")


def score() -> int:
    files = sorted(VERDICTS.glob("*.jsonl"))
    if not files:
        print(f"no verdicts yet in {VERDICTS}")
        return 1
    sampled = {json.loads(x)["key"] for x in SAMPLE.read_text(encoding="utf-8").splitlines()} if SAMPLE.is_file() else None
    right, judged, seen = Counter(), Counter(), set()
    for line in (x for f in files for x in f.read_text(encoding="utf-8").splitlines()):
        if line.strip():
            v = json.loads(line)
            if sampled is not None and v["key"] not in sampled:
                continue  # a verdict on an edit the current defaults no longer make
            seen.add(v["key"])
            judged[v["kind"]] += 1
            right[v["kind"]] += v["verdict"] == "right"
    if sampled is not None and sampled - seen:
        print(f"({len(sampled - seen)} sampled edits have no verdict yet: read them in {SAMPLE})")
    print("| edit kind | judged | right | precision | default |")
    print("|---|---|---|---|---|")
    for kind in sorted(judged):
        p = right[kind] / judged[kind]
        print(f"| {kind} | {judged[kind]} | {right[kind]} | {p:.3f} | {'remove' if p >= BAR else 'tag'} |")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["sample", "score"])
    ap.add_argument("--data-root", type=Path, default=real_root())
    ap.add_argument("--per-kind", type=int, default=120)
    args = ap.parse_args()
    if args.command == "score":
        return score()
    if not args.data_root.exists():
        print(f"skipped: data root {args.data_root} not found", file=sys.stderr)
        return 0
    sample(args.data_root, args.per_kind)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
