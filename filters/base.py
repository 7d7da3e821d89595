"""The base of every twcurate filter: datatrove's BaseFilter plus per-source stats and a label-only mode."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.filters.base_filter import BaseFilter, get_filter_result
from datatrove.utils.batching import batched
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


SOURCE_PREFIX = "source:"


@dataclass(frozen=True)
class StatName:
    """What one count counts: an `outcome` (in, kept, dropped, edited, tagged, a step's own count such as
    url_checked), its `reason` (dropped_<reason>) and the `source` whose documents it counts (None: the whole step).

    datatrove keys a step's stats by string, so `name` is the string form (`source:<source>/<outcome>_<reason>`) and
    `parse` reads it back. Counts with a reason and per-source counts are written through this class, and the run's
    merge (curation.pipeline), the stats table, alerts, exclude, the SFT gate ledger and manifest diff split names
    through `parse`. An outcome without a reason is its own name ("in", "kept", "region_tw")."""

    outcome: str
    reason: str | None = None
    source: str | None = None

    # outcomes that carry a reason after "_" (a step's own counts, such as url_checked or region_tw, carry none)
    WITH_REASON = ("segments_removed", "chars_dropped", "chars_removed", "contaminated", "converted", "redacted",
                   "rejected", "dropped", "edited", "tagged")

    @property
    def name(self) -> str:
        stat = self.outcome if self.reason is None else f"{self.outcome}_{self.reason}"
        return stat if self.source is None else f"{SOURCE_PREFIX}{self.source}/{stat}"

    def for_source(self, source: str | None) -> StatName:
        return StatName(self.outcome, self.reason, source)

    @classmethod
    def parse(cls, name: str) -> StatName:
        source = None
        if name.startswith(SOURCE_PREFIX):
            # the first "/": a source name is a plain name (config refuses "/"), a reason may hold one (an eval set "tmmlu/zh")
            source, _, name = name[len(SOURCE_PREFIX):].partition("/")
        for outcome in cls.WITH_REASON:
            if name.startswith(outcome + "_"):
                return cls(outcome, name[len(outcome) + 1:], source)
        return cls(name, None, source)


def count_for_source(step, stat: str | StatName, source: str, value: int = 1) -> None:
    """Count `stat` for the whole step and for the document's source."""
    stat = StatName.parse(stat) if isinstance(stat, str) else stat
    step.stat_update(stat.name, stat.for_source(source).name, value=value)


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

    def __init__(self, exclusion_writer: DiskWriter | None = None, label_only: bool = False, batch_size: int = 1):
        super().__init__(exclusion_writer=exclusion_writer, batch_size=batch_size)
        self.label_only = label_only

    def models(self) -> list[StepModel]:
        """The model files this step decides with (none for rule-only steps); each step names its own, so a new model
        is recorded in the manifest without a list elsewhere to keep in step."""
        return []

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        """datatrove's BaseFilter.run contract (batches of `batch_size` through `filter_batch`, so a step may decide
        a batch at once; `total`/`forwarded`/`dropped`/`dropped_<reason>` stats; the exclusion writer), plus what
        BaseFilter.run has no hook for: the same counts per source, characters kept and dropped, the step's name in
        `filter_reason`, and label-only mode (nothing dropped, the first drop reason kept for `curate annotate`)."""
        with self.exclusion_writer if self.exclusion_writer else contextlib.nullcontext() as writer:
            for batch in batched(data, self.batch_size):
                with self.track_time("batch" if self.batch_size > 1 else None):
                    results = self.filter_batch(batch)
                for doc, result in zip(batch, results):
                    keep, reason = get_filter_result(result)
                    yield from self._count_and_route(doc, keep, reason, writer, rank)

    def _count_and_route(self, doc: Document, keep: bool, reason: str | None, writer, rank: int):
        source = doc.metadata.get("source", "unknown")
        self.stat_update("total", StatName("in", source=source).name)
        chars = len(doc.text)
        if keep:
            self.stat_update("forwarded", StatName("kept", source=source).name)
            self.stat_update(StatName("chars_kept", source=source).name, value=chars)
            self.update_doc_stats(doc)
            yield doc
            return
        reason = reason or "filtered"
        self.stat_update("dropped")
        count_for_source(self, StatName("dropped", reason), source)
        self.stat_update(StatName("chars_dropped", reason, source).name, value=chars)
        if self.label_only:
            doc.metadata.setdefault("drop_reason", f"{self.name}:{reason}")
            yield doc
        elif writer:
            doc.metadata["filter_reason"] = f"{self.name}:{reason}"
            writer.write(doc, rank)
