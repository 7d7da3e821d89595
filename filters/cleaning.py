"""Line-level cleaning of forum, chat and web text: remove the lines that are not the author's writing (quoted
replies, repeats, forum templates and footers, share buttons, a copied Simplified line) so the document rules that
follow judge what is left, instead of dropping a thread for one bad line.

Anchors: C4's and FineWeb's line filters and Gopher's repetition checks after boilerplate removal (datatrove
`c4_filters.py`, `fineweb_quality_filter.py`): edit lines first, then decide the document on what is left.
"""

from __future__ import annotations

import re

from datatrove.data import Document

from filters.base import CurationFilter, annotations
from filters.config import CleaningConfig, ScriptConfig
from filters.patterns import URL_WITH_HAN_PATH, may_hold_url
from filters.script import ScriptDetector
from filters.segments import line_index, mostly_removed, remove_lines

# PTT's quote header and quoted lines (": text", ": : nested"), mail-style "> text"; a full-width ：
# opening a line is a law's or a list's continuation, not a quote
QUOTE_HEADER = re.compile(r"^\s*※\s*引述\s*《[^》]*》\s*之銘言")
QUOTE_LINE = re.compile(r"^(?::(?:\s|$)|>(?:\s|$))")
# lines the forum or site writes, not the author: PTT's system and board-template lines (※ 發信站, ※ 文章網址,
# ※ 編輯, ※ [本文轉錄自 ...], ※請勿刪減原文標題), its post header, "sent from" footers
SYSTEM_LINE = re.compile(
    r"^\s*(?:※\s*(?:發信站|文章網址|編輯|轉錄者|\[本文轉錄自|\[本文轉錄|引述)"
    r"|※\s*[^\n]{0,40}(?:請|勿|須|需|必需|必須|禁止|網址|原文|填寫|縮網址|違者|板規)"
    r"|(?:作者|看板|標題|時間)\s*[:：]?\s+\S"  # the header; only among a document's first lines (see below)
    r"|(?:分享自|發自我的|從我的\s*\S+\s*傳送|Sent (?:from|using) (?:my )?|Sent from|From my |Posted (?:from|via) |來自\s*[:：]\s*\S)"
    r"|-----\s*Sent from )",
    re.IGNORECASE,
)
HEADER_ONLY = re.compile(r"^\s*(?:作者|看板|標題|時間)\s*[:：]?\s+\S")
SIGNATURE_START = re.compile(r"^--\s*$")
# a list item, a table row or a labelled field: these repeat with meaning
LISTLIKE = re.compile(r"^\s*(?:[•·‧●○◦▪►▶◆◇■□・\-*+]|\(?\d{1,3}[.、)）]|[（(]\d{1,3}[)）]|[一二三四五六七八九十]+、)"
                      r"|(?:^|\s)[^\s:：]{1,8}[:：]|\t|\S\s{3,}\S")


def is_listlike(line: str) -> bool:
    """A list item, a labelled field, or a table row (four or more short cells: a header repeated over each table)."""
    if LISTLIKE.search(line):
        return True
    cells = line.split()
    return len(cells) >= 4 and all(len(cell) <= 12 for cell in cells) and not any(p in line for p in "，。！？")
# what a page's chrome says: share and navigation buttons, cookie banners. A line is chrome when every word on it is
UI_WORDS = frozenset(
    "分享 分享到 分享至 分享此文 轉寄 列印 列印本頁 回到頂部 回頂端 返回頂部 回上頁 上一篇 下一篇 上一則 下一則 加入好友 訂閱 按讚 "
    "留言 看更多 閱讀更多 更多 展開 收合 延伸閱讀 相關新聞 相關文章 熱門文章 推薦文章 更多新聞 最新文章 廣告 贊助 我知道了 同意 "
    "複製連結 複製網址 檢舉 收藏 字級 字體大小 小 中 大 facebook twitter line plurk email 推特 臉書 首頁 登入 註冊 會員 搜尋 "
    "選單 menu home share tweet 訂閱電子報 加入會員 立即訂閱 追蹤 已追蹤 讚 分享給朋友 | › » ‧ · ＞ >".split())
# one character or a dot is chrome only beside a real chrome word (小 中 大 is a font-size switch; 中 alone is text)
WEAK_UI_WORDS = frozenset(w for w in UI_WORDS if len(w) == 1)
UI_SPLIT = re.compile(r"[\s|｜/／、,，]+")
MAX_CHROME_CHARS = 80  # a line of share and navigation words is short
COOKIE = re.compile(r"cookie|隱私權政策|隱私政策", re.IGNORECASE)
COOKIE_CONTEXT = re.compile(r"使用|同意|接受|瀏覽|繼續")


