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
# ※ 編輯, ※ [本文轉錄自 ...], ※請勿刪減原文標題), its post header
SYSTEM_LINE = re.compile(
    r"^\s*(?:※\s*(?:發信站|文章網址|編輯|轉錄者|\[本文轉錄自|\[本文轉錄|引述)"
    r"|※\s*[^\n]{0,40}(?:請|勿|須|需|必需|必須|禁止|網址|原文|填寫|縮網址|違者|板規)"
    r"|(?:作者|看板|標題|時間)\s*[:：]?\s+\S)",  # the header; only among a document's first lines (see below)
    re.IGNORECASE,
)
# "sent from" footers an app or a forum appends, often behind a dash (- 分享自 Mobile01 討論區, -- Sent from my Pixel).
# Their opening words also open sentences (分享自己的經驗, 分享自家種的芭樂, 發自我的內心, From my experience), so a
# footer names a device or a site after them and is a short line with no sentence punctuation (is_footer)
FOOTER_LINE = re.compile(
    r"^[ \t]*[-—–─=_~]*[ \t]*(?:分享自(?!己|家|身|我(?!的))|發自我的\s*(?:[A-Za-z]|手機|平板|行動裝置)|從我的\s*\S+\s*傳送"
    r"|Sent (?:from|using|via)\s|Posted (?:from|via)\s|From my (?:iPhone|iPad|Android|mobile|phone|Samsung|Galaxy|Pixel|HTC|ASUS|Sony|Xperia)"
    r"|來自\s*[:：]\s*\S)",
    re.IGNORECASE | re.MULTILINE,
)
MAX_FOOTER_CHARS = 80
SENTENCE_PUNCT = re.compile(r"[，。！？；]")
RULE_LINE = re.compile(r"^\s*[-—–─=_~]{3,}\s*$")  # a dash rule above a footer belongs to it


def is_footer(line: str) -> bool:
    """A footer line is short and no sentence: 分享自 巴哈姆特, never 分享自家種的芭樂，歡迎來拿."""
    return len(line.strip()) <= MAX_FOOTER_CHARS and not SENTENCE_PUNCT.search(line) and bool(FOOTER_LINE.match(line))


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
# what a page's chrome says: share and navigation buttons, cookie banners. Most of these words are ordinary words too:
# 同意, 分享, 更多, 留言 or 讚 alone on a line is as often an author's answer (a 同意／不同意 vote, a one-word reply),
# so a line is chrome when every word on it is a UI word and it holds several different ones (分享 Facebook LINE,
# 上一篇 | 下一篇), or a phrase only a page's bar writes (BAR_PHRASES), never one ordinary word on its own
UI_WORDS = frozenset(
    "分享 分享到 分享至 分享此文 轉寄 列印 列印本頁 回到頂部 回頂端 返回頂部 回上頁 上一篇 下一篇 上一則 下一則 加入好友 訂閱 按讚 "
    "留言 看更多 閱讀更多 更多 展開 收合 延伸閱讀 相關新聞 相關文章 熱門文章 推薦文章 更多新聞 最新文章 廣告 贊助 我知道了 同意 "
    "複製連結 複製網址 檢舉 收藏 字級 字體大小 小 中 大 facebook twitter line plurk email 推特 臉書 首頁 登入 註冊 會員 搜尋 "
    "選單 menu home share tweet 訂閱電子報 加入會員 立即訂閱 追蹤 已追蹤 讚 分享給朋友".split())
BAR_PHRASES = frozenset(
    "分享到 分享至 分享此文 列印本頁 回到頂部 回頂端 返回頂部 回上頁 看更多 閱讀更多 延伸閱讀 相關新聞 相關文章 熱門文章 推薦文章 "
    "更多新聞 最新文章 複製連結 複製網址 字體大小 訂閱電子報 立即訂閱 分享給朋友".split())
# separators between buttons: allowed on a chrome line, never a word of it
UI_SEPARATORS = frozenset("| › » ‧ · ＞ >".split())
UI_SPLIT = re.compile(r"[\s|｜/／、,，]+")
MAX_CHROME_CHARS = 80  # a line of share and navigation words is short
# a "show more" link left where a page folded its text or comments: chrome when the line is only that
SHOW_MORE = re.compile(
    r"^[ \t]*(?:(?:顯示|查看|看|載入|展開|閱讀)(?:更多|全部|全文)(?:留言|回應|回覆|內容|評論|文章)?|展開全文|繼續閱讀|閱讀全文|查看全文"
    r"|看完整(?:內容|文章)|(?:show|read|see|view|load)[ \t]+more(?:[ \t]+(?:comments|replies))?|continue[ \t]+reading)"
    r"[ \t.…»›>▼▾⌄→]*$",
    re.IGNORECASE | re.MULTILINE,
)
# a cookie banner says who sets cookies and asks for consent (本網站使用 Cookie…繼續瀏覽即表示您同意; We use cookies…
# you agree), or is one of its buttons; a paragraph that explains an access cookie does neither, and a banner is short
COOKIE = re.compile(r"cookie|隱私權政策|隱私政策", re.IGNORECASE)
COOKIE_NOTICE = re.compile(r"(?:本網站|本站|網站|本網頁|此網站|我們)[^。\n]{0,12}(?:使用|採用|利用|運用)[^。\n]{0,12}cookie"
                           r"|(?:we|this (?:web)?site|our (?:web)?site)\s+uses?\s+cookies", re.IGNORECASE)
