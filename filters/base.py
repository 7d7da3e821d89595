"""The base of every twcurate filter: datatrove's BaseFilter plus per-source stats and a label-only mode."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.filters.base_filter import BaseFilter, get_filter_result
from datatrove.pipeline.writers.disk_base import DiskWriter

ANNOTATIONS = "annotations"


@dataclass(frozen=True)
class StepModel:
    """A model file a step decides with, as the release manifest records it: `origin` is the path as configured, or
    where a shipped file lives inside its package (so two checkouts record the same), `threshold` its card's."""

    name: str
    file: Path
    origin: str
    threshold: float | None = None


def annotations(doc: Document) -> dict:
    """The document's `annotations` dict (created on first use); every filter writes its fields here."""
    return doc.metadata.setdefault(ANNOTATIONS, {})


class CurationFilter(BaseFilter):
    """A filter whose `filter(doc)` annotates the document and returns keep / (False, reason).

    Stats are counted per step as datatrove does (`total`, `forwarded`, `dropped`, `dropped_<reason>`)
    and again per source (`source:<name>/in|kept|dropped_<reason>`) so a funnel per source can be drawn.
    In `label_only` mode nothing is dropped: the first would-be drop reason is stored in
    `metadata["drop_reason"]` and later steps still see the document (`curate annotate`).
    """

    def __init__(self, exclusion_writer: DiskWriter | None = None, label_only: bool = False):
        super().__init__(exclusion_writer=exclusion_writer)
        self.label_only = label_only

    def models(self) -> list[StepModel]:
        """The model files this step decides with (none for rule-only steps); each step names its own, so a new model
        is recorded in the manifest without a list elsewhere to keep in step."""
        return []

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with self.exclusion_writer if self.exclusion_writer else contextlib.nullcontext() as writer:
            for doc in data:
                source = doc.metadata.get("source", "unknown")
                self.stat_update("total", f"source:{source}/in")
                with self.track_time():
                    keep, reason = get_filter_result(self.filter(doc))
                chars = len(doc.text)
                if keep:
                    self.stat_update("forwarded", f"source:{source}/kept")
                    self.stat_update(f"source:{source}/chars_kept", value=chars)
                    self.update_doc_stats(doc)
                    yield doc
                    continue
                reason = reason or "filtered"
                self.stat_update("dropped", f"dropped_{reason}", f"source:{source}/dropped_{reason}")
                self.stat_update(f"source:{source}/chars_dropped_{reason}", value=chars)
                if self.label_only:
                    doc.metadata.setdefault("drop_reason", f"{self.name}:{reason}")
                    yield doc
                elif writer:
                    doc.metadata["filter_reason"] = f"{self.name}:{reason}"
                    writer.write(doc, rank)