NOT_WORD = re.compile(r"[\s\W_]+")


def _normalized(line: str) -> str:
    """A line as compared for repeats: quote prefixes, spaces and punctuation do not make it new."""
    return NOT_WORD.sub("", line)


QUOTES_IN_TEXT = re.compile(r"^(?:[ \t]*※[ \t]*引述[ \t]*《[^》\n]*》[ \t]*之銘言|:(?:[ \t]|$)|>(?:[ \t]|$))", re.MULTILINE)
SYSTEM_IN_TEXT = re.compile(SYSTEM_LINE.pattern.replace("^\\s*", "^[ \\t]*", 1), re.MULTILINE | re.IGNORECASE)
SIGNATURE_IN_TEXT = re.compile(r"^--[ \t]*$", re.MULTILINE)
_UI = "|".join(sorted((re.escape(w) for w in UI_WORDS), key=len, reverse=True))
# candidates only: is_chrome has the last word on each line the search finds
CHROME_IN_TEXT = re.compile(rf"^[ \t]*(?:{_UI})(?:[ \t|｜/／、,，]+(?:{_UI}))*[ \t|｜/／、,，]*$", re.MULTILINE | re.IGNORECASE)
COOKIE_IN_TEXT = re.compile(r"^[^\n]*(?:cookie|隱私權政策|隱私政策)", re.MULTILINE | re.IGNORECASE)


def han_share(text: str) -> float:
    return sum("\u4e00" <= ch <= "\u9fff" for ch in text) / max(len(text), 1)


def is_chrome(line: str) -> bool:
    """A line made only of share/navigation words, or a cookie banner."""
    if len(line) <= MAX_CHROME_CHARS:
        words = [w for w in UI_SPLIT.split(line.strip().lower()) if w]
        if words and all(w in UI_WORDS for w in words) and (len(words) >= 3 or not all(w in WEAK_UI_WORDS for w in words)):
            return True
    return len(line) <= 200 and bool(COOKIE.search(line)) and bool(COOKIE_CONTEXT.search(line))


