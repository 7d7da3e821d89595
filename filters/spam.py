"""Advertising and spam: gambling, loans, sex services and investment scams, in Traditional and Simplified."""

from __future__ import annotations

import re
from pathlib import Path

from datatrove.data import Document

from filters.base import CurationFilter, annotations
from filters.config import SpamConfig
from filters.domains import SHIPPED as SHIPPED_LISTS
from filters.domains import DomainLists, url_host
from filters.hanfold import han_count
from filters.lexicon import Lexicon
from filters.patterns import QUOTED, URL, may_hold_url
from filters.segments import remove_lines
from filters.textclassifier import classifier_models, load_classifier

DATA = Path(__file__).parent / "data"
# Contact handles: ways to reach the advertiser (LINE/WeChat/QQ/Telegram IDs and add-friend links, 加賴, phone
# numbers, QR bait). Plain links are not contacts: forum posts link pictures and videos (imgur, twimg, youtu.be)
# far more often than ads do, so links count only next to lexicon terms (filters.patterns.URL) and link-heavy documents
# are the quality step's `link_heavy`.
CONTACT = re.compile(
    # the lookahead lists every alternative's first character, so the engine skips other positions at once
    r"(?=[lLｌＬ加＋+微wWvV薇威qQ扣tT0掃扫<賴零])(?:"
    # the PII step runs first: a phone number or LINE ID it replaced is still a contact
    r"<(?:PHONE|LINE_ID)>|"
    # an ID is ASCII: "LINE@生活圈帳號" in a warning names the service, not a handle
    # (every \s* follows a required token: runs of spaces never give the engine several ways to split them)
    r"(?:line|ｌｉｎｅ)\s*(?:id\s*)?[:：@「《【(（]\s*@?[A-Za-z0-9_.-]{3,}"
    # 賴 (LINE in Taiwan) with an ID after it, a colon or a bracket: 加賴：abc123, 賴《jy5886》, 賴3p6688; an ID holds a
    # digit, so the surname 賴 before a name (賴清德) or a word is no contact
    r"|賴\s*(?:id\s*)?(?:[:：「《【(（@]\s*)?@?(?=[A-Za-z_.-]{0,20}\d)[A-Za-z0-9_.-]{4,}"
    r"|[加＋+]\s*(?:賴|赖|line|微信|wechat|vx|v信|薇信|威信|qq|扣扣|tg|telegram)"
    # an ID after a colon or 號/id (微信號 abc123), or QQ digits: not the word WeChat in a how-to
    r"|(?:微信|wechat|vx|v信|薇信|威信|qq|扣扣)\s*(?:(?:號|号|id)\s*(?:[:：]\s*)?|[:：]\s*)[A-Za-z0-9_-]{5,}|(?:qq|扣扣)\s*\d{5,}"
    r"|(?:line\.me/(?:R/)?ti/|lin\.ee/|t\.me/|wa\.me/|qm\.qq\.com)\S*"
    r"|(?<!\d)09\d{2}[- ]?\d{3}[- ]?\d{3}(?!\d)|\+886[- ]?9\d{2}[- ]?\d{3}[- ]?\d{3}"
    # a mobile number in Chinese numerals, spelled out to slip past filters: 零九三六 七二一 五八四
    r"|零\s*九(?:\s*[零〇一二三四五六七八九]){8}"
    r"|(?:掃|扫)(?:碼|码)|QR\s*code)",
    re.IGNORECASE,
)
# a handle to reach someone on a messenger, not the words 加LINE (an anti-fraud notice says 不要隨便亂加LINE) nor a
# phone number (a review names its restaurant's phone): the contact line an ad leaves under an otherwise ordinary post
MESSENGER_CONTACT = re.compile(
    r"(?=[<微wWvVqQ扣tTlLｌＬ賴])(?:<LINE_ID>|(?:line|ｌｉｎｅ|賴)\s*(?:id\s*)?[:：「《【(（]\s*@?(?=[A-Za-z_.-]{0,20}\d)[A-Za-z0-9_.-]{4,}|(?:微信|wechat|vx|qq|扣扣|telegram|tg)\s*(?:(?:id|號|号)\s*)?[:：]\s*[A-Za-z0-9_-]{4,}|(?:qq|扣扣)\s*\d{5,}"
    r"|line\.me/(?:R/)?ti/|lin\.ee/|t\.me/|wa\.me/|qm\.qq\.com)", re.IGNORECASE)
