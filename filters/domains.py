"""A document's URL host against domain lists: content farms, scam sites and their kin.

The lists are content-farm-terminator's (danny0838, MIT License; the scam-site list aggregates Taiwan's National
Police Agency 165 and Ministry of Digital Affairs notices), reduced to host rules by filters/data/build_domain_lists.py
into filters/data/domain_lists/. A host matches a domain rule when it is that domain or a subdomain of it
(a.b.example.com matches example.com), an IPv4 rule when it is that address, and a host pattern (`blogspot.*`) as the
extension matches it. Only the document's own `url` is checked: links inside the text are not.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from datatrove.data import Document

from filters.base import CurationFilter, StatName, StepModel, annotations, count_for_source
from filters.config import DomainListConfig

# config name (DomainListConfig field, `domain_<name>` drop reason) -> upstream list; the order is the drop reason's
# precedence when a host is on several lists
CATEGORIES = {
    "scam_site": "scam-sites",
    "content_farm": "content-farms",
    "extra_content_farm": "extra-content-farms",
    "nearly_content_farm": "nearly-content-farms",
    "sns_content_farm": "sns-content-farms",
    "fake_news": "fake-news",
    "bad_cloner": "bad-cloners",
}
FORMAT = 1  # of the files in domain_lists/: one entry a line under `#` header lines, gzip'd
SHIPPED = Path(__file__).parent / "data" / "domain_lists"
IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
HOST = re.compile(r"^[0-9a-z_-]+(?:\.[0-9a-z_-]+)*$|^[0-9a-f:.]*:[0-9a-f:.]*$")  # a name or an IP address (v6 unbracketed)


def entries_sha256(entries: list[str]) -> str:
    """Hash of one category's entries (sorted, header excluded): the same rules give the same hash on any build date."""
    return hashlib.sha256("".join(f"{e}\n" for e in entries).encode()).hexdigest()


def content_sha256(per_category: dict[str, str]) -> str:
    return hashlib.sha256("".join(f"{c}\t{h}\n" for c, h in sorted(per_category.items())).encode()).hexdigest()


def version_string(commit: str, digest: str) -> str:
    """What a release manifest names the lists by: the upstream commit and the hash of the rules kept from it."""
    return f"content-farm-terminator@{commit[:12]}+{digest[:12]}"


def url_host(url: object) -> str | None:
    """The host of a URL, lower case, without port, user or trailing dot, IDN as punycode; None when there is none.
    A URL without a scheme (`www.example.com/a`, `//example.com`) is read as http."""
    if not isinstance(url, str) or not url.strip():
        return None
    url = url.strip()
    if "://" not in url[:16]:
        url = ("http:" if url.startswith("//") else "http://") + url
    try:
        host = urlsplit(url).hostname
    except ValueError:  # e.g. an unbalanced [ in the netloc
        return None
    if not host:
        return None
    host = host.rstrip(".")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return host if HOST.match(host) else None  # not a host name: a field that holds no URL ("see above", an id)


def _pattern_regex(patterns: list[str]) -> re.Pattern | None:
    """The extension's reading of host patterns: subdomains allowed before, `*` any characters (lazily)."""
    if not patterns:
        return None
    body = "|".join(re.escape(p).replace(r"\*", r"\S*?") for p in patterns)
    return re.compile(rf"^(?:[^/?#]+\.)?(?:{body})$")


