"""Text patterns shared by several filter families."""

import re

# a link of any scheme (https://, line://, fbrpc://) or a bare www. address, up to the next whitespace or the next
# CJK character or full-width punctuation: Chinese posts run text straight after a link ("http://t.cn/Ai9w照片也删了")
URL = re.compile(r"(?:[a-z][a-z0-9+.-]*://|www\.)[^\s\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]+", re.IGNORECASE)
# ... and a link whose path goes on in Han characters after a separator (zh.wikipedia.org/zh-tw/网络谜踪): text
# glued to a link follows its last letter or digit, an undecoded path follows "/", "=" or "#"
URL_WITH_HAN_PATH = re.compile(URL.pattern + r"(?:(?<=[/=#])[^\s]+)?", re.IGNORECASE)


def may_hold_url(text: str) -> bool:
    """False when `URL` cannot match: every link has "://" or "www." (any case). Most documents have none, and this
    check costs a fifth of the search it saves."""
    return "://" in text or "www." in text.lower()


# a phrase in quotation marks is mentioned, not said: a report quotes the pitch it is about (標榜「保證獲利」), a post about
# a slur quotes the slur (有人用「腦殘」罵人)
QUOTED = re.compile(r"「[^「」\n]{1,30}」|『[^『』\n]{1,30}』|“[^“”\n]{1,30}”")