COOKIE_CONSENT = re.compile(r"同意|接受|繼續(?:瀏覽|使用)|隱私權?政策|[了瞭]解更多|accept|agree|consent|continu|privacy|learn more", re.IGNORECASE)
COOKIE_BUTTON = re.compile(r"^\s*(?:(?:接受|同意|拒絕|允許|管理)(?:所有|全部)?\s*cookies?(?:\s*設定)?|(?:accept|reject|allow|manage)(?: all)?\s+cookies?"
                           r"|cookies?\s*(?:設定|settings|preferences))\s*$", re.IGNORECASE)
MAX_BANNER_CHARS = 150


NOT_WORD = re.compile(r"[\s\W_]+")


def _normalized(line: str) -> str:
    """A line as compared for repeats: quote prefixes, spaces and punctuation do not make it new."""
    return NOT_WORD.sub("", line)


QUOTES_IN_TEXT = re.compile(r"^(?:[ \t]*※[ \t]*引述[ \t]*《[^》\n]*》[ \t]*之銘言|:(?:[ \t]|$)|>(?:[ \t]|$))", re.MULTILINE)
# a quote of a quote (": : text"), a quoted push or a quoted header: only a reply quoting a post writes these
QUOTE_EVIDENCE = re.compile(r"^[:>][ \t]*(?:[:>](?:[ \t]|$)|※[ \t]*引述|(?:推|噓|→)[ \t]*[^\s:：]+[ \t]*[:：])")
REPLY_INTRO = re.compile(r"(?:wrote|writes|寫道|寫到)[ \t]*[:：][ \t]*$", re.IGNORECASE)  # On ..., someone wrote:
# what introduces a list of poll options or answers the author writes with ": " or "> " in front of each
OPTION_INTRO = re.compile(r"[？?：:][ \t]*$|投票|選項|票選|選擇|哪(?:個|一|種|些|家|間|位)")
MAX_OPTION_CHARS = 20
SYSTEM_IN_TEXT = re.compile(SYSTEM_LINE.pattern.replace("^\\s*", "^[ \\t]*", 1), re.MULTILINE | re.IGNORECASE)
SIGNATURE_IN_TEXT = re.compile(r"^--[ \t]*$", re.MULTILINE)
_UI = "|".join(sorted((re.escape(w) for w in UI_WORDS | UI_SEPARATORS), key=len, reverse=True))
# candidates only: is_chrome has the last word on each line the search finds
CHROME_IN_TEXT = re.compile(rf"^[ \t]*(?:{_UI})(?:[ \t|｜/／、,，]+(?:{_UI}))*[ \t|｜/／、,，]*$", re.MULTILINE | re.IGNORECASE)
COOKIE_IN_TEXT = re.compile(r"^[^\n]*(?:cookie|隱私權政策|隱私政策)", re.MULTILINE | re.IGNORECASE)


class Gated:
    """A multi-line pattern searched only in a text that holds what every match holds (`may_match`, a substring test
    or a search for the pattern's literal words): most texts hold none, and saying so costs a fraction of the engine
    trying the pattern at every line start. The same matches: a text `may_match` rejects has none."""

    def __init__(self, pattern: re.Pattern, may_match):
        self.pattern, self.may_match = pattern, may_match

    def finditer(self, text: str):
        return self.pattern.finditer(text) if self.may_match(text) else iter(())


# a ":" or ">" quote opens a line, a header holds ※
QUOTES_GATED = Gated(QUOTES_IN_TEXT, lambda t: "※" in t or t[:1] in (":", ">") or "\n:" in t or "\n>" in t)
# every alternative holds ※ or one of the header words (no case to ignore in either)
SYSTEM_GATED = Gated(SYSTEM_IN_TEXT, lambda t: "※" in t or "作者" in t or "看板" in t or "標題" in t or "時間" in t)
SIGNATURE_GATED = Gated(SIGNATURE_IN_TEXT, lambda t: "--" in t)
COOKIE_WORDS = re.compile(r"cookie|隱私權政策|隱私政策", re.IGNORECASE)  # the words, matched as COOKIE_IN_TEXT matches them
COOKIE_GATED = Gated(COOKIE_IN_TEXT, lambda t: COOKIE_WORDS.search(t) is not None)


def han_share(text: str) -> float:
    return sum("\u4e00" <= ch <= "\u9fff" for ch in text) / max(len(text), 1)


