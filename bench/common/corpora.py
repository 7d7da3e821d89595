"""Real zh-TW / zh-CN / other-language corpora for benchmarks, built from Debian packages and gettext catalogs.

Downloaded once with `apt-get download` (a package registry) into bench/data/ (git-ignored); nothing else.
Every document is human-written text: LibreOffice help pages (zh-TW, zh-CN; MPL-2.0), the Debian Reference
(zh-TW; GPL-2+), manpages-zh zh_TW (Traditional characters with mainland phrasing, converted from zh_CN;
GFDL-1.2+), and the translated messages of the gettext catalogs installed on the machine (per-package licenses).
"""

from __future__ import annotations

import gettext
import random
import re
import subprocess
from pathlib import Path

from lxml import html as lxml_html

from bench.common.paths import REPO

DATA = REPO / "bench" / "data"  # git-ignored: downloaded packages, never committed
PACKAGES = ["libreoffice-help-zh-tw", "libreoffice-help-zh-cn", "debian-reference-zh-tw", "debian-reference-zh-cn", "manpages-zh",
            "gnome-user-docs"]


def ensure_packages() -> Path:
    root = DATA / "debs" / "x"
    if root.is_dir():
        return root
    (DATA / "debs").mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", *PACKAGES], cwd=DATA / "debs", check=True, capture_output=True)
    for deb in (DATA / "debs").glob("*.deb"):
        subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    return root


def han_count(text: str) -> int:
    return len(re.findall(r"[\u4e00-\u9fff]", text))


def libreoffice_help(lang: str) -> list[str]:
    """Paragraph text of every help page; pages left mostly in English are filtered by the callers."""
    base = ensure_packages() / f"usr/share/libreoffice/help/{lang}/text"
    docs = []
    for p in sorted(base.rglob("*.html")):
        tree = lxml_html.parse(str(p))
        paras = [" ".join(x.text_content().split()) for x in tree.xpath('//*[@id="DisplayArea"]//p|//*[@id="DisplayArea"]//h1')]
        text = "\n".join(x for x in paras if x)
        if text:
            docs.append(text)
    return docs


def gnome_help_cn() -> list[str]:
    """GNOME desktop help, zh_CN (gnome-user-docs, CC BY-SA 3.0): paragraph text of each Mallard page."""
    from lxml import etree

    docs = []
    for p in sorted((ensure_packages() / "usr/share/help/zh_CN").rglob("*.page")):
        try:
            tree = etree.parse(str(p))
        except etree.XMLSyntaxError:
            continue
        paras = [" ".join("".join(x.itertext()).split()) for x in tree.iter("{http://projectmallard.org/1.0/}p")]
        text = "\n".join(x for x in paras if x)
        if text:
            docs.append(text)
    return docs


def debian_reference_tw(lang: str = "zh-tw") -> list[str]:
    docs = []
    for p in sorted((ensure_packages() / "usr/share/debian-reference").glob(f"*.{lang}.html")):
        tree = lxml_html.parse(str(p))
        for sec in tree.xpath('//div[@class="section"]'):
            text = "\n".join(" ".join(x.text_content().split()) for x in sec.xpath("./p"))
            if text:
                docs.append(text)
    return docs


def manpages(lang: str) -> list[str]:
    """zh_TW or zh_CN man pages with roff requests and escapes stripped."""
    import gzip

    docs = []
    for p in sorted((ensure_packages() / f"usr/share/man/{lang}").rglob("*.gz")):
        try:
            raw = gzip.decompress(p.read_bytes()).decode("utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        lines = [re.sub(r"\\f[BIRP]|\\-|\\\(..|\\[&e]", "", ln) for ln in raw.splitlines() if not ln.startswith((".", "'\\\""))]
        text = "\n".join(ln.strip() for ln in lines if ln.strip())
        if text:
            docs.append(text)
    return docs


def gettext_docs(lang: str, size: int = 400, limit: int = 60) -> list[str]:
    """Translated messages of the installed catalogs of `lang`, joined into documents of about `size` chars."""
    msgs = []
    for mo in sorted(Path(f"/usr/share/locale/{lang}/LC_MESSAGES").glob("*.mo")):
        try:
            catalog = gettext.GNUTranslations(open(mo, "rb"))._catalog  # noqa: SLF001 - the parsed .mo table
        except Exception:  # noqa: BLE001 - skip catalogs python cannot parse
            continue
        for key, value in catalog.items():
            if key and isinstance(value, str) and len(value) > 15 and "%" not in value:
                msgs.append(" ".join(value.split()))
    random.Random(lang).shuffle(msgs)
    docs, cur = [], ""
    for m in msgs:
        cur = f"{cur} {m}".strip()
        if len(cur) >= size:
            docs.append(cur)
            cur = ""
            if len(docs) >= limit:
                break
    return docs


def chunk(text: str, size: int) -> str:
    return text[:size]


def chunk_paragraphs(text: str, size: int = 800) -> list[str]:
    """Consecutive paragraphs joined up to about `size` characters."""
    out, cur = [], ""
    for para in text.split("\n"):
        if cur and len(cur) + len(para) > size:
            out.append(cur)
            cur = ""
        cur = f"{cur}\n{para}" if cur else para
    if cur:
        out.append(cur)
    return out


def clean_zh_corpus(limit: int = 20_000, size: int = 220) -> list[tuple[str, str]]:
    """(origin, text) of real, human-written, edited Chinese documents (what a reader calls clean): LibreOffice help
    zh-TW / zh-CN, Debian Reference zh-TW and manpages-zh, cut into ~800-character chunks of whole paragraphs; only
    chunks whose Han characters are >= 50 and >= half of Han + Latin letters (not code or English leftovers), plus
    the translated messages of the installed zh_TW / zh_CN gettext catalogs joined into documents."""
    sources = [("libreoffice-zh-TW", libreoffice_help("zh-TW")), ("libreoffice-zh-CN", libreoffice_help("zh-CN")),
               ("debian-reference-zh-TW", debian_reference_tw()), ("debian-reference-zh-CN", debian_reference_tw("zh-cn")),
               ("gnome-help-zh_CN", gnome_help_cn()), ("manpages-zh_TW", manpages("zh_TW")), ("manpages-zh_CN", manpages("zh_CN")),
               ("gettext-zh_TW", gettext_docs("zh_TW", size, 100_000)), ("gettext-zh_CN", gettext_docs("zh_CN", size, 100_000))]
    docs = []
    for origin, texts in sources:
        for t in texts:
            for c in chunk_paragraphs(t, size):
                han = han_count(c)
                if han >= 50 and han >= (han + len(re.findall(r"[A-Za-z]", c))) / 2:
                    docs.append((origin, c))
    random.Random(0).shuffle(docs)
    return docs[:limit]