class LineCleaner(CurationFilter):
    """Removes, line by line, what the author did not write for this document, and records every removal as a segment
    edit (filters/segments.py): reason `quoted_reply` (PTT `※ 引述` headers, `: ` and `> ` quoted lines: the post
    being answered, which is its own document), `repeated_line` (a line of at least `min_repeat_chars` characters
    already seen in the document, inside a repeated block or of `long_repeat_chars`; shorter repeats, a poem's refrain,
    a law's heading, list items and table rows stay), `template` (PTT system
    and board-template lines, the post header, `--` signatures, "sent from" footers), `page_chrome` (share/navigation
    buttons, cookie banners), `simplified_line` (a clearly Simplified line in a mostly Traditional document: a copied
    paragraph; removed, or converted to Taiwan Traditional with OpenCC when `simplified_lines: convert`). Sources of
    the kinds in `skip_kinds` (laws) are left whole. A document left with fewer than `min_kept_chars` characters (a
    reply that was all quote) is dropped as `mostly_<reason>`."""

    name = "clean"

    def __init__(self, config: CleaningConfig, script: ScriptConfig | None = None, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.script = ScriptDetector(script or ScriptConfig())
        self._converter = None

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        c = self.config
        if doc.metadata.get("kind") in c.skip_kinds:
            return True
        text = doc.text
        lines = text.split("\n")
        line_of = line_index(lines)
        reasons: dict[int, str] = {}
        # whole-text searches (MULTILINE) instead of a loop over lines: most lines match nothing, and the engine skips them in C
        if c.quoted_replies:
            self._quotes(text, line_of, reasons)
        if c.templates:
            self._templates(text, lines, line_of, reasons)
        if c.repeated_lines:
            self._repeats(lines, reasons)
        if c.simplified_lines != "keep":
            self._simplified(doc, lines, reasons)
        remove_lines(doc, reasons, self, self.name)
        annotations(doc).setdefault("edits", {})
        drop = mostly_removed(doc, self.name, c.min_kept_chars, c.max_removed_share)
        return (False, drop) if drop else True

    def _quotes(self, text: str, line_of, reasons: dict[int, str]) -> None:
        for m in QUOTES_IN_TEXT.finditer(text):
            reasons[line_of(m.start())] = "quoted_reply"

    def _templates(self, text: str, lines: list[str], line_of, reasons: dict[int, str]) -> None:
        c = self.config
        for m in SYSTEM_IN_TEXT.finditer(text):
            i = line_of(m.start())
            if i not in reasons and (i < c.header_lines or not HEADER_ONLY.match(lines[i])):
                reasons[i] = "template"
        for pattern in (CHROME_IN_TEXT, COOKIE_IN_TEXT):
            for m in pattern.finditer(text):
                i = line_of(m.start())
                if i not in reasons and is_chrome(lines[i]):
                    reasons[i] = "page_chrome"
        # a signature: the last "--" and the few lines after it to the end (PTT puts its 發信站 lines there too)
        signature = None
        for m in SIGNATURE_IN_TEXT.finditer(text):
            signature = line_of(m.start())
        if signature is not None and signature not in reasons:
            tail = [j for j in range(signature + 1, len(lines)) if lines[j].strip() and j not in reasons]
            if len(tail) <= c.max_signature_lines:
                for j in range(signature, len(lines)):
                    reasons.setdefault(j, "template")

    def _repeats(self, lines: list[str], reasons: dict[int, str]) -> None:
        """Prose repeats (half Han or more) inside a copied block (a line and its neighbour seen before as neighbours:
        a reply quoting the post above it) or of one long sentence. A log, a list or a table repeats single lines with meaning (two
        purchases, two shops' hours, a header per table): list items, rows and fields stay, and so do short repeats."""
        c = self.config
        # most documents repeat no line at all: a set of the stripped lines says so without normalizing each one
        raw = [line.strip(" \t:>") for line in lines]
        raw = [r for r in raw if len(r) >= c.min_repeat_chars]
        if len(set(raw)) == len(raw):
            return
        # pairs are recorded once both lines are read, so (key, next) found here occurred earlier in the document
        keyed = [(i, _normalized(QUOTE_LINE.sub("", line))) for i, line in enumerate(lines) if line.strip()]
        seen_lines: set[str] = set()
        seen_pairs: set[tuple[str, str]] = set()
        for n, (i, key) in enumerate(keyed):
            prev_key = keyed[n - 1][1] if n else None
            next_key = keyed[n + 1][1] if n + 1 < len(keyed) else None
            long_enough = len(key) >= c.min_repeat_chars
            if long_enough and key in seen_lines and i not in reasons and not is_listlike(lines[i]):
                copied_block = (prev_key, key) in seen_pairs or (key, next_key) in seen_pairs
                # prose only: a log's records, a roster or a filmography repeat names and numbers on purpose
                if (copied_block or len(key) >= c.long_repeat_chars) and han_share(key) >= 0.5:
                    reasons[i] = "repeated_line"
            if long_enough:
                seen_lines.add(key)
            if prev_key is not None:
                seen_pairs.add((prev_key, key))

    def _simplified(self, doc: Document, lines: list[str], reasons: dict[int, str]) -> None:
        """Clearly Simplified lines in a document whose kept lines are mostly Traditional, while they are a minority."""
        c, sc = self.config, self.script.config
        if not self.script.counts(doc.text).hans:
            return  # one pass over the whole text: most documents hold no Simplified-only character at all
        counts = []
        for i, line in enumerate(lines):
            if i in reasons or len(line) < sc.paragraph_min_chars:
                counts.append(None)
                continue
            text = URL_WITH_HAN_PATH.sub("", line) if may_hold_url(line) else line
            counts.append(self.script.counts(text))
        labels = [self.script.label(x) if x is not None and x.distinct >= sc.paragraph_min_script_chars else None for x in counts]
        simplified = [i for i, label in enumerate(labels) if label == "hans"]
        hans_chars = sum(len(lines[i]) for i in simplified)
        # a Traditional line may hold only a few Traditional-only characters: any majority of them decides its side
        hant_chars = sum(len(lines[i]) for i, x in enumerate(counts) if x is not None and x.hant > x.hans)
        # a bilingual or mostly Simplified text is the script step's to judge: only a minority by characters goes
        if not simplified or hant_chars <= hans_chars or hans_chars > c.max_simplified_share * sum(len(ln) for ln in lines):
            return
        if c.simplified_lines == "convert":
            self._convert(doc, lines, simplified)
        else:
            for i in simplified:
                reasons[i] = "simplified_line"

    def _convert(self, doc: Document, lines: list[str], indices: list[int]) -> None:
        if self._converter is None:
            import opencc

            self._converter = opencc.OpenCC("s2twp")
        for i in indices:
            lines[i] = self._converter.convert(lines[i])
        doc.text = "\n".join(lines)
        annotations(doc)["converted_lines"] = len(indices)
        self.stat_update("converted_simplified_lines", value=len(indices))

