"""Rebuild the bundled demo samples from real zh-TW / zh-CN text shipped in Debian packages.

Run as root on Debian 12 (it calls `apt-get download`):  python samples/make_samples.py
Provenance and licenses of every file are in samples/SOURCES.md.

The *content* is real human-written text. The *containers* (MediaWiki XML export, PTT-style JSON,
law-database JSON, WARC) are assembled here because no real dump of those sources can be fetched on
this machine; the wikitext markup wrapped around the Debian Reference paragraphs is added by this
script so the wiki reader's markup stripping is exercised.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from lxml import html as lxml_html
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

PACKAGES = ["debian-reference-zh-tw", "libreoffice-help-zh-tw", "libreoffice-help-zh-cn", "maint-guide-zh-tw", "fortunes-zh"]
HERE = Path(__file__).parent


def extract_debs(workdir: Path) -> Path:
    subprocess.run(["apt-get", "download", *PACKAGES], cwd=workdir, check=True)
    root = workdir / "x"
    for deb in workdir.glob("*.deb"):
        subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    return root


def sections(html_path: Path, limit: int) -> list[tuple[str, list[str]]]:
    """(heading, paragraphs) pairs from a DocBook HTML chapter."""
    tree = lxml_html.parse(str(html_path))
    out = []
    for sec in tree.xpath('//div[@class="section"]')[:limit]:
        title = " ".join(sec.xpath("string(.//h2|.//h3)").split())
        paras = [" ".join(p.text_content().split()) for p in sec.xpath("./p")]
        paras = [p for p in paras if len(p) > 20]
        if title and paras:
            out.append((title, paras))
    return out


def build_wiki(root: Path) -> None:
    chapters = sorted((root / "usr/share/debian-reference").glob("ch0[1-4].zh-tw.html"))
    pages = []
    for i, ch in enumerate(chapters):
        secs = sections(ch, 40)[:4]
        title = re.sub(r"^[\d.]+\s*", "", secs[0][0])
        body = ["{{Infobox 作業系統|名稱=Debian|開發者=Debian 計畫}}", f"'''{title}'''是 [[Debian|Debian 參考手冊]]中的一節。<ref>Debian Reference, osamu</ref>"]
        for h, paras in secs:
            heading = re.sub(r"^[\d.]+\s*", "", h)
            body.append(f"\n== {heading} ==")
            for p in paras[:3]:
                body.append(p + "<ref name=\"dr\"/>")
        body.append('{| class="wikitable"\n! 項目 !! 說明\n|-\n| apt || 套件管理\n|}')
        body.append("[[File:Debian-OpenLogo.svg|thumb|Debian 標誌]]\n[[Category:Debian]]")
        pages.append((f"Debian參考手冊{i + 1}", 0, "\n".join(body), None))
    pages.append(("Debian參考", 0, "#REDIRECT [[Debian參考手冊1]]", "Debian參考手冊1"))
    pages.append(("Talk:Debian參考手冊1", 1, "這是討論頁。", None))
    xml = ['<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10" xml:lang="zh">',
           "<siteinfo><sitename>維基百科</sitename><dbname>zhwiki</dbname></siteinfo>"]
    for pid, (title, ns, text, redirect) in enumerate(pages, start=1):
        esc = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        red = f'<redirect title="{redirect}" />' if redirect else ""
        xml.append(f"<page><title>{title}</title><ns>{ns}</ns><id>{pid}</id>{red}<revision><id>{1000 + pid}</id>"
                   f"<timestamp>2024-01-0{pid}T00:00:00Z</timestamp><text bytes=\"{len(text.encode())}\" xml:space=\"preserve\">{esc}</text></revision></page>")
    xml.append("</mediawiki>")
    out = HERE / "wiki/zhwiki-sample.xml.bz2"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(bz2.compress("\n".join(xml).encode()))


def help_pages(root: Path, lang: str, n: int) -> list[dict]:
    base = root / f"usr/share/libreoffice/help/{lang}/text/shared/guide"
    docs = []
    for p in sorted(base.glob("*.html")):
        tree = lxml_html.parse(str(p))
        title = " ".join(tree.xpath("string(//title)").split())
        paras = [" ".join(x.text_content().split()) for x in tree.xpath('//*[@id="DisplayArea"]//p')]
        text = "\n".join(x for x in paras if x)
        if len(text) > 300:
            docs.append({"url": f"https://help.libreoffice.org/7.4/{lang}/text/shared/guide/{p.name}", "title": title,
                         "date": "2023-02-01", "content": text, "_file": p})
        if len(docs) >= n:
            break
    return docs


def build_news(root: Path) -> None:
    out = HERE / "news"
    out.mkdir(parents=True, exist_ok=True)
    tw = help_pages(root, "zh-TW", 12)
    with open(out / "libreoffice-help-zh-tw.jsonl", "w", encoding="utf-8") as f:
        for d in tw[:8]:
            f.write(json.dumps({k: v for k, v in d.items() if k != "_file"}, ensure_ascii=False) + "\n")
    cn = help_pages(root, "zh-CN", 4)
    with open(out / "libreoffice-help-zh-cn.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["url", "title", "date", "content"])
        w.writeheader()
        for d in cn:
            w.writerow({k: v for k, v in d.items() if k != "_file"})
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    for d in tw[8:12]:
        payload = d["_file"].read_bytes()
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(d["url"], "response", payload=io.BytesIO(payload), http_headers=headers))
    (out / "libreoffice-help-zh-tw.warc.gz").write_bytes(buf.getvalue())


def build_social(root: Path) -> None:
    raw = (root / "usr/share/games/fortunes/chinese.u8").read_text(encoding="utf-8")
    entries = [e.strip() for e in raw.split("\n%\n") if e.strip()][:6]
    tw_replies = sections(root / "usr/share/doc/maint-guide-zh-tw/html/start.zh-tw.html", 10)
    replies = [p for _, ps in tw_replies for p in ps][:12]
    posts = []
    for i, e in enumerate(entries):
        title, _, body = e.partition("\n")
        posts.append({
            "article_id": f"M.16000000{i:02d}.A.{i:03X}", "article_title": f"[分享] {title.strip()}",
            "author": f"debian{i} (Debian 社群)", "board": "Linux", "date": f"Mon Jan  {i + 1} 12:00:00 2024",
            "content": body.strip(),
            "messages": [{"push_tag": ["推", "→", "噓"][j % 3], "push_userid": f"user{j}", "push_content": replies[(2 * i + j) % len(replies)][:80],
                          "push_ipdatetime": "01/01 12:30"} for j in range(2)],
        })
    out = HERE / "social"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ptt-linux.json").write_text(json.dumps(posts, ensure_ascii=False, indent=1), encoding="utf-8")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = extract_debs(Path(tmp))
        build_wiki(root)
        build_news(root)
        build_social(root)
    print("legal/ samples are transcribed law text (public domain, Copyright Act art. 9); not rebuilt here", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
