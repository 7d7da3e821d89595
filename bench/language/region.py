"""Region (Taiwan vs mainland phrasing) on paragraphs: phrase lists alone, the region model alone, and the script
step as shipped (phrases first, the model where they do not decide). Unknown counts as wrong.

    python -m bench.language.region_catalogs -o bench/data/region && python -m bench.language.region [CARD.json]     # prints Markdown

Sets: the test part of the parallel catalogs (bench/language/region_catalogs.py; paragraphs >= 50 characters, zh_TW as
written, zh_CN converted to Traditional characters with OpenCC s2t), and out of the catalogs' domain: real zh-TW
text (DRCD wiki, news, PTT: all Taiwan) and mainland text in Traditional characters (THUCNews titles, COLD test
comments, each OpenCC s2t), read from ../shared/data/real when present.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

import orjson

from bench.common.paths import REPO, real_root
from filters.config import ScriptConfig
from filters.script import ScriptFilter

CATALOGS = REPO / "bench" / "data" / "region"
MIN_CHARS = 50


def jsonl(path: Path, limit: int | None = None) -> list[dict]:
    rows = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    return rows[:limit] if limit else rows


def paragraphs(texts: list[str], limit: int) -> list[str]:
    """Paragraphs of at least MIN_CHARS characters, at most `limit`, in file order."""
    out = []
    for t in texts:
        out += [p.strip() for p in t.split("\n") if len(p.strip()) >= MIN_CHARS]
        if len(out) >= limit:
            break
    return out[:limit]


def out_of_domain() -> list[tuple[str, str, list[str]]]:
    """(set name, true region, paragraphs) of the real sets present."""
    import opencc

    s2t = opencc.OpenCC("s2t")
    sets = []
    specs = [("DRCD wiki (zh-TW)", "tw", "drcd_wiki_zh_tw/drcd_articles.jsonl", False),
             ("news (zh-TW)", "tw", "tw_news/news_articles.jsonl", False),
             ("PTT posts (zh-TW)", "tw", "ptt_boards_2024/ptt_posts.jsonl", False),
             ("THUCNews titles, s2t (mainland)", "cn", "thucnews_titles_zh_cn/thucnews_titles.jsonl", True),
             ("COLD test comments, s2t (mainland)", "cn", "cold/test.jsonl", True)]
    for name, region, rel, convert in specs:
        path = real_root() / rel
        if not path.is_file():
            print(f"(skipped {name}: {path} not found)", file=sys.stderr)
            continue
        texts = [r["text"] for r in jsonl(path)]
        if "THUCNews" in name:  # titles are short: ten of them make one paragraph
            texts = ["，".join(texts[i:i + 10]) for i in range(0, len(texts), 10)]
        paras = paragraphs(texts, 2000)
        sets.append((name, region, [s2t.convert(p) for p in paras] if convert else paras))
    return sets


def evaluate(step: ScriptFilter, rows: list[tuple[str, str]]) -> dict[str, Counter]:
    """Predicted region per truth, for phrases alone, model alone, and the step."""
    out = {"phrases": Counter(), "model": Counter(), "step": Counter()}
    for text, truth in rows:
        out["phrases"][(truth, step.phrasing.region(text)[0])] += 1
        out["model"][(truth, step.region_model.region(text)[0])] += 1
        out["step"][(truth, step.analyse(text)["region"])] += 1
    return out


def main() -> int:
    if not (CATALOGS / "test.jsonl").is_file():
        raise SystemExit(f"{CATALOGS}/test.jsonl not found: run `python -m bench.language.region_catalogs -o {CATALOGS}` first")
    model = sys.argv[1] if len(sys.argv) > 1 else None  # a model card to evaluate instead of the shipped one
    step = ScriptFilter(ScriptConfig(action="tag", region_model_path=model))
    test = [(r["text"], r["label"]) for r in jsonl(CATALOGS / "test.jsonl") if len(r["text"]) >= MIN_CHARS]
    print(f"### Region on catalog test paragraphs >= {MIN_CHARS} characters ({len(test)}: "
          f"{sum(t == 'tw' for _, t in test)} tw, {sum(t == 'cn' for _, t in test)} cn)\n")
    print("| method | accuracy | tw -> tw / cn / unknown | cn -> cn / tw / unknown |\n|---|---|---|---|")
    for method, c in evaluate(step, test).items():
        acc = (c[("tw", "tw")] + c[("cn", "cn")]) / len(test)
        print(f"| {method} | **{acc:.4f}** | {c[('tw', 'tw')]} / {c[('tw', 'cn')]} / {c[('tw', 'unknown')]} "
              f"| {c[('cn', 'cn')]} / {c[('cn', 'tw')]} / {c[('cn', 'unknown')]} |")
    print(f"\n### Out of the catalogs' domain: paragraphs >= {MIN_CHARS} characters\n")
    print("| set | truth | paragraphs | step: tw / cn / unknown | model alone: tw / cn / unknown | step accuracy |\n"
          "|---|---|---|---|---|---|")
    for name, truth, paras in out_of_domain():
        c = evaluate(step, [(p, truth) for p in paras])
        s, m = c["step"], c["model"]
        print(f"| {name} | {truth} | {len(paras)} | {s[(truth, 'tw')]} / {s[(truth, 'cn')]} / {s[(truth, 'unknown')]} "
              f"| {m[(truth, 'tw')]} / {m[(truth, 'cn')]} / {m[(truth, 'unknown')]} | {s[(truth, truth)] / len(paras):.4f} |")
    texts = [t for t, _ in test]
    start = time.perf_counter()
    for t in texts:
        step.region_model.classifier.score(t)
    print(f"\nregion model: {(time.perf_counter() - start) / len(texts) * 1e6:.0f} µs per paragraph (one core)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
