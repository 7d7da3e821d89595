"""Personal data in Chinese text: detected where it is written the way Chinese is written (run into Han characters and
full-width punctuation), validated where a checksum exists, and replaced by typed placeholders or only tagged.

Boundaries: an identifier may touch anything but an ASCII letter or a digit on either side. Unicode `\\b` sees no
boundary between 機 and 0 (both are word characters), which is why 「請打手機0912345678聯絡我」 used to pass; a
lookaround on letters and digits alone still keeps a number from being cut out of a longer run (an order number, a
hash). Links are consumed whole before any identifier is looked for, so nothing inside a URL is redacted (tweet and
post ids, image ids) unless the link itself is a contact: a LINE add-friend link or a `mailto:`.

Lookalikes have the shape of an identifier and the context of something else, so context decides: a dotted quad after
版本/v/更新 or between 第 and 節 is a version or a section (更新1.0.0.7, 第4.1.2.1節), a phone-shaped number after an id's
label or glued by a dash to more digits is an id (訂單編號 0412345678, 2024-0212345678), "line:" between English words is
the word (The bottom line: keep it simple). The same identifiers glued to Chinese text without such context
(電話0912345678, IP位址192.168.1.1已封鎖, 加賴line:abc123) are still found.

What is redacted and what only tagged (docs/filters.md, "Personal data"): a person's ways to be reached or identified
(mobile and landline numbers, foreign numbers, emails, LINE IDs and add-friend links, national IDs and resident
certificates, credit cards, IP addresses) are replaced; a business's public identifiers (0800/0809 toll-free lines,
統一編號) are recorded in `pii_tagged` and left in the text: they are not personal and a CPT corpus reads better with
them.
"""

from __future__ import annotations

import re

from datatrove.data import Document

from filters.base import CurationFilter, StatName, annotations
from filters.config import PiiConfig

# Taiwan ID letters -> two-digit codes (National ID and resident certificates share the table)
ID_LETTER = {c: v for c, v in zip("ABCDEFGHJKLMNPQRSTUVXYWZIO", range(10, 36))}
ID_WEIGHTS = (1, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1)
BUSINESS_ID_WEIGHTS = (1, 2, 1, 2, 1, 2, 4, 1)

PLACEHOLDERS = {"email": "<EMAIL>", "tw_id": "<TW_ID>", "credit_card": "<CREDIT_CARD>", "ip": "<IP>", "phone": "<PHONE>",
                "line_id": "<LINE_ID>", "phone_tollfree": "<PHONE_TOLLFREE>", "business_id": "<BUSINESS_ID>"}
KINDS = tuple(PLACEHOLDERS)

L = r"(?<![A-Za-z0-9])"  # not the middle of a run of letters or digits; Han and punctuation may touch
R = r"(?![A-Za-z0-9])"
D = r"[0-9]"  # full-width digits are matched too: the text is searched with them folded to ASCII (same offsets)
S = r"[- .－]?"  # one optional separator between digit groups (0912-345-678, 0912 345 678, 0912.345.678)
INTL = r"(?:[+＋]\s?|\(\+?)"  # +886, ＋886, (+886), (886)

# (a bare domain starts where a run of letters and digits starts: tried inside a long run, its backtracking is quadratic)
URL = (r"(?:mailto:|(?:https?|ftp|line)://|www\.|(?<![A-Za-z0-9.-])(?:[A-Za-z0-9-]+\.)+(?:com|net|org|tw|cc|io|me|ly|gl|be|co|ee|hk|cn|jp|info|biz|tv)"
       r"(?=/))[!-~]*")