def is_chrome(line: str) -> bool:
    """A line made only of share/navigation words (several different ones, or a bar phrase), a "show more" link, or a
    cookie banner."""
    if len(line) <= MAX_CHROME_CHARS:
        words = [w for w in UI_SPLIT.split(line.strip().lower()) if w and w not in UI_SEPARATORS]
        if words and all(w in UI_WORDS for w in words):
            distinct = set(words)
            # 小 中 大 is a font-size switch, 讚 分享 a like-and-share bar; 讚 讚 讚 is an author cheering
            if distinct & BAR_PHRASES or len(distinct) >= 3 or (len(distinct) == 2 and any(len(w) > 1 for w in distinct)):
                return True
        if SHOW_MORE.match(line):
            return True
    return is_cookie_banner(line)


def is_cookie_banner(line: str) -> bool:
    if len(line) > MAX_BANNER_CHARS or not COOKIE.search(line):
        return False
    return bool(COOKIE_BUTTON.match(line)) or (bool(COOKIE_NOTICE.search(line)) and bool(COOKIE_CONSENT.search(line)))


class LineCleaner(CurationFilter):
    """Removes, line by line, what the author did not write for this document, and records every removal as a segment
    edit (filters/segments.py): reason `quoted_reply` (a `※ 引述` header and the quote under it, or a reply's quote of
    the post it answers: that post is its own document; a lone quoted line in a post that quotes nothing and a poll's
    `: ` options stay), `repeated_line` (a line of at least `min_repeat_chars` characters
    already seen in the document, inside a repeated block or of `long_repeat_chars`; shorter repeats, a poem's refrain,
    a law's heading, list items and table rows stay), `template` (PTT system
    and board-template lines, the post header, `--` signatures, short "sent from" footer lines), `page_chrome` (lines of
    several share/navigation words or a bar phrase, "show more" links, cookie banners; one ordinary word such as 同意
    alone on a line stays), `simplified_line` (a clearly Simplified line in a mostly Traditional document: a copied
    paragraph; removed, or converted to Taiwan Traditional with OpenCC when `simplified_lines: convert`). A kind set
    to `tag` in `edit_actions` keeps its lines and only records them. Sources of
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
            self._quotes(text, lines, line_of, reasons)
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

    def _quotes(self, text: str, lines: list[str], line_of, reasons: dict[int, str]) -> None:
        """A quote is a run of quoted lines under a `※ 引述` header, or a reply's quote of the post it answers (a run of
        quoted prose, a quote of a quote, a quoted push). A lone `: `/`> ` line is the author's own (a score, "> 100%")
        unless the document quotes elsewhere (PTT replies cut the quote into pieces between their answers), and a run
        of short items under the author's question (大家覺得哪一家好？ then `: 林東芳`, `: 永康`) is a poll, not a quote."""
        quoted = sorted({line_of(m.start()) for m in QUOTES_GATED.finditer(text)})
        headers = {i for i in quoted if QUOTE_HEADER.match(lines[i])}
        runs: list[list[int]] = []
        for i in quoted:
            if i in headers:
                continue
            if runs and runs[-1][-1] == i - 1:
                runs[-1].append(i)
            else:
                runs.append([i])
        quotes, lone = [], []
        for run in runs:
            above = next((j for j in range(run[0] - 1, -1, -1) if lines[j].strip()), None)
            content = [i for i in run if lines[i][1:].strip()]
            if (above in headers or (above is not None and REPLY_INTRO.search(lines[above]))
                    or any(QUOTE_EVIDENCE.match(lines[i]) for i in run)):
                quotes.append(run)
            elif above is not None and OPTION_INTRO.search(lines[above]) and all(
                    len(lines[i][1:].strip()) <= MAX_OPTION_CHARS and not SENTENCE_PUNCT.search(lines[i]) for i in content):
                continue  # the author's list of options or answers
            elif len(content) >= 2:
                quotes.append(run)
            else:
                lone.append(run)
        if headers or quotes:
            quotes += lone
        for i in headers:
            reasons[i] = "quoted_reply"
        for run in quotes:
            for i in run:
                reasons[i] = "quoted_reply"

    def _templates(self, text: str, lines: list[str], line_of, reasons: dict[int, str]) -> None:
        c = self.config
        for m in SYSTEM_GATED.finditer(text):
            i = line_of(m.start())
            if i not in reasons and (i < c.header_lines or not HEADER_ONLY.match(lines[i])):
                reasons[i] = "template"
        for m in FOOTER_LINE.finditer(text):
            i = line_of(m.start())
            if i not in reasons and is_footer(lines[i]):
                reasons[i] = "template"
                if i and RULE_LINE.match(lines[i - 1]):
                    reasons.setdefault(i - 1, "template")
        for pattern in (CHROME_IN_TEXT, SHOW_MORE, COOKIE_GATED):
            for m in pattern.finditer(text):
                i = line_of(m.start())
                if i not in reasons and is_chrome(lines[i]):
                    reasons[i] = "page_chrome"
        # a signature: the last "--" and the few lines after it to the end (PTT puts its 發信站 lines there too)
        signature = None
        for m in SIGNATURE_GATED.finditer(text):
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