def read_entries(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


@dataclass
class DomainLists:
    """The lists of the given categories, loaded from a folder build_domain_lists.py wrote and checked against its
    VERSION.json (a list edited by hand would otherwise be recorded under the old version)."""

    folder: Path
    version: str
    domains: dict[str, int]  # domain -> bit mask over `categories`
    ips: dict[str, int]  # IPv4 address -> bit mask: matches that host only
    patterns: dict[str, tuple[re.Pattern, list[str]]]  # category -> (compiled, its patterns)
    categories: list[str]

    @classmethod
    def load(cls, folder: Path = SHIPPED, categories: list[str] | None = None) -> DomainLists:
        folder = Path(folder)
        info = json.loads((folder / "VERSION.json").read_text(encoding="utf-8"))
        if info.get("format") != FORMAT:
            raise ValueError(f"{folder}: domain lists of format {info.get('format')}, this version reads {FORMAT}")
        wanted = list(CATEGORIES) if categories is None else [c for c in CATEGORIES if c in categories]
        domains: dict[str, int] = {}
        ips: dict[str, int] = {}
        patterns = {}
        for bit, category in enumerate(wanted):
            meta = info["categories"][category]
            entries = read_entries(folder / meta["file"])
            if entries_sha256(entries) != meta["entries_sha256"]:
                raise ValueError(f"{folder / meta['file']}: its entries do not match VERSION.json (edited by hand? rebuild "
                                 f"with filters/data/build_domain_lists.py)")
            for e in entries:
                if "*" not in e:
                    table = ips if IPV4.match(e) else domains
                    table[e] = table.get(e, 0) | (1 << bit)
            globs = [e for e in entries if "*" in e]
            if globs:
                patterns[category] = (_pattern_regex(globs), globs)
        return cls(folder, info["version"], domains, ips, patterns, wanted)

    @classmethod
    def shared(cls, folder: Path = SHIPPED, categories: list[str] | None = None) -> DomainLists:
        """`load`, once per process and lists as they are on disk: every task of the process reads the same, and a
        folder rebuilt or edited since is loaded (and checked) again (filters/shared.py)."""
        from filters.shared import load_once

        folder = Path(folder)
        files = [folder / "VERSION.json", *sorted(f for f in folder.iterdir() if f.is_file() and f.name != "VERSION.json")]
        return load_once(f"domain_lists:{categories}", files, lambda: cls.load(folder, categories))

    def match(self, host: str) -> dict[str, str]:
        """Category -> the rule the host matched (the most specific domain first), in CATEGORIES order."""
        found: dict[str, str] = {}
        if host[-1].isdigit() and IPV4.match(host):
            get, candidates = self.ips.get, [host]
        else:
            get, candidates = self.domains.get, [host]
            i = host.find(".")
            while i != -1:
                candidates.append(host[i + 1:])
                i = host.find(".", i + 1)
        for candidate in candidates:
            mask = get(candidate)
            if mask:
                for bit, category in enumerate(self.categories):
                    if mask >> bit & 1 and category not in found:
                        found[category] = candidate
        for category, (regex, globs) in self.patterns.items():
            if category not in found and regex.match(host):
                found[category] = next(g for g in globs if _pattern_regex([g]).match(host))
        return {c: found[c] for c in self.categories if c in found}


class DomainListFilter(CurationFilter):
    """Checks the host of a document's `url` (web pages, WARC records, news with a url field) against the domain lists
    and, per category, drops it (`domain_<category>`: domain_scam_site, domain_content_farm, ...) or tags it
    (annotation `domain_list`: category -> the rule matched; `tagged_domain_<category>` in the stats). A category set
    to `off` is not loaded. Documents without a URL pass untouched; `url_checked` counts those that had one."""

    name = "domains"

    def __init__(self, config: DomainListConfig, lists_dir: Path | None = None, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.lists_dir = Path(lists_dir) if lists_dir else SHIPPED  # resolved against the job file by the caller
        self.actions = {c: getattr(config, c) for c in CATEGORIES if getattr(config, c) != "off"}
        self._lists: DomainLists | None = None

    @property
    def lists(self) -> DomainLists:
        if self._lists is None:  # loaded in the task, not pickled with the step
            self._lists = DomainLists.shared(self.lists_dir, list(self.actions))
        return self._lists

    def models(self) -> list[StepModel]:
        if not self.actions:
            return []  # every list off: none decided anything
        version = self.lists_dir / "VERSION.json"
        origin = "twcurate:filters/data/domain_lists/VERSION.json" if self.lists_dir == SHIPPED else str(self.config.lists_dir)
        return [StepModel(self.lists.version, version, origin)]

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if not self.actions:
            return True
        host = url_host(doc.metadata.get("url"))
        if host is None:
            return True
        source = doc.metadata.get("source", "unknown")
        count_for_source(self, "url_checked", source)
        found = self.lists.match(host)
        if not found:
            return True
        annotations(doc)["domain_list"] = found
        for category in found:
            if self.actions[category] == "drop":
                return False, f"domain_{category}"
        for c in found:
            count_for_source(self, StatName("tagged", f"domain_{c}"), source)
        return True