# a LINE add-friend or group link (line.me/ti/p/~id, line.me/R/ti/p/%40id, lin.ee/abc, page.line.me/id): a contact
LINE_CONTACT_URL = re.compile(r"^(?:https?://)?(?:(?:line\.me/(?:R/)?ti/(?:p|g|g2)/)|lin\.ee/|page\.line\.me/|line://ti/p/)", re.IGNORECASE)
EMAIL = r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![A-Za-z0-9-])"
# a LINE ID after its label: LINE ID：abc1234, 賴：abc, 加賴 abc, LINE官方帳號 @abc. After a colon or "ID" any handle;
# otherwise only an @handle or, after a space, one with a digit and a letter; LINE's own products (LINE Pay11月底,
# LINE TODAY, LINE Points) and 賴清德 are not IDs
LINE_LABEL = r"(?:(?<![A-Za-z])[Ll][Ii][Nn][Ee]|ＬＩＮＥ|賴|赖)"
# Also the ways posts glue an ID to its label: LINE（ID：ann.hsieh）, Line帳號 ：sunny-ho, LINE ID請搜yenyen.0314, 加我賴～～ID:
# bobo7788, and, for a handle of letters and digits only, 我的賴是momo1314, 加賴kevin55688, 加賴👉 chiachia99
LINE_GLUE = r"(?:是|為|为|給我|给我|請搜|请搜|搜尋|搜索|[ \t\u3000～~👉＝=「『（(【《])"  # not a comma: "i-line，365nm" lists
# (spaces are taken possessively, *+, and the look-aheads over a handle stop at its longest length: a run of spaces or
# of dots after a label must not make the engine try every split of it)
HANDLE_HAS_DIGIT_AND_LETTER = r"(?=[A-Za-z0-9_.-]{0,19}[0-9])(?=[A-Za-z0-9_.-]{0,19}[A-Za-z])"
LINE_ID = (rf"(?P<line_ctx>{LINE_LABEL}(?:\s*+(?:ID|Id|id|ＩＤ)(?![a-z])\s*+[:：]?\s*+(?:是|為|为)?|\s*+[:：]|[^\n@:：<]{{0,8}}?(?=\s*@)"
           rf"|(?:{LINE_GLUE}){{0,4}}(?:帳號|账号|ＩＤ|ID|Id|id)(?![a-z])(?:{LINE_GLUE}|[:：]){{0,4}}"
           rf"|(?:(?<=[賴赖])|(?:{LINE_GLUE}){{1,4}}){HANDLE_HAS_DIGIT_AND_LETTER}"
           rf"|\s++{HANDLE_HAS_DIGIT_AND_LETTER})\s*+)"
           r"(?P<line_handle>(?!https?:|(?i:pay|points?|today|bank|music|tv|store|taxi|shopping|official|games?|sticker|friends)(?![a-z]))"
           r"@?[A-Za-z0-9][A-Za-z0-9._-]{2,19})(?![A-Za-z0-9._-])")
TW_ID = rf"{L}[A-Z][12ABCD89]{D}{{8}}{R}"
# 統一編號 only after its label: eight digits alone are as often a date or an amount
BUSINESS_ID = rf"(?P<biz_ctx>(?:統一編號|統編|统一编号|營利事業統一編號)\s*[:：]?\s*)(?P<biz_number>{D}{{8}}){R}"
CARD = rf"{L}(?:4|5[1-5]|2[2-7]|3[47]|35|6[0-5]|62)(?:{D}[ -]?){{11,17}}{D}{R}"
IPV4 = r"(?:(?<=IP)|(?<=ip)|(?<![A-Za-z0-9.]))(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![0-9]|\.[0-9])"
EXTENSION = rf"(?:\s?(?:#|＃|分機|轉|ext\.?|EXT\.?)\s?{D}{{1,6}})?"
PHONE = (
    rf"{L}(?:"
    rf"(?:{INTL}886\)?{S}|886-)\(?0?(?:9{D}{{2}}{S}{D}{{3}}{S}{D}{{3}}|[2-8]{D}{{0,2}}\)?{S}{D}{{3,4}}{S}{D}{{3,4}}{EXTENSION})"  # +886 ...
    rf"|09{D}{{2}}{S}{D}{{3}}{S}{D}{{3}}"  # mobile
    rf"|080[09]{S}{D}{{3}}{S}{D}{{3}}"  # toll-free
    rf"|[(（]0[2-8]{D}{{0,2}}[)）]\s?{D}{{2,4}}{S}{D}{{3,4}}{EXTENSION}"  # (02)2345-6789, （02）2345-6789
    rf"|0[2-8]{D}{{0,2}}[- ]{D}{{3,4}}{S}{D}{{3,4}}{EXTENSION}"  # 02-2345-6789
    rf"|0[2-8]{D}{{7,8}}{EXTENSION}"  # 0223456789
    rf"|{INTL}852\)?{S}[2-9]{D}{{3}}{S}{D}{{4}}"  # Hong Kong
    rf"|{INTL}853\)?{S}6{D}{{3}}{S}{D}{{4}}"  # Macau
    rf"|(?:{INTL}86\)?{S})?1[3-9]{D}{S}{D}{{4}}{S}{D}{{4}}"  # mainland mobile
    rf"|(?:[+＋]\s?|\(\+)(?!886|852|853|86)[1-9]{D}{{0,2}}\)?{S}(?:{D}{S}){{6,12}}{D}"  # any other country code, with its +
    rf"){R}"
)
# eight digits with no area code count as a phone number only right after a word that announces one: a Hong Kong
# number beside a name (陳生 9123 4567), 電話 2345 6789
PHONE_LABEL = r"(?:電話|电话|手機|手机|專線|專線|聯絡|联系|聯繫|致電|致电|來電|來電|撥打|拨打|[Tt]el|TEL|[Pp]hone|WhatsApp|whatsapp|Whatsapp|先生|小姐|[陳陈黃黄李張张林王吳吴劉刘]生|太太)"
PHONE_LABELLED = rf"(?P<phone_ctx>{PHONE_LABEL}\s*[:：]?\s*)(?P<phone_number>[2-9]{D}{{3}}[- ]?{D}{{4}}){R}"

