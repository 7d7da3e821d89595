"""PII on real Chinese text: identifiers inserted into real zh-TW sentences the way Chinese writes them, lookalikes that
are not identifiers, links in every real set, and the cost per 200-character document.

    python -m bench.pii.real_text [--n 400] [--seed 0] [--line-sample out.md]

(data from ../shared/data/real beside the checkout, or $TWCURATE_REAL_DATA; absent sets are skipped with a note)

1. Recall per kind and placement: each identifier (several written forms per kind, generated with valid checksums) is
   put into a real sentence from laws, news, PTT and LINE messages: run into Han characters (`none`), set off by
   spaces (`spaces`), or inside full-width punctuation (`fullwidth`: ：…，, （…）, 「…」). Found = the value is gone from
   the output (redacted kinds) or the kind is in `pii_tagged` (toll-free lines, 統一編號).
2. False positives per lookalike kind: dates, amounts, order and invoice numbers, ISBNs, statute numbers, version
   numbers, tweet/post ids in links, numbers in tables, checksum-invalid IDs and cards, unlabelled 8-digit numbers.
3. Redactions inside links: every document of every real zh-TW set, scanned by the default PII step; a placeholder
   inside a link that is not a contact (LINE add-friend, mailto:) counts.
4. With --line-sample: every Cofacts message stretch where a LINE handle or add-friend link can be (a LINE label
   before a colon, @, ~ or ID; 加賴; line.me/lin.ee links), up to 100, beside its redaction, for counting by hand.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections import Counter
from pathlib import Path

from bench.common.paths import real_root
from filters.config import PiiConfig
from filters.patterns import URL_WITH_HAN_PATH
from filters.pii import ID_LETTER, ID_WEIGHTS, luhn, scan, valid_business_id

TEXT_SETS = {  # name -> (path under the real data root, JSONL with a text field, or a folder of law JSON files)
    "laws": "tw_laws/FalVMingLing",
    "news": "tw_news/news_articles.jsonl",
    "ptt_news": "tw_news/ptt_news_reposts.jsonl",
    "ptt": "ptt_boards_2024/ptt_posts.jsonl",
    "line": "cofacts_line_msgs/cofacts_msgs.jsonl",
    "wiki": "drcd_wiki_zh_tw/drcd_articles.jsonl",
}
CFG = PiiConfig()
REDACT, TAG = frozenset(CFG.kinds), frozenset(CFG.tag_kinds)


def read_texts(name: str) -> list[str]:
    path = real_root() / TEXT_SETS[name]
    if not path.exists():
        return []
    if path.is_dir():  # laws: split JSON, articles under 法規內容
        texts = []
        for f in sorted(path.glob("*.json")):
            law = json.loads(f.read_text(encoding="utf-8-sig"))
            texts.append("\n".join(a.get("條文內容", "") for a in law.get("法規內容", []) if isinstance(a, dict)))
        return texts
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def sentences(texts: list[str], rng: random.Random, n: int) -> list[str]:
    """Real sentences of 12-80 characters, mostly Han, with no digits or Latin letters (so an inserted value is the only one)."""
    pool = []
    for t in texts:
        for s in re.split(r"(?<=[。！？\n])", t):
            s = s.strip()
            if 12 <= len(s) <= 80 and not re.search(r"[A-Za-z0-9０-９@]", s) and sum("\u4e00" <= c <= "\u9fff" for c in s) >= 0.6 * len(s):
                pool.append(s)
    rng.shuffle(pool)
    return pool[:n]


def digits(rng: random.Random, k: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(k))


def tw_id(rng: random.Random, second: str | None = None) -> str:
    letter = rng.choice(list(ID_LETTER))
    second = second or rng.choice("12")
    code2 = str(ID_LETTER[second] % 10) if second in "ABCD" else second
    body = digits(rng, 7)
    code = ID_LETTER[letter]
    total = sum(d * w for d, w in zip([code // 10, code % 10, int(code2), *map(int, body)], ID_WEIGHTS[:10]))
    return letter + second + body + str((10 - total % 10) % 10)


def card(rng: random.Random, prefix: str, length: int, valid: bool = True) -> str:
    while True:
        number = prefix + digits(rng, length - len(prefix))
        if luhn(number) == valid:
            return number


def business_id(rng: random.Random) -> str:
    while True:
        number = digits(rng, 8)
        if valid_business_id(number):
            return number


def grouped(number: str, sizes: tuple[int, ...], sep: str) -> str:
    out, i = [], 0
    for size in sizes:
        out.append(number[i:i + size])
        i += size
    return sep.join(out)


# kind -> list of (form name, maker returning (text to insert, the value that must disappear))
def makers(rng: random.Random) -> dict[str, list]:
    def mobile_forms():
        n = "09" + digits(rng, 8)
        return rng.choice([n, grouped(n, (4, 3, 3), "-"), grouped(n, (4, 3, 3), " "), grouped(n, (4, 6), "-"),
                           "+886-" + grouped(n[1:], (3, 3, 3), "-"), "+886 " + grouped(n[1:], (3, 3, 3), " "), "886-" + grouped(n[1:], (3, 3, 3), "-"),
                           "(+886)" + n[1:]])

    def landline_forms():
        area, sub = rng.choice([("02", 8), ("04", 8), ("03", 7), ("07", 7), ("049", 7), ("037", 6), ("089", 6)])
        s = digits(rng, 1).replace("0", "2") + digits(rng, sub - 1)
        head, tail = (s[:3], s[3:]) if sub == 6 else (s[:-4], s[-4:])  # 037-123-456, 02-2345-6789
        ext = rng.choice(["", "", f"#{digits(rng, 3)}", f"分機{digits(rng, 3)}"])
        return rng.choice([f"({area}){head}-{tail}", f"{area}-{head}-{tail}", f"{area}{s}", f"({area}) {head} {tail}",
                           f"+886-{area[1:]}-{head}-{tail}"]) + ext

    def hk_forms():
        n = rng.choice("5679") + digits(rng, 7)
        return rng.choice([f"+852 {n[:4]} {n[4:]}", f"+852-{n}", f"(852) {n[:4]}-{n[4:]}"])

    def email_forms():
        user = rng.choice(["xiaoming", "amy.chen", "tw_user", "jason123", "a.b+tag"]) + digits(rng, 2)
        return f"{user}@{rng.choice(['gmail.com', 'yahoo.com.tw', 'ms1.hinet.net', 'ntu.edu.tw', 'company.com.tw'])}"

    def line_forms():
        handle = rng.choice(["abc", "shop", "love", "tw", "money"]) + digits(rng, rng.randrange(2, 6))
        text = rng.choice([f"LINE ID：{handle}", f"LINE：{handle}", f"加賴：{handle}", f"賴:{handle}", f"Line ID {handle}",
                           f"加LINE @{handle}", f"LINE官方帳號 @{handle}", f"https://line.me/R/ti/p/%40{handle}",
                           f"https://line.me/ti/p/~{handle}", f"line.me/ti/p/@{handle}"])
        return text, handle

    return {
        "phone": [lambda: (v := mobile_forms(), v), lambda: (v := landline_forms(), v), lambda: (v := hk_forms(), v)],
        "phone_tollfree": [lambda: (v := rng.choice(["0800", "0809"]) + rng.choice(["-", "", " "]) + grouped(digits(rng, 6), (3, 3), rng.choice(["-", "", " "])), v)],
        "email": [lambda: (v := email_forms(), v)],
        "tw_id": [lambda: (v := tw_id(rng), v), lambda: (v := tw_id(rng, rng.choice("89")), v), lambda: (v := tw_id(rng, rng.choice("ABCD")), v)],
        "business_id": [lambda: (f"{rng.choice(['統一編號', '統編', '統一編號：', '統編:'])}{(v := business_id(rng))}", v)],
        "credit_card": [lambda: (v := grouped(card(rng, "4", 16), (4, 4, 4, 4), rng.choice([" ", "-", ""])), v),
                        lambda: (v := grouped(card(rng, rng.choice(["51", "55", "22"]), 16), (4, 4, 4, 4), rng.choice([" ", "-"])), v),
                        lambda: (v := grouped(card(rng, rng.choice(["34", "37"]), 15), (4, 6, 5), rng.choice([" ", ""])), v),
                        lambda: (v := card(rng, "35", 16), v)],
        "ip": [lambda: (v := ".".join(str(rng.randrange(1, 255)) for _ in range(4)), v)],
        "line_id": [line_forms],
    }


def lookalikes(rng: random.Random) -> dict[str, callable]:
    return {
        "date": lambda: rng.choice([f"2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}", f"2024/{rng.randrange(1, 13)}/{rng.randrange(1, 29)}",
                                    f"2024{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}", f"民國{rng.randrange(60, 114)}年{rng.randrange(1, 13)}月"]),
        "amount": lambda: rng.choice([f"{rng.randrange(1, 999)},{rng.randrange(1000):03d},{rng.randrange(1000):03d}元", f"NT${rng.randrange(1, 99)},{rng.randrange(1000):03d}",
                                      f"{rng.randrange(10000, 99999999)}元", f"新台幣{rng.randrange(1, 9999)}萬{rng.randrange(1, 9999)}元"]),
        "order_number": lambda: rng.choice([f"訂單編號{rng.choice(['TW', 'A', 'PO'])}{digits(rng, 12)}", f"訂單編號{'20' + digits(rng, 12)}",
                                            f"發票號碼{rng.choice('ABCDEFGH')}{rng.choice('ABCDEFGH')}-{digits(rng, 8)}", f"物流單號{'9' + digits(rng, 11)}"]),
        "isbn": lambda: rng.choice([f"ISBN 978-{rng.choice(['957', '986', '626'])}-{digits(rng, 2)}-{digits(rng, 4)}-{digits(rng, 1)}", f"ISBN{'978' + digits(rng, 10)}"]),
        "statute": lambda: rng.choice([f"第{rng.randrange(1, 2000)}條", f"第{rng.randrange(1, 300)}條之{rng.randrange(1, 5)}", f"釋字第{rng.randrange(100, 800)}號"]),
        "version": lambda: rng.choice([f"版本{rng.randrange(1, 9)}.{rng.randrange(10)}.{rng.randrange(10)}.{rng.randrange(100)}", f"v{rng.randrange(1, 9)}.{rng.randrange(20)}.{rng.randrange(20)}"]),
        "post_id_in_link": lambda: rng.choice([f"https://twitter.com/user/status/{'1' + digits(rng, 18)}", f"https://www.facebook.com/groups/{digits(rng, 15)}/posts/{card(rng, '4', 16)}/",
                                               f"https://x.com/i/status/{'18' + digits(rng, 17)}", f"https://i.imgur.com/{digits(rng, 10)}.jpg",
                                               f"https://www.ptt.cc/bbs/Gossiping/M.{'17' + digits(rng, 8)}.A.{digits(rng, 3)}.html",
                                               f"https://news.ltn.com.tw/news/life/breakingnews/{'4' + digits(rng, 6)}", f"https://www.youtube.com/watch?v={digits(rng, 11)}"]),
        "table_numbers": lambda: rng.choice([f"| {digits(rng, 4)} | {digits(rng, 4)} |", f"{rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)}",
                                             f"人口{rng.randrange(1, 99)},{rng.randrange(1000):03d},{rng.randrange(1000):03d}人", f"{digits(rng, 8)}"]),
        "invalid_checksum": lambda: rng.choice([(lambda v: v[:-1] + str((int(v[-1]) + 1) % 10))(tw_id(rng)), card(rng, "4", 16, valid=False)]),
        "coordinates_time": lambda: rng.choice([f"{rng.randrange(21, 26)}.{digits(rng, 4)}, {rng.randrange(119, 123)}.{digits(rng, 4)}", f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"]),
    }


def place(sentence: str, value: str, placement: str, rng: random.Random) -> str:
    k = rng.randrange(1, len(sentence) - 1)
    while k < len(sentence) - 1 and not ("\u4e00" <= sentence[k - 1] <= "\u9fff"):
        k += 1
    if placement == "spaces":
        value = f" {value} "
    elif placement == "fullwidth":
        left, right = rng.choice([("：", "，"), ("（", "）"), ("「", "」"), ("、", "。")])
        value = left + value + right
    return sentence[:k] + value + sentence[k:]


def found(kind: str, value: str, text: str) -> bool:
    result = scan(text, REDACT, TAG)
    if kind in TAG:
        return kind in result.tagged
    return value not in result.text and kind in result.redacted


def recall_table(pool: list[str], n: int, rng: random.Random) -> tuple[list[tuple], list[str]]:
    rows, misses = [], []
    for kind, forms in makers(rng).items():
        for placement in ("none", "spaces", "fullwidth"):
            hits = 0
            for i in range(n):
                text_value, value = forms[i % len(forms)]()
                text = place(pool[i % len(pool)], text_value, placement, rng)
                if found(kind, value, text):
                    hits += 1
                elif len(misses) < 30:
                    misses.append(f"{kind}/{placement}: {text}")
            rows.append((kind, placement, n, hits))
    return rows, misses


def false_positive_table(pool: list[str], n: int, rng: random.Random) -> tuple[list[tuple], list[str]]:
    rows, hits_shown = [], []
    for kind, make in lookalikes(rng).items():
        flagged = 0
        for i in range(n):
            text = place(pool[i % len(pool)], make(), rng.choice(["none", "spaces", "fullwidth"]), rng)
            r = scan(text, REDACT, TAG)
            if r.redacted or r.tagged:
                flagged += 1
                if len(hits_shown) < 20:
                    hits_shown.append(f"{kind}: {text} -> {r.text}")
        rows.append((kind, n, flagged))
    return rows, hits_shown


def links_redacted(texts_by_set: dict[str, list[str]]) -> tuple[Counter, Counter, list[str]]:
    """Per set: documents, links, and placeholders found inside a link that is not a contact."""
    links, inside, examples = Counter(), Counter(), []
    for name, texts in texts_by_set.items():
        for t in texts:
            out = scan(t, REDACT, TAG).text
            for m in URL_WITH_HAN_PATH.finditer(out):
                links[name] += 1
                if re.search(r"<(?:EMAIL|TW_ID|CREDIT_CARD|IP|PHONE|LINE_ID)>", m.group()):
                    inside[name] += 1
                    if len(examples) < 10:
                        examples.append(m.group())
    return links, inside, examples


def cost(texts: list[str], rounds: int = 3) -> float:
    chunks = [t[i:i + 200] for t in texts for i in range(0, len(t), 200)][:20000]
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for c in chunks:
            scan(c, REDACT, TAG)
        best = min(best, (time.perf_counter() - start) / len(chunks) * 1e6)
    return best


# a LINE label followed closely by a colon, @, ~ or "ID", 加賴/加LINE, or a LINE link: where a handle can be
LINE_MENTION = re.compile(r"(line\.me/(?:R/)?ti|lin\.ee|page\.line\.me|(?<![A-Za-z])(?:line|ＬＩＮＥ)(?![a-z])[^\n]{0,10}?(?:[:：@＠~]|id)"
                          r"|賴[^\n]{0,4}?[:：@＠]|加賴|加line)", re.IGNORECASE)


def line_mentions(texts: list[str], path: Path, k: int = 100) -> int:
    """Every LINE mention in the Cofacts messages (up to k) with the same stretch after redaction, for counting by hand
    which are handles or add-friend links and whether each was replaced."""
    rows = []
    for i, t in enumerate(texts):
        for m in LINE_MENTION.finditer(t):
            ctx = t[max(0, m.start() - 10):m.end() + 30]
            rows.append(f"| {i} | `{ctx}` | `{scan(ctx, REDACT, TAG).text}` |".replace("\n", " "))
    path.write_text(f"# LINE mentions in {len(texts)} Cofacts messages: {len(rows)}\n\n| message | text | redacted |\n|---|---|---|\n"
                    + "\n".join(rows[:k]) + "\n", encoding="utf-8")
    return len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=400, help="insertions per kind and placement, and lookalikes per kind")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--line-sample", type=Path, help="write the Cofacts LINE mentions (up to 100) with their redaction for hand counting")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    texts = {name: read_texts(name) for name in TEXT_SETS}
    missing = [name for name, t in texts.items() if not t]
    if missing:
        print(f"(absent under {real_root()}: {', '.join(missing)}; skipped)")
    host = [t for name in ("laws", "news", "ptt", "line") for t in texts[name]]
    if not host:
        raise SystemExit(f"no real zh-TW text under {real_root()}: nothing to insert identifiers into")
    pool = sentences(host, rng, 5000)
    print(f"\n### Recall: identifiers inserted into {len(pool)} real sentences (laws, news, PTT, LINE), seed {args.seed}\n")
    print("| kind | placement | inserted | found | recall |\n|---|---|---|---|---|")
    rows, misses = recall_table(pool, args.n, rng)
    for kind, placement, n, hits in rows:
        print(f"| {kind} | {placement} | {n} | {hits} | {hits / n:.3f} |")
    if misses:
        print("\nmissed (first 30):\n" + "\n".join(f"- {m}" for m in misses))
    print("\n### False positives: lookalikes inserted the same way\n")
    print("| lookalike | inserted | flagged | rate |\n|---|---|---|---|")
    fp_rows, shown = false_positive_table(pool, args.n, rng)
    for kind, n, flagged in fp_rows:
        print(f"| {kind} | {n} | {flagged} | {flagged / n:.4f} |")
    total_n, total_f = sum(r[1] for r in fp_rows), sum(r[2] for r in fp_rows)
    print(f"| all | {total_n} | {total_f} | {total_f / total_n:.4f} |")
    if shown:
        print("\nflagged (first 20):\n" + "\n".join(f"- {s}" for s in shown))
    print("\n### Links in the real zh-TW sets: placeholders inside non-contact links\n")
    links, inside, examples = links_redacted(texts)
    print("| set | documents | links | redacted inside a link |\n|---|---|---|---|")
    for name, t in texts.items():
        print(f"| {name} | {len(t)} | {links[name]} | {inside[name]} |")
    if examples:
        print("\n" + "\n".join(f"- {e}" for e in examples))
    print(f"\n### Cost: {cost(host):.1f} µs per 200-character document (best of 3, real text)")
    if args.line_sample:
        n = line_mentions(texts["line"], args.line_sample)
        print(f"\n{n} LINE mentions in the Cofacts messages written to {args.line_sample} (the first 100)")


if __name__ == "__main__":
    main()
