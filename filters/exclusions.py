"""Documents a release excluded by name (`curate exclude`: takedown requests, data behind a loss spike) stay out of
every later release built from it: an incremental run (`--since`) reads the parent's lists and drops a new document
whose id or URL is on them, however it came back (the same page crawled again, a file re-posted)."""

from __future__ import annotations

from pathlib import Path

from datatrove.data import Document

from filters.base import CurationFilter

EXCLUSIONS_DIR = "exclusions"  # in a release: ids.txt and urls.txt, one per line, every exclusion of its lineage


def read_exclusions(release: Path) -> tuple[set[str], set[str]]:
    """(ids, urls) a release's lineage excluded; empty sets for a release without exclusions."""
    folder = Path(release) / EXCLUSIONS_DIR

    def lines(name: str) -> set[str]:
        path = folder / name
        return {x.strip() for x in path.read_text(encoding="utf-8").splitlines() if x.strip()} if path.is_file() else set()

    return lines("ids.txt"), lines("urls.txt")


class ExcludedDocuments(CurationFilter):
    """Drops (`excluded`) a document whose id (`<source>/<id>`, as releases name documents) or URL an earlier release
    of the lineage excluded; keeps everything else. Not a configurable step: incremental runs add it when the parent
    has exclusions."""

    name = "excluded"

    def __init__(self, ids: set[str], urls: set[str], **kwargs):
        super().__init__(**kwargs)
        self.ids, self.urls = ids, urls

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if doc.id in self.ids or (doc.metadata.get("url") or "") in self.urls:
            return False, "excluded"
        return True