# one pass over the text: at each position the first alternative that matches wins. Links come first so nothing
# inside one is taken for an identifier; emails before the digit patterns they may contain; IDs and cards before phones
# every alternative's first character, so the engine skips the other positions (most of a Chinese text) at once
FIRST = "(?=[A-Za-z0-9+＋(（@賴赖ＬＩ統营營電电手專联聯致來撥拨先小陳陈黃黄李張张林王吳吴劉刘太])"
ANY = re.compile(FIRST + "(?:" + "|".join([
    f"(?P<url>{URL})", f"(?P<email>{L}{EMAIL})", f"(?P<line>{LINE_ID})", f"(?P<tw_id>{TW_ID})", f"(?P<business>{BUSINESS_ID})",
    f"(?P<credit_card>{CARD})", f"(?P<ip>{IPV4})", f"(?P<phone>{PHONE})", f"(?P<phone_labelled>{PHONE_LABELLED})",
]) + ")")
# every alternative needs an @, a run of digits, a LINE label or a link: most documents have none of these
MAYBE_PII = re.compile(r"@|[0-9０-９][0-9０-９.\- ]{5,}|[Ll][Ii][Nn][Ee]|lin\.ee|賴|赖|ＬＩＮＥ")
# a dotted quad after these is a version number, not an address (更新1.0.0.7, 升級到2.13.4.1, 版本：2.1.0.15, v2.3.4.5)
VERSION_BEFORE = re.compile(r"(?:(?:版本|版號|[Vv]ersion|更新|升級|韌體|固件|[Ff]irmware|[Bb]uild|[Rr]elease|驅動|驱动|[Dd]river|套件)[^\d\n]{0,4}"  # 版本號：, 更新到了
                            r"|(?:[Vv]er\.?|[Vv]|[Rr]ev\.?|版)[ \t]*)$")  # 版 alone only touching it: 版主 114.37.210.64 is an address