# keyword stuffing: a line of 10+ short terms joined by separators (not spaces: English prose has those), with
# no sentence punctuation (a legitimate enumeration sits inside a sentence)
STUFFING_SEPARATORS = "|｜、,，/#"
STUFFED_LINE = re.compile(rf"^(?:[^{STUFFING_SEPARATORS}。！？!?]{{1,10}}[{STUFFING_SEPARATORS}]\s*){{9,}}"
                          rf"[^{STUFFING_SEPARATORS}。！？!?]{{1,10}}$")
# news reposted on PTT is hard-wrapped at a fixed width, so a list of stocks or shops inside a sentence fills whole
# lines; its paragraph is introduced by a colon or closed by a full stop, a stuffed block of terms is neither
SENTENCE_AROUND_LIST = re.compile(r"[:：]\s*$|[。！？!?]\s*$")
# (BODY_CODE, CHAIN_DEMAND and REPORTING begin with the character they consume, not a look-around: sre then jumps from
# one possible first character to the next, where a pattern led by (?=...) or (?<!...) is tried at every position,
# 2-7x slower on ordinary text. `1(?<!\d1)` is `(?<!\d)1` written that way.)
# an escort ad's code: height/weight/cup (162/45/C, 165.48.D), and a price per session (50分鐘3500, 1節3000), which a
# massage parlour's price list also has (it weighs less)
BODY_CODE = re.compile(r"1(?<!\d1)[4-8]\d\s*[/.／-]\s*[3-7]\d\s*[/.／-]\s*[A-Ha-hＡ-Ｈ](?![A-Za-z])")
SESSION_PRICE = re.compile(r"(?=[0-9一二三])(?:(?<!\d)\d{2,3}\s*(?:(?:分鐘|min)\s*[/:：=＝$]?|分\s*[/:：=＝$])\s*\d{4}(?!\d)|(?<!\d)[1-3一二三]\s*節\s*\$?\d{4}(?!\d))")
# a chain letter's demand: forward to N people or groups (轉發給10個群組, 傳給15位好友)
CHAIN_DEMAND = re.compile(r"(?:轉|傳|發|分享)(?:發|傳|送|出)?\s*(?:給|到|至)\s*(?:\d{1,3}|[一二三四五六七八九十]{1,3})\s*(?:個|位|組)?\s*"
                          r"(?:以上)?\s*(?:群組|群|人|朋友|好友|親友|LINE)")
BAIT = ("giveaway", "chain", "clickbait")
PHONE_START = ("<PHONE>", "09", "+886", "零")  # how CONTACT's phone alternatives begin
# words of a news report, a police or bank warning, a fact check: what an ad never says about itself
# (not 提醒 or 切勿: an ad says 提醒您 too)
REPORTING_WORDS = ("記者", "報導", "警方", "警察", "警局", "詐騙集團", "詐團", "反詐", "防詐", "呼籲", "假冒", "冒充", "詐騙手法",
                   "查證", "謠言", "闢謠", "法院", "起訴", "判決", "檢方")
REPORTING = re.compile(f"(?:{'|'.join(REPORTING_WORDS)}|1(?<!\\d1)65(?!\\d))")


