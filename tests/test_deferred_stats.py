"""DeferredStats writes a step's per-document counts once at the end of its run: the stats must be those the
per-document `stat_update` calls wrote, to the bit and in the same order."""

import json
import random

from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep

from filters.base import CurationFilter, DeferredStats


class _Step(PipelineStep):
    name = "step"

    def run(self, data, rank=0, world_size=1):
        yield from data


def test_replay_matches_stat_update_to_the_bit():
    rng = random.Random(7)
    direct, deferred = _Step(), _Step()
    counts = DeferredStats(deferred)
    for i in range(10_000):
        label = rng.choice(["total", "chars", "doc_len", "dropped_x"])
        value = 1 if label in ("total", "dropped_x") else rng.choice([rng.randint(0, 50_000), rng.random() * 1e4])
        direct.stat_update(label, value=value)
        counts.count(label, value)
        if i % 3001 == 0:  # written out part-way, as a long run does
            counts.flush()
    counts.flush()
    assert json.dumps(direct.stats.to_dict()) == json.dumps(deferred.stats.to_dict())
    for label in direct.stats.stats:
        assert vars(direct.stats[label]) == vars(deferred.stats[label])


class _EveryOther(CurationFilter):
    name = "every_other"

    def filter(self, doc):
        return int(doc.id) % 2 == 0 or (False, "odd")


class _PerDocument(_EveryOther):
    """The same filter counting as CurationFilter did before DeferredStats: stat_update per document."""

    def run(self, data, rank=0, world_size=1):
        for doc in data:
            keep, reason = (True, None) if self.filter(doc) is True else self.filter(doc)
            source = doc.metadata.get("source", "unknown")
            self.stat_update("total", f"source:{source}/in")
            if keep:
                self.stat_update("forwarded", f"source:{source}/kept")
                self.stat_update(f"source:{source}/chars_kept", value=len(doc.text))
                self.update_doc_stats(doc)
                yield doc
                continue
            self.stat_update("dropped")
            self.stat_update(f"dropped_{reason}", f"source:{source}/dropped_{reason}")
            self.stat_update(f"source:{source}/chars_dropped_{reason}", value=len(doc.text))


def test_filter_stats_same_as_per_document_updates():
    docs = lambda: [Document(text="字" * (i * 37 % 500), id=str(i), metadata={"source": f"s{i % 3}"}) for i in range(9000)]  # noqa: E731
    new, old = _EveryOther(), _PerDocument()
    assert [d.id for d in new.run(iter(docs()))] == [d.id for d in old.run(iter(docs()))]
    assert json.dumps(new.stats.stats.to_dict()) == json.dumps(old.stats.stats.to_dict())
