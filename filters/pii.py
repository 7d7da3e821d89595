"""Personal data: detected, validated where a checksum exists, and replaced by typed placeholders."""

from __future__ import annotations

import re

from datatrove.data import Document

from filters.base import CurationFilter, annotations
from filters.config import PiiConfig

# Taiwan ID letters -> two-digit codes (National ID and resident certificates share the table)
ID_LETTER = {c: v for c, v in zip("ABCDEFGHJKLMNPQRSTUVXYWZIO", range(10, 36))}
ID_WEIGHTS = (1, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1)

TW_ID = re.compile(r"(?<![A-Za-z0-9])[A-Z][12ABCD89]\d{8}(?![A-Za-z0-9])")
EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# mobile 09xx-xxx-xxx / +886 9xx xxx xxx; landline (0x) xxxx-xxxx, 0x-xxxxxxx(x), +886 x xxxx xxxx
PHONE = re.compile(
    r"(?<![\d\w])(?:"
    r"(?:\+886[- ]?|0)9\d{2}[- ]?\d{3}[- ]?\d{3}"
    r"|\(0\d{1,2}\)[- ]?\d{3,4}[- ]?\d{4}"
    r"|(?:\+886[- ]?|0)[2-8]\d?[- ]\d{3,4}[- ]?\d{4}"
    r")(?![\d])"
)
CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
IPV4 = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.])")


def valid_tw_id(s: str) -> bool:
    """National ID (2nd char 1/2), new resident certificate (8/9) or old one (A-D), by the official checksum."""
    if len(s) != 10 or s[0] not in ID_LETTER or not s[2:].isdigit():
        return False
    second = s[1]
    if second in "ABCD":  # old-format resident certificate: the letter's code, last digit
        second = str(ID_LETTER[second] % 10)
    elif second not in "1289":
        return False
    code = ID_LETTER[s[0]]
    digits = [code // 10, code % 10, int(second), *map(int, s[2:])]
    return sum(d * w for d, w in zip(digits, ID_WEIGHTS)) % 10 == 0


def luhn(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# one pass over the text: at each position the first alternative that matches wins (emails before the digit
# patterns they may contain, IDs and cards before phone numbers)
PATTERNS = (("email", EMAIL, "<EMAIL>", None), ("tw_id", TW_ID, "<TW_ID>", valid_tw_id), ("credit_card", CARD, "<CREDIT_CARD>", luhn),
            ("ip", IPV4, "<IP>", None), ("phone", PHONE, "<PHONE>", None))
ANY = re.compile("|".join(f"(?P<{kind}>{pattern.pattern})" for kind, pattern, _, _ in PATTERNS))
PLACEHOLDER = {kind: (placeholder, check) for kind, _, placeholder, check in PATTERNS}
MAYBE_PII = re.compile(r"@|\d[\d.\- ]{5,}")  # every pattern needs an @ or a run of 6+ digits, dots, dashes, spaces


def redact(text: str, kinds: set[str] | None = None) -> tuple[str, list[str]]:
    """(text with placeholders, sorted kinds found); values failing their checksum are left as they are."""
    if not MAYBE_PII.search(text):
        return text, []
    found: set[str] = set()

    def repl(m: re.Match) -> str:
        kind = m.lastgroup
        placeholder, check = PLACEHOLDER[kind]
        if (kinds is not None and kind not in kinds) or (check is not None and not check(m.group())):
            return m.group()
        found.add(kind)
        return placeholder

    return ANY.sub(repl, text), sorted(found)


class PiiRedactor(CurationFilter):
    """Replaces Taiwan national IDs and resident certificates (checksum-valid only), Taiwan mobile and landline
    numbers, emails, credit-card numbers (Luhn-valid only) and IPv4 addresses with `<TW_ID>`, `<PHONE>`,
    `<EMAIL>`, `<CREDIT_CARD>`, `<IP>`. Annotates `pii` with the kinds found. Never drops a document; it runs
    right after normalization, so nothing written later (shards or rejects) carries the original values."""

    name = "pii"

    def __init__(self, config: PiiConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config

    def filter(self, doc: Document) -> bool:
        doc.text, kinds = redact(doc.text, set(self.config.kinds))
        annotations(doc)["pii"] = kinds
        for kind in kinds:
            self.stat_update(f"redacted_{kind}")
        return True