class SpamFilter(CurationFilter):
    """Two layers. Rules (high precision, and the explanation in `spam_signals`): lexicon weights (filters/data/spam_lexicon.tsv
    and `lexicon`; counted half in a text that reports or warns, and terms only seen in quotation marks half) +
    Taiwan ad patterns (an escort ad's body code and per-session price, a demand to forward to N people or groups) +
    links on the shipped domain lists (`link_lists`: a scam site always, a content farm under a headline) + contact
    handles (IDs, add-friend links, 賴 IDs; phone numbers only beside an ad term; not plain links) beyond
    `max_contact_per_1k` per 1,000 characters, a point when a contact or link sits beside lexicon terms, one more for a
    messenger handle beside them outside a report, one for bait with a link + keyword-stuffed lines; at `threshold` or
    above the document is spam and dropped with the reason of its strongest signal (`spam_gambling`, `spam_loan`,
    `spam_sex`, `spam_scam`, `spam_chain`, `spam_giveaway`, `spam_clickbait`, `spam_health`, `spam_scam_site`,
    `spam_contact`, `keyword_stuffing`, ...). Classifier: the fastText model (shipped filters/models/spam.json, trained
    on the Taiwan labels and QQ group ads, or `model_path`) catches ads the rules score too low; it drops a document
    the rules kept, as `spam_classifier`, at `classifier_alone` (0.9) on its own, or at the card's threshold (or
    `classifier_threshold`) when the rules saw any signal. In a document that is not an ad, contact and ad lines are
    segment edits (tagged by default). Annotates `spam`, `spam_score`, `spam_signals`, `spam_probability`.
    Each lexicon term counts once: ads list many distinct terms and contact bait, while a news report about a
    gambling ring repeats a few general words (娛樂城, 博弈), which carry low weights."""

    name = "spam"

    def __init__(self, config: SpamConfig, lexicon_path: Path | None = None, model_path: Path | None = None, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.lexicon = Lexicon(DATA / "spam_lexicon.tsv", *([lexicon_path] if lexicon_path else []))
        self.classifier = load_classifier("spam", config.classifier, model_path)
        self.classifier_threshold = config.classifier_threshold or (self.classifier.card.threshold if self.classifier else 1.0)
        self._link_lists: DomainLists | None = None

    @property
    def link_lists(self) -> DomainLists | None:
        """The domain lists links in the text are checked against (`link_lists`), loaded in the task on first use."""
        if self._link_lists is None and self.config.link_lists:
            self._link_lists = DomainLists.shared(SHIPPED_LISTS, self.config.link_lists)
        return self._link_lists

    def models(self):
        # one model a step in the manifest: the shipped domain lists that links are checked against are the files the
        # domains step records by their version when it runs with the shipped lists (the default)
        return classifier_models(self.classifier, self.config.model_path)

    def stuffed_lines(self, text: str) -> int:
        """Keyword-stuffed lines, outside paragraphs that read as a sentence around a list."""
        if sum(map(text.count, STUFFING_SEPARATORS)) < 9:  # a stuffed line has nine separators at least
            return 0
        count = 0
        for paragraph in re.split(r"\n\s*\n", text):
            lines = paragraph.split("\n")
            stuffed = sum(bool(STUFFED_LINE.match(ln.strip())) for ln in lines if len(ln) < 400)
            if stuffed and not any(SENTENCE_AROUND_LIST.search(ln) for ln in lines):
                count += stuffed
        return count

    @staticmethod
    def reports(text: str) -> bool:
        """The text reports or warns (two or more of 記者, 警方, 詐騙集團, 165, ...): news of a gambling ring and a 165
        notice use an ad's words to say what the ad is."""
        return len(set(REPORTING.findall(text))) >= 2

    def lexicon_score(self, text: str, reporting: bool | None = None):
        """(weight, matches per category) of distinct lexicon terms; terms only ever seen inside quotation marks
        count half, and all of them count half in a text that reports or warns (`reporting`; found here when not
        given)."""
        score, categories = self.lexicon.score(text, distinct=True)
        if score and QUOTED.search(text):
            unquoted, _ = self.lexicon.score(QUOTED.sub("", text), distinct=True)
            score = unquoted + (score - unquoted) / 2
        if score and (self.reports(text) if reporting is None else reporting):
            score /= 2
        return score, categories

    def signals(self, text: str, carriers: list[int] | None = None) -> dict[str, float]:
        """The rule layer's scores; `carriers`, when given, receives the offsets of every contact and link found, so
        the line pass (`_ad_lines`) need not search for them again."""
        reporting = self.reports(text)
        lexicon_score, categories = self.lexicon_score(text, reporting)
        per_1k = 1000 / max(len(text), 200)  # texts under 200 characters count as 200
        contacts_found = list(CONTACT.finditer(text))
        contact_starts = [m.start() for m in contacts_found]
        links_found = list(URL.finditer(text)) if may_hold_url(text) else []
        link_starts = [m.start() for m in links_found]
        if carriers is not None:
            carriers += contact_starts + link_starts
        contacts, links = len(contact_starts), len(link_starts)
        # phone numbers count toward density only beside an ad term: a news story listing hospital hotlines or a shop
        # directory is a list of phones, not an ad
        phones = sum(1 for m in contacts_found if m.group().startswith(PHONE_START))
        contact_density = (contacts - (0 if lexicon_score else phones)) * per_1k
        stuffed = self.stuffed_lines(text)
        out = {f"spam_{c}": float(n) for c, n in categories.items()}
        # (a per-session price holds 分, min or 節: most texts hold none, which a substring test says ~10x faster than a
        # search that tries every digit)
        session_price = ("分" in text or "min" in text or "節" in text) and SESSION_PRICE.search(text)
        for category, found, weight in (("sex", BODY_CODE.search(text), 2.0), ("sex", session_price, 1.0),
                                        ("chain", CHAIN_DEMAND.search(text), 1.5)):
            if found:
                out[f"spam_{category}"] = out.get(f"spam_{category}", 0.0) + 1
                lexicon_score += weight
        if links_found and self.link_lists is not None:
            lexicon_score += self._listed_links(text, links_found, out)
        # bait (a free gift, a chain letter, a clickbait headline) with a link asks for the click
        if links and any(c in categories for c in BAIT):
            lexicon_score += 1.0
        out["lexicon"] = lexicon_score
        # a messenger handle beside an ad term, outside a report or warning, is how an ad asks to be answered
        handle = bool(lexicon_score) and not reporting and MESSENGER_CONTACT.search(text) is not None
        out["contact"] = max(0.0, contact_density - self.config.max_contact_per_1k) / self.config.max_contact_per_1k * 2 + (
            1.0 if (contacts or links) and lexicon_score else 0.0) + (1.0 if handle else 0.0)
        out["keyword_stuffing"] = 2.0 * stuffed
        return out

    def _listed_links(self, text: str, links: list[re.Match], out: dict[str, float]) -> float:
        """Weight of the links in the text whose host is on the domain lists (filters/domains.py): a scam site is an ad
        wherever it is linked; a content farm is the point of a short message (a headline and its link: clickbait),
        while a long text that cites one as its source is not an ad for it."""
        weight = 0.0
        # a headline and its link (the link right under the first line, or a text barely longer than it), not an
        # excerpt that cites the page at its end
        short = len(text) - sum(len(m.group()) for m in links) < self.config.clickbait_max_chars
        for m in links:
            host = url_host(m.group())
            found = self.link_lists.match(host) if host else {}
            if "scam_site" in found:
                out["spam_scam_site"] = out.get("spam_scam_site", 0.0) + 1
                weight = max(weight, self.config.threshold)
            elif found:
                out["spam_clickbait"] = out.get("spam_clickbait", 0.0) + 1
                weight = max(weight, self.config.threshold if short or m.start() < self.config.clickbait_max_chars else 1.0)
        return weight

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        c = self.config
        if doc.metadata.get("kind") in c.skip_kinds:
            return True
        carriers: list[int] = []
        sig = self.signals(doc.text, carriers)
        score = sig["lexicon"] + sig["contact"] + sig["keyword_stuffing"]
        ann = annotations(doc)
        ann["spam_score"] = round(score, 3)
        ann["spam"] = score >= c.threshold
        ann["spam_signals"] = {k: v for k, v in sig.items() if v}
        prob = self.classifier.probability(doc.text) if self.classifier else None
        if prob is not None:
            ann["spam_probability"] = round(prob, 4)
        if not ann["spam"]:
            if prob is not None and (prob >= c.classifier_alone or (prob >= self.classifier_threshold and score > 0)):
                ann["spam"] = True
                return False, "spam_classifier"
            return self._ad_lines(doc, carriers)
        categories = {k: v for k, v in sig.items() if k.startswith("spam_")}
        if sig["keyword_stuffing"] >= max(sig["lexicon"], sig["contact"]):
            return False, "keyword_stuffing"
        if categories:
            return False, max(categories, key=categories.get)
        return False, "spam_contact"

    def _ad_lines(self, doc: Document, carrier_starts: list[int]) -> bool | tuple[bool, str]:
        """In a document that is not an ad as a whole: remove the lines that are (a messenger contact line; a line the
        classifier is sure of that carries a link, a contact or an ad term) as segment edits, unless they are most of it.
        Only lines holding such a thing are looked at, found by whole-text searches: most documents have none."""
        c = self.config
        text = doc.text
        if "\n" not in text:
            return True
        line_of = lambda pos: text.count("\n", 0, pos)  # noqa: E731 - a match's line; matches are few
        contacts = [line_of(m.start()) for m in MESSENGER_CONTACT.finditer(text)]
        carriers = {line_of(start) for start in carrier_starts}  # contacts and links, found by `signals`
        carriers |= {line_of(start) for start, *_ in self.lexicon.spans(text)}
        if not contacts and not carriers:
            return True
        lines = text.split("\n")
        reasons: dict[int, str] = {i: "contact_line" for i in contacts if len(lines[i]) <= c.contact_line_max_chars}
        candidates = [i for i in sorted(carriers - set(reasons)) if han_count(lines[i]) >= c.segment_min_han]
        if self.classifier is not None and candidates:
            probs = self.classifier.segment_probabilities([lines[i] for i in candidates], c.segment_min_han)
            reasons.update({i: "ad_line" for i, p in zip(candidates, probs) if p is not None and p >= c.line_alone})
        if not reasons:
            return True
        removed = sum(len(lines[i]) for i in reasons)
        if removed >= c.drop_share * max(len(text) - len(lines) + 1, 1):
            annotations(doc)["spam"] = True
            return False, "spam_lines"
        annotations(doc)["spam_lines"] = len(reasons)
        remove_lines(doc, reasons, self, self.name)
        return True