VERSION_AFTER = re.compile(r"(?:版|[-_+ ]?(?:beta|alpha|rc)(?![a-z]))", re.IGNORECASE)
# ... and one between 第 and 節 is a section (第4.1.2.1節, §4.1.2, 4.1.2.1小節): of two-digit parts at most, where an
# address placed in a statute's 第…條 still has a part of three digits most of the time
# (a table, figure or clause number of a document too: 表 5.2.1.3, 圖2.1.3.4, 條文 3.2.1.4, 規範表 10.2.1.4)
SECTION_BEFORE = re.compile(r"(?:第|§|表|圖|图|條文|条文|附錄|附录|章節|章节)\s*$")
SECTION_AFTER = re.compile(r"\s*(?:小?節|章|條|項|款)")
SMALL_PARTS = re.compile(r"^\d{1,2}\.\d{1,2}\.\d{1,2}\.\d{1,2}$")
# an address is announced by these (IP位址, 伺服器); four one-digit parts are otherwise a version or a section
IP_LABEL = re.compile(r"(?:IP|ip|Ip|位址|[Aa]ddress|主機|[Hh]ost|伺服器|[Ss]erver|DNS|dns|[Gg]ateway|閘道)[^\n]{0,6}$")
SINGLE_DIGIT_QUAD = re.compile(r"^\d\.\d\.\d\.\d$")
# a number after an id's label is the id (訂單編號 0412345678, 案號 2024 0312345678, 文章編號：2024-0212345678), not a
# phone number: the label may sit before a year or a prefix of the same id
ID_BEFORE = re.compile(r"(?:ISBN(?:-?1[03])?|編號|單號|訂單|代碼|代號|序號|案號|流水號|追蹤碼|追蹤號碼|貨號|型號|票號|條碼|(?<![A-Za-z])(?:[Nn]o\.?|[Ii][Dd])|[#＃])"
                       r"\s*[:：#＃]?\s*(?:[0-9A-Za-z]{1,8}[-/. ]?){0,2}$")
# ... or a piece of a longer dashed or dotted run of digits (an id or a date with a number glued on: 2024-0212345678)
GLUED_BEFORE = re.compile(r"(?:\d[-.]|(?:19|20)\d\d/)$")
PHONE_NO = re.compile(r"(?:[Tt]el|TEL|[Pp]hone|[Mm]obile|[Cc]ell|電話|手機)\.?\s*[Nn]o\.?\s*[:：]?\s*$")
PHONE_SHAPED = re.compile(r"09\d{8}|09\d{2}-\d{3}-\d{3}")
GLUED_AFTER = re.compile(r"[-.]\d")
# "line:" in English prose (The bottom line: keep it simple, Subject line: ...) is the word, not the app: a Latin word
# before the label, and after it an English word or a number rather than a handle (a digit and a letter, _, ., @)
LATIN_WORD_BEFORE = re.compile(r"[A-Za-z][A-Za-z'’-]*[ \t]+$")
EMAIL_AT_START = re.compile(EMAIL)
# RFC 2606 names: addresses under them reach no one (validate_email('test@example.com') in a code answer)
EXAMPLE_DOMAIN = re.compile(r"@(?:[A-Za-z0-9-]+\.)*(?:example\.(?:com|net|org)|[A-Za-z0-9-]+\.(?:test|example|invalid|localhost))$", re.IGNORECASE)
# fenced code blocks and inline code in chat text
CODE = re.compile(r"```.*?(?:```|$)|`[^`\n]+`", re.DOTALL)
TRAILING_PUNCT = ".,;:!?)]}'\""
FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
FULLWIDTH_DIGIT = re.compile("[０-９]")


def valid_tw_id(s: str) -> bool:
    """National ID (2nd char 1/2), new resident certificate (8/9) or old one (A-D), by the official checksum."""
    s = s.translate(FULLWIDTH_DIGITS)
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


def valid_business_id(s: str) -> bool:
    """統一編號: products' digit sums divisible by 5 (the 2023 rule, which accepts every number valid under the old
    rule of 10); a 7 in the seventh place may count as 0 or 1."""
    s = s.translate(FULLWIDTH_DIGITS)
    if len(s) != 8 or not s.isdigit():
        return False
    total = sum(sum(divmod(int(c) * w, 10)) for c, w in zip(s, BUSINESS_ID_WEIGHTS))
    return total % 5 == 0 or (s[6] == "7" and (total + 1) % 5 == 0)


def luhn(number: str) -> bool:
    digits = [int(c) for c in number.translate(FULLWIDTH_DIGITS) if c.isdigit()]
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


def phone_kind(number: str) -> str | None:
    """`phone`, `phone_tollfree`, or None for a Taiwan-shaped number with the wrong digit count."""
    digits = _national(number)
    if not digits.startswith("0"):
        return "phone"  # a foreign number: its shape was checked by the pattern
    if digits.startswith(("0800", "0809")):
        return "phone_tollfree" if len(digits) == 10 else None
    if digits.startswith("09"):
        return "phone" if len(digits) == 10 else None
    return "phone" if 9 <= len(digits) <= 10 else None  # landline: area code + subscriber number


