"""The base of every twcurate filter: datatrove's BaseFilter plus per-source stats and a label-only mode."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from functools import lru_cache
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


class DeferredStats:
    """A step's per-document counts, held while its documents pass and written into the step's datatrove stats
    (`MetricStats`) once, at the end of its run. Every document used to cost each filter ~6 `stat_update` calls (a
    datatrove method, a dict lookup and a Welford update each): with a dozen steps, most of the hand-over between
    steps. What is written is what the calls wrote, to the bit: the same labels in the same order (a label enters the
    step's stats when it is first counted, so the stats file lists them as before), and the same `total`, `n`, `mean`,
    `min`, `max` and variance, because each label's values are replayed through the same arithmetic, in the order they
    came (`_replay`). Only counts no other code updates go through here (the filter's own counts stay immediate)."""

    HOLD_DOCUMENTS = 4096  # written out every so many documents: a long task holds a few lists this long, not one per document

    def __init__(self, step):
        self.step = step
        self.values: dict[str, list] = {}  # label -> values in the order counted (1 for a plain count)
        self.documents = 0  # documents counted since the last write

    def count(self, label: str, value=1) -> None:
        held = self.values.get(label)
        if held is None:
            held = self.values[label] = []
            self.step.stats[label]  # noqa: B018 - created now: the stats keep the order in which labels first appeared
        held.append(value)

    def flush(self) -> None:
        """Write the held values into the step's stats and forget them."""
        for label, values in self.values.items():
            _replay(self.step.stats[label], values)
        self.values, self.documents = {}, 0


def _replay(stat, values: list) -> None:
    """`stat.update(x)` for each x in order (datatrove's MetricStats: running total, count, min, max and Welford's
    mean and variance), the same operations on local variables: the same floats, without a method call each."""
    total, n, mean, low, high, var = stat.total, stat.n, stat.mean, stat.min, stat.max, stat._running_variance
    for x in values:
        total += x
        n += 1
        if x < low:  # min(low, x) keeps `low` unless x is smaller
            low = x
        if x > high:
            high = x
        delta = x - mean
        mean += delta / n
        if n > 1:
            var += delta * (x - mean)
    stat.total, stat.n, stat.mean, stat.min, stat.max, stat._running_variance = total, n, mean, low, high, var


def annotations(doc: Document) -> dict:
    """The document's `annotations` dict (created on first use); every filter writes its fields here."""
    return doc.metadata.setdefault(ANNOTATIONS, {})


@dataclass(frozen=True)
class SourceLabels:
    """The per-source stat names every kept document is counted under, made once per source instead of per document."""

    input: str
    kept: str
    chars_kept: str


@lru_cache(maxsize=256)
def _source_labels(source: str) -> SourceLabels:
    return SourceLabels(StatName("in", source=source).name, StatName("kept", source=source).name,
                        StatName("chars_kept", source=source).name)


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
        counts = DeferredStats(self)
        try:
            with self.exclusion_writer if self.exclusion_writer else contextlib.nullcontext() as writer:
                for doc, result in self._decisions(data):
                    keep, reason = get_filter_result(result)
                    if self._count_and_route(doc, keep, reason, writer, rank, counts):
                        yield doc
                    if counts.documents >= DeferredStats.HOLD_DOCUMENTS:
                        counts.flush()
        finally:
            counts.flush()

    def _decisions(self, data: DocumentsPipeline):
        """(document, filter result) pairs, decided and timed as BaseFilter.run does: a batch of `batch_size` through
        `filter_batch`. One document at a time (every step here) calls `filter` directly, without the list, map and zip
        that `filter_batch` makes for each document."""
        if self.batch_size == 1 and type(self).filter_batch is BaseFilter.filter_batch:
            timer, decide = self.track_time(), self.filter
            for doc in data:
                with timer:
                    result = decide(doc)
                yield doc, result
            return
        for batch in batched(data, self.batch_size):
            with self.track_time("batch" if self.batch_size > 1 else None):
                results = self.filter_batch(batch)
            yield from zip(batch, results)

    def _count_and_route(self, doc: Document, keep: bool, reason: str | None, writer, rank: int, counts: DeferredStats) -> bool:
        """Counts the document (in `counts`, written at the end of the run: the same stats as a `stat_update` per
        count) and says whether it goes on: kept, or dropped while labelling only (with its reason); a dropped
        document goes to the exclusion writer."""
        source = doc.metadata.get("source", "unknown")
        labels = _source_labels(source)
        chars = len(doc.text)
        counts.documents += 1
        counts.count("total")
        counts.count(labels.input)
        if keep:
            counts.count("forwarded")
            counts.count(labels.kept)
            counts.count(labels.chars_kept, chars)
            counts.count("doc_len", chars)  # datatrove's update_doc_stats
            if token_count := doc.metadata.get("token_count", None):
                counts.count("doc_len_tokens", token_count)
            return True
        reason = reason or "filtered"
        counts.count("dropped")
        dropped = StatName("dropped", reason)
        counts.count(dropped.name)
        counts.count(dropped.for_source(source).name)
        counts.count(StatName("chars_dropped", reason, source).name, chars)
        if self.label_only:
            doc.metadata.setdefault("drop_reason", f"{self.name}:{reason}")
            return True
        if writer:
            doc.metadata["filter_reason"] = f"{self.name}:{reason}"
            writer.write(doc, rank)
        return False
