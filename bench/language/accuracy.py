"""Accuracy and speed of language ID, script and Taiwan-phrasing labels on real human-written text.

    python -m bench.language.accuracy          # prints a Markdown report (copied into bench/RESULTS.md)

Ground truth:
- zh vs non-zh: zh = LibreOffice help pages zh-TW / zh-CN and zh_TW / zh_CN gettext catalogs whose Han
  characters are >= 50 and >= half of Han+Latin letters (pages left in English are not "zh" documents);
  non-zh = gettext catalogs of 20 other languages. Documents of 50-1000 characters.
- script: hant = zh-TW help pages, hans = zh-CN help pages, mixed = the first 600 characters of a zh-TW page
  followed by a paragraph of 200+ characters of a different zh-CN page (a Traditional article with a Simplified tail).
- region, Traditional text >= 200 characters: tw = zh-TW help pages and Debian Reference zh-TW sections;
  cn = zh-CN help pages and zh_CN man pages converted character-by-character with OpenCC s2t (mainland wording
  in Traditional characters, as mechanically converted text is). `unknown` counts as an error.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter

import opencc
from datatrove.data import Document

from bench.common.corpora import debian_reference_tw, gettext_docs, han_count, libreoffice_help, manpages
from filters.config import LanguageConfig, ScriptConfig
from filters.language import LanguageFilter
from filters.script import ScriptFilter

OTHER_LANGS = ["de", "fr", "es", "it", "pt", "ru", "ja", "ko", "vi", "th", "ar", "he", "pl", "nl", "sv", "tr", "uk", "cs", "id", "hi"]


def is_zh(text: str) -> bool:
    han = han_count(text)
    latin = len(re.findall(r"[A-Za-z]", text))
    return han >= 50 and han >= (han + latin) / 2


def confusion(pairs: list[tuple[str, str]], labels: list[str]) -> str:
    c = Counter(pairs)
    preds = labels + sorted({p for _, p in pairs} - set(labels))
    rows = ["| truth \\ predicted | " + " | ".join(preds) + " |", "|---" * (len(preds) + 1) + "|"]
    for t in labels:
        rows.append(f"| {t} | " + " | ".join(str(c[(t, p)]) for p in preds) + " |")
    return "\n".join(rows)


def accuracy(pairs) -> float:
    return sum(t == p for t, p in pairs) / len(pairs)


def main() -> None:
    rng = random.Random(0)
    tw_help, cn_help = libreoffice_help("zh-TW"), libreoffice_help("zh-CN")
    lang = LanguageFilter(LanguageConfig())
    script = ScriptFilter(ScriptConfig(action="tag"))

    # -- zh vs non-zh ---------------------------------------------------------------------------------
    zh_docs = [d[:1000] for d in tw_help + cn_help + gettext_docs("zh_TW") + gettext_docs("zh_CN") if is_zh(d[:1000])]
    other = [d[:1000] for lg in OTHER_LANGS for d in gettext_docs(lg) if len(d) >= 50]
    lid_pairs = []
    for truth, docs in (("zh", zh_docs), ("non-zh", other)):
        for d in docs:
            keep, _ = lang.predict(d)
            label = "zh" if keep == "zh" and _ >= lang.config.threshold else "non-zh"
            lid_pairs.append((truth, label))

    # -- script ---------------------------------------------------------------------------------------
    tw_zh = [d for d in tw_help if is_zh(d)]
    cn_zh = [d for d in cn_help if is_zh(d)]
    cn_paras = [p for d in cn_zh for p in d.split("\n") if han_count(p) >= 60]
    mixed = [tw_zh[i][:600] + "\n" + rng.choice(cn_paras) for i in rng.sample(range(len(tw_zh)), 500)]
    script_pairs = [(t, script.analyse(d)["script"]) for t, docs in (("hant", tw_zh), ("hans", cn_zh), ("mixed", mixed)) for d in docs]

    # -- region on Traditional text -------------------------------------------------------------------
    s2t = opencc.OpenCC("s2t")
    tw_trad = [d for d in tw_zh + debian_reference_tw() if len(d) >= 200 and is_zh(d)]
    cn_trad = [s2t.convert(d) for d in cn_zh + manpages("zh_CN") if len(d) >= 200 and is_zh(d)]
    region_pairs = [(t, script.analyse(d[:3000])["region"]) for t, docs in (("tw", tw_trad), ("cn", cn_trad)) for d in docs]
    zh_tw_man = Counter(script.analyse(d)["region"] for d in manpages("zh_TW") if len(d) >= 200 and is_zh(d))

    # -- throughput on ~1000-character documents -------------------------------------------------------
    bench_docs = [d[:1000] for d in tw_zh + cn_zh if len(d) >= 900][:1000]
    from datatrove.pipeline.filters import LanguageFilter as StockLanguageFilter

    from fasttext.FastText import _FastText

    from filters.language import default_model_path

    stock = StockLanguageFilter(languages=["zh"])
    # stock datatrove downloads lid.176.bin on first use; no download is possible here, so the same
    # lid.176.ftz twcurate uses is injected (same model family, same predict call datatrove makes)
    stock.model._model = _FastText(str(default_model_path()))
    timings = {}
    for name, fn in (("twcurate LID + script + phrasing", lambda d: (lang.filter(d), script.filter(d))),
                     ("twcurate script + phrasing only", script.filter),
                     ("datatrove LanguageFilter (stock)", stock.filter)):
        docs = [Document(text=t, id=str(i)) for i, t in enumerate(bench_docs)]
        fn(docs[0])
        start = time.perf_counter()
        for d in docs:
            fn(d)
        timings[name] = len(docs) / (time.perf_counter() - start)

    print("### zh vs non-zh (fastText lid.176.ftz, threshold 0.5)\n")
    print(f"documents: {len(zh_docs)} zh, {len(other)} non-zh ({len(OTHER_LANGS)} languages); accuracy **{accuracy(lid_pairs):.4f}**\n")
    print(confusion(lid_pairs, ["zh", "non-zh"]))
    print("\n### Script: hant / hans / mixed\n")
    print(f"documents: {len(tw_zh)} hant, {len(cn_zh)} hans, {len(mixed)} mixed; accuracy **{accuracy(script_pairs):.4f}**\n")
    print(confusion(script_pairs, ["hant", "hans", "mixed"]))
    print("\n### Region (Taiwan vs mainland phrasing) on Traditional text >= 200 characters\n")
    print(f"documents: {len(tw_trad)} tw, {len(cn_trad)} cn; accuracy **{accuracy(region_pairs):.4f}** (unknown counts as wrong)\n")
    print(confusion(region_pairs, ["tw", "cn"]))
    print(f"\nmanpages-zh zh_TW (Traditional, converted from zh_CN upstream), region labels: {dict(zh_tw_man)}")
    print(f"\n### Throughput, one core, {len(bench_docs)} documents of 900-1000 characters\n")
    print("| step | docs/s |\n|---|---|")
    for name, rate in timings.items():
        print(f"| {name} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
