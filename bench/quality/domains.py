"""Domain lists on real Taiwan URLs: how many hit which list, and what the domains step costs per document.

    python -m bench.quality.domains [--show 8]

(data from ../shared/data/real beside the checkout, or $TWCURATE_REAL_DATA; nothing is copied into the repository)

1. Hits: the links in the Cofacts LINE messages' text, the url field of the real news articles and the links in the
   PTT news reposts' text, each URL's host against every shipped list (filters/data/domain_lists/), counted per list
   with the most frequent rules matched.
2. Cost: the step's `filter` on one document, with and without a URL, best of 5 passes over every URL above (one
   core), and the parts: host parsing and the lookups; and the time to load every list.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import Counter, defaultdict
from pathlib import Path

from datatrove.data import Document

from bench.common.paths import real_root
from filters.config import DomainListConfig
from filters.domains import DomainListFilter, DomainLists, url_host

# a link in Chinese text ends at whitespace, CJK punctuation, full-width forms or a closing bracket
LINK = re.compile(r"https?://[^\s\u3000-\u303f\uff00-\uffef<>\"'）)]+")


def urls(path: Path, field: str | None = None) -> list[str]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        out += ([rec[field]] if rec.get(field) else []) if field else LINK.findall(rec.get("text") or "")
    return out


def best_of(passes: int, fn, items) -> float:
    best = float("inf")
    for _ in range(passes):
        start = time.perf_counter()
        for x in items:
            fn(x)
        best = min(best, (time.perf_counter() - start) / len(items))
    return best * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--show", type=int, default=8, help="rules shown per list")
    args = ap.parse_args()
    sets = {
        "cofacts_line_msgs: links in the text": urls(real_root() / "cofacts_line_msgs" / "cofacts_msgs.jsonl"),
        "tw_news news_articles: url field": urls(real_root() / "tw_news" / "news_articles.jsonl", field="url"),
        "tw_news ptt_news_reposts: links in the text": urls(real_root() / "tw_news" / "ptt_news_reposts.jsonl"),
    }
    start = time.perf_counter()
    lists = DomainLists.load()
    print(f"lists {lists.version}: {len(lists.domains):,} domains, {len(lists.ips)} IPv4, "
          f"{sum(len(g) for _, g in lists.patterns.values())} host patterns; loaded in {(time.perf_counter() - start) * 1000:.0f} ms")
    for name, found in sets.items():
        hosts = [url_host(u) for u in found]
        per_list, rules = Counter(), defaultdict(Counter)
        hit = 0
        for host in hosts:
            match = lists.match(host) if host else {}
            hit += bool(match)
            for category, rule in match.items():
                per_list[category] += 1
                rules[category][rule] += 1
        print(f"\n{name}: {len(found)} URLs, {len(set(hosts))} hosts, {hit} URLs on a list")
        for category, n in per_list.most_common():
            print(f"  {category:20s} {n:5d}  " + ", ".join(f"{r} {c}" for r, c in rules[category].most_common(args.show)))
    every = [u for found in sets.values() for u in found]
    step = DomainListFilter(DomainListConfig())
    step.lists  # loaded before timing
    with_url = best_of(5, step.filter, [Document(text="x", id="i", metadata={"source": "s", "url": u}) for u in every])
    without = best_of(5, step.filter, [Document(text="x", id="i", metadata={"source": "s"}) for _ in every])
    hosts = [h for h in map(url_host, every) if h]
    print(f"\nstep cost over {len(every)} documents, one core: {with_url:.1f} µs with a URL (host parsing "
          f"{best_of(5, url_host, every):.1f} µs, lookups {best_of(5, lists.match, hosts):.1f} µs), {without:.2f} µs without")


if __name__ == "__main__":
    main()