def _national(number: str) -> str:
    """The national digits of a number (+886 2 ... -> 02...), before any extension."""
    number = re.split(r"#|＃|分機|轉|ext|EXT", number.translate(FULLWIDTH_DIGITS))[0]
    digits = "".join(c for c in number if c.isdigit())
    return "0" + digits[3:].lstrip("0") if digits.startswith("886") else digits


class Redaction:
    """The result of one pass: the text with placeholders, the kinds replaced and the kinds only tagged."""

    __slots__ = ("text", "redacted", "tagged")

    def __init__(self, text: str, redacted: set[str], tagged: set[str]):
        self.text, self.redacted, self.tagged = text, redacted, tagged


def scan(text: str, redact_kinds: set[str] | frozenset[str] = frozenset(KINDS), tag_kinds: set[str] | frozenset[str] = frozenset(),
         keep_example_emails: bool = False) -> Redaction:
    """Replace every identifier of `redact_kinds` by its placeholder; note those of `tag_kinds` without touching them."""
    redacted: set[str] = set()
    tagged: set[str] = set()
    if not MAYBE_PII.search(text):
        return Redaction(text, redacted, tagged)

    def act(kind: str, value: str) -> str:
        if kind in redact_kinds:
            redacted.add(kind)
            return PLACEHOLDERS[kind]
        if kind in tag_kinds:
            tagged.add(kind)
        return value

    def replace(m: re.Match) -> str:
        group = m.lastgroup
        value = text[m.start(group):m.end(group)]  # the original characters: full-width digits stay full-width
        original = lambda name: text[m.start(name):m.end(name)]  # noqa: E731
        if group == "url":
            if value.lower().startswith("mailto:"):
                address = EMAIL_AT_START.match(value, len("mailto:"))
                if not address:
                    return value  # mailto:x in a help page names no one
                return "mailto:" + act("email", address.group()) + value[address.end():]
            if LINE_CONTACT_URL.match(value):
                core = value.rstrip(TRAILING_PUNCT)
                return act("line_id", core) + value[len(core):]
            return value  # a link is never cut into; its ids are not personal data
        if group == "email":
            if keep_example_emails and EXAMPLE_DOMAIN.search(value):
                return value
            return act("email", value)
        if group == "line":
            handle = original("line_handle")
            if PHONE_SHAPED.fullmatch(handle.translate(FULLWIDTH_DIGITS)):
                return original("line_ctx") + act("phone", handle)  # LINE: 0912345678 is a phone number, whatever the label
            return original("line_ctx") + (handle if _english_line(text, m) else act("line_id", handle))
        if group == "tw_id":
            return act("tw_id", value) if valid_tw_id(value) else value
        if group == "business":
            number = original("biz_number")
            return original("biz_ctx") + (act("business_id", number) if valid_business_id(number) else number)
        if group == "credit_card":
            return act("credit_card", value) if luhn(value) else value
        if group == "ip":
            return value if _version_like(text, m.start(), m.end(), value) else act("ip", value)
        if group == "phone":
            kind = phone_kind(value)
            return act(kind, value) if kind and not _id_like(text, m.start(), m.end()) else value
        return original("phone_ctx") + act("phone", original("phone_number"))  # phone_labelled

    parts, last = [], 0
    # the patterns read full-width digits as ASCII ones; most texts hold none, and a search says so at a fraction of
    # what translating the whole text costs (str.translate looks every non-ASCII character up in the table)
    for m in ANY.finditer(text.translate(FULLWIDTH_DIGITS) if FULLWIDTH_DIGIT.search(text) else text):
        parts += [text[last:m.start()], replace(m)]
        last = m.end()
    parts.append(text[last:])
    return Redaction("".join(parts), redacted, tagged)


def _version_like(text: str, start: int, end: int, value: str) -> bool:
    """A dotted quad that is a version or section number by its context, or by its shape when no address is announced."""
    if IP_LABEL.search(text, max(0, start - 16), start):
        return False
    if VERSION_AFTER.match(text, end):
        return True
    if VERSION_BEFORE.search(text, max(0, start - 14), start):
        return True
    if SMALL_PARTS.match(value) and (SECTION_BEFORE.search(text, max(0, start - 4), start) or SECTION_AFTER.match(text, end)):
        return True
    return bool(SINGLE_DIGIT_QUAD.match(value))


