"""Rebuild filters/data/domain_lists/ from the blocklists of danny0838/content-farm-terminator (MIT-licensed lists).

    git clone -b gh-pages https://github.com/danny0838/content-farm-terminator cft   # or any copy of its lists
    python filters/data/build_domain_lists.py cft/docs/files/blocklist --commit $(git -C cft rev-parse HEAD)

PATH is the folder holding content-farms.txt, scam-sites.txt, ... ; without --commit the commit is read from a
SOURCE.md beside them (as in ../shared/data/real/content_farm_lists/). Writes, per category, `<category>.txt.gz`
(gzip without a timestamp: the same input gives the same bytes) and `VERSION.json` (source, commit, license, build
date, entries and sha256 per category, and the version string a release manifest records).

What is kept of each upstream rule (upstream semantics: src/.../content-farm-filter.js of the extension):
  - a domain (`example.com`, `www.` dropped as upstream does): matches that host and every subdomain;
  - an IPv4 address: matches that host only;
  - a host pattern with `*` (`blogspot.*`, `51a*.com`): kept as written; `*` is any run of characters and the
    pattern may be preceded by subdomains (upstream: ^(?:[^/?#]+\\.)?PATTERN$ with * -> \\S*?);
  - a /regex/ rule that only names hosts: `^https?://(?:[\\w-]+\\.)*(?:a\\.com|b\\.net)(?=[/?#]|$)` becomes the
    domains a.com and b.net, and `^https?://(?:[\\w-]+\\.)*(?:name)(?:\\.[\\w-]+)*(?=[:/?#]|$)` (a name under any
    suffix) the host pattern `name.*`.
Every other regex (a path on a shared host: one blog on blog.udn.com or xuite.net, a Facebook page, a YouTube
channel, a search-result URL) is counted and skipped: matching the whole host would drop the host's good pages.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import re
import sys
from pathlib import Path

from filters.domains import CATEGORIES, FORMAT, content_sha256, entries_sha256, version_string

OUT = Path(__file__).parent / "domain_lists"
REPO = "https://github.com/danny0838/content-farm-terminator"
UPSTREAM_PATH = "docs/files/blocklist"

LABEL = r"[0-9a-z](?:[-0-9a-z]*[0-9a-z])?"
DOMAIN = re.compile(rf"^(?:{LABEL}\.)+{LABEL}$")
IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
PATTERN = re.compile(r"^[-0-9a-z*]+(?:\.[-0-9a-z*]+)*$")
# the two regex shapes that name hosts only (the extension's own "any subdomain of" and "a name under any suffix")
SUBDOMAINS = r"\^https\?://\(\?:\[\\w-\]\+\\\.\)\*"
HOSTS_RE = re.compile(rf"^{SUBDOMAINS}\(\?:(?P<hosts>[-0-9a-z\\.|]+)\)(?:\(\?=\[/\?#\]\|\$\)|/|\$)?$")
NAME_ANY_SUFFIX_RE = re.compile(rf"^{SUBDOMAINS}\(\?:(?P<name>[-0-9a-z\\]+)\)\(\?:\\\.\[\\w-\]\+\)\*\(\?=\[:/\?#\]\|\$\)$")


def rules(text: str):
    """(rule, is_regex) per rule line: comments (`#` at the start, or after whitespace) and blank lines skipped."""
    for line in text.splitlines():
        rule = re.split(r"\s", line.strip(), maxsplit=1)[0] if line.strip() else ""
        if not rule or rule.startswith("#"):
            continue
        yield rule, bool(re.match(r"^/.+/[a-z]*$", rule))


def host_rule(rule: str) -> str | None:
    """A plain rule normalized as upstream does (lower case, `www.` dropped), or None if it is no host."""
    rule = rule.lower().rstrip(".")
    if rule.startswith("www."):
        rule = rule[4:]
    if IPV4.match(rule) or DOMAIN.match(rule):
        return rule
    if "*" in rule and PATTERN.match(rule):
        return re.sub(r"\*+", "*", rule)
    return None


def from_regex(rule: str) -> list[str] | None:
    """The host rules a /regex/ rule amounts to, or None when it says more than hosts (a path, a query)."""
    body = re.match(r"^/(.*)/([a-z]*)$", rule)
    if not body or body[2] not in ("", "i"):
        return None
    m = HOSTS_RE.match(body[1])
    if m:
        hosts = [h.replace("\\.", ".").replace("\\-", "-") for h in m["hosts"].split("|")]
        if all(DOMAIN.match(h) for h in hosts):
            return [h[4:] if h.startswith("www.") else h for h in hosts]
        return None
    m = NAME_ANY_SUFFIX_RE.match(body[1])
    if m:
        name = m["name"].replace("\\-", "-")
        if re.fullmatch(LABEL, name):
            return [f"{name}.*"]
    return None


def header_field(text: str, name: str) -> str | None:
    m = re.search(rf"^\s*#\s*{name}:\s*(.+?)\s*$", text, re.MULTILINE)
    return m[1] if m else None


def build(src: Path, commit: str, date: str, out: Path = OUT) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    categories = {}
    for category, upstream in CATEGORIES.items():
        text = (src / f"{upstream}.txt").read_text(encoding="utf-8")
        kept: set[str] = set()
        counts = {"rules": 0, "domains": 0, "ipv4": 0, "patterns": 0, "from_regex": 0, "regex_skipped": 0, "invalid": 0}
        for rule, is_regex in rules(text):
            counts["rules"] += 1
            if is_regex:
                hosts = from_regex(rule)
                if hosts is None:
                    counts["regex_skipped"] += 1
                    continue
                counts["from_regex"] += 1
                kept.update(hosts)
                continue
            host = host_rule(rule)
            if host is None:
                counts["invalid"] += 1
                continue
            kept.add(host)
        entries = sorted(kept)
        counts["domains"] = sum(1 for e in entries if "*" not in e and not IPV4.match(e))
        counts["ipv4"] = sum(1 for e in entries if IPV4.match(e))
        counts["patterns"] = sum(1 for e in entries if "*" in e)
        counts["entries"] = len(entries)
        licence = header_field(text, "Licen[cs]e") or "MIT License"
        head = [
            f"twcurate domain list: {category} ({upstream}.txt)",
            f"Source: {REPO} (branch gh-pages, commit {commit}), {UPSTREAM_PATH}/{upstream}.txt",
            f"Upstream title: {header_field(text, 'Title')}; last modified {header_field(text, 'Last modified')}",
            f"License: {licence}, as the list's own header states. The lists carry no copyright line of their own; they are",
            "  maintained by danny0838 and contributors in the repository above (the extension's code there is GPL-3.0; the",
            "  lists are distributed under the MIT License).",
            f"Built {date} by filters/data/build_domain_lists.py (format {FORMAT}).",
            f"Upstream rules {counts['rules']}: kept {counts['entries']} entries ({counts['domains']} domains, {counts['ipv4']} IPv4, "
            f"{counts['patterns']} host patterns), {counts['from_regex']} of them from /regex/ rules naming hosts only;",
            f"  skipped {counts['regex_skipped']} /regex/ rules that name a path on a shared host (a blog, a page, a channel)"
            f" and {counts['invalid']} lines that are no host name (a single label such as `bitgin`).",
            "One entry a line: a domain matches itself and its subdomains; an IPv4 address itself; a pattern with * any",
            "  host it matches (* = any characters, subdomains allowed before it).",
        ]
        body = "".join(f"# {h}\n" for h in head) + "".join(f"{e}\n" for e in entries)
        path = out / f"{category}.txt.gz"
        with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
            gz.write(body.encode("utf-8"))
        categories[category] = {"file": path.name, "upstream": f"{UPSTREAM_PATH}/{upstream}.txt", "bytes": path.stat().st_size,
                                "entries_sha256": entries_sha256(entries), **counts}
    digest = content_sha256({c: v["entries_sha256"] for c, v in categories.items()})
    info = {"format": FORMAT, "source": REPO, "branch": "gh-pages", "commit": commit, "license": "MIT License (per each list's header)",
            "built": date, "content_sha256": digest, "version": version_string(commit, digest), "categories": categories}
    (out / "VERSION.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("path", type=Path, help="folder with content-farms.txt, scam-sites.txt, ...")
    ap.add_argument("--commit", help="the upstream commit the lists are from (default: read from SOURCE.md beside them)")
    ap.add_argument("--date", default=dt.date.today().isoformat(), help="build date written to the headers (default: today)")
    ap.add_argument("--out", type=Path, default=OUT, help=f"where the lists go (default: {OUT}); a job reads another folder "
                    "through steps.domains.lists_dir")
    args = ap.parse_args(argv)
    commit = args.commit
    if commit is None and (args.path / "SOURCE.md").is_file():
        m = re.search(r"commit ([0-9a-f]{40})", (args.path / "SOURCE.md").read_text(encoding="utf-8"))
        commit = m[1] if m else None
    if not commit:
        print("no --commit given and none found in SOURCE.md", file=sys.stderr)
        return 2
    info = build(args.path, commit, args.date, args.out)
    total = sum(c["bytes"] for c in info["categories"].values())
    for name, c in info["categories"].items():
        print(f"{name:20s} rules {c['rules']:6d}  kept {c['entries']:6d} (domains {c['domains']}, ipv4 {c['ipv4']}, patterns "
              f"{c['patterns']}, from regex {c['from_regex']})  regex skipped {c['regex_skipped']:5d}  invalid {c['invalid']}  {c['bytes']:,} B")
    print(f"version {info['version']}, {total:,} bytes in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