def _id_like(text: str, start: int, end: int) -> bool:
    """A phone-shaped number that is an id by its label, or a piece of a longer dashed or dotted run of digits."""
    if PHONE_NO.search(text, max(0, start - 16), start):
        return False  # Phone No. 0912345678: the No. of a phone
    return bool(ID_BEFORE.search(text, max(0, start - 24), start) or GLUED_BEFORE.search(text, max(0, start - 5), start)
                or GLUED_AFTER.match(text, end))


def _english_line(text: str, m: re.Match) -> bool:
    """"line" after a Latin word, followed by a word or a number rather than a handle: the English word."""
    label = m.start("line_ctx")
    if text[label] not in "Ll" or not LATIN_WORD_BEFORE.search(text, max(0, label - 24), label):
        return False
    ctx, handle = m.group("line_ctx"), m.group("line_handle")
    if "id" in ctx.lower() or handle.startswith("@"):
        return False  # LINE ID: ..., LINE @shop: named as an account
    if not any(mark in ctx for mark in ":："):
        return True  # "line 12b" in an English sentence is a line of a file or a page
    has_letter, has_digit = any(c.isalpha() for c in handle), any(c.isdigit() for c in handle)
    return not (has_letter and (has_digit or "_" in handle or "." in handle))


def redact(text: str, kinds: set[str] | None = None) -> tuple[str, list[str]]:
    """(text with placeholders, sorted kinds replaced): every personal kind unless `kinds` names some; values failing
    their checksum are left as they are. Business identifiers are never replaced here (see `scan`)."""
    result = scan(text, set(kinds) if kinds is not None else DEFAULT_REDACTED)
    return result.text, sorted(result.redacted)


def redact_chat(text: str) -> tuple[str, list[str]]:
    """`redact` for SFT messages: code (fenced blocks, inline spans) keeps its numbers and only loses real email
    addresses; addresses under RFC 2606 example domains are left everywhere (they reach no one)."""
    if "`" not in text:
        result = scan(text, DEFAULT_REDACTED, keep_example_emails=True)
        return result.text, sorted(result.redacted)
    parts, found, last = [], set(), 0
    for m in CODE.finditer(text):
        prose = scan(text[last:m.start()], DEFAULT_REDACTED, keep_example_emails=True)
        code = scan(m.group(), {"email"}, keep_example_emails=True)
        parts += [prose.text, code.text]
        found |= prose.redacted | code.redacted
        last = m.end()
    tail = scan(text[last:], DEFAULT_REDACTED, keep_example_emails=True)
    parts.append(tail.text)
    return "".join(parts), sorted(found | tail.redacted)


# `redact` and `redact_chat` (SFT messages) replace every personal kind; the CPT step's own defaults are PiiConfig's
# (line_id only tagged there: bench/RESULTS.md, issue 39)
DEFAULT_REDACTED = frozenset({"tw_id", "phone", "email", "credit_card", "ip", "line_id"})


class PiiRedactor(CurationFilter):
    """Replaces personal identifiers with typed placeholders and tags business identifiers (kinds and placeholders in
    the "Personal data" table of docs/filters.md; `kinds` and `tag_kinds` choose). Annotates `pii` with the kinds replaced and
    `pii_tagged` with those only found. Never drops a document; it runs right after normalization, so nothing written
    later (shards or rejects) carries the original values."""

    name = "pii"

    def __init__(self, config: PiiConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.redact_kinds = frozenset(config.kinds)
        self.tag_kinds = frozenset(config.tag_kinds) - self.redact_kinds

    def filter(self, doc: Document) -> bool:
        result = scan(doc.text, self.redact_kinds, self.tag_kinds)
        doc.text = result.text
        ann = annotations(doc)
        ann["pii"] = sorted(result.redacted)
        if result.tagged:
            ann["pii_tagged"] = sorted(result.tagged)
        for kind in result.redacted:
            self.stat_update(StatName("redacted", kind).name)
        for kind in result.tagged:
            self.stat_update(StatName("tagged", kind).name)
        return True
