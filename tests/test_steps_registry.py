"""The filter steps are declared once (curation/steps.py): the job config's `steps:` keys, the pipeline's order, the
load-time file checks and the stats all follow that list."""

import json

from curation.config import JobConfig, load_job
from curation.pipeline import collect_step_stats, filter_steps, other_stats
from curation.steps import STEPS, StepsConfig
from tests.conftest import SAMPLES, write_job


def test_the_config_keys_and_the_pipeline_order_are_the_registry():
    assert list(StepsConfig.model_fields) == [s.name for s in STEPS]
    job = JobConfig(name="t", output="/tmp/x", sources=[{"name": "x", "kind": "jsonl", "path": "x.jsonl"}],
                    steps={"quality_model": {"enabled": False}})
    names = [n for n, _ in filter_steps(job, rejects_root=None)]
    assert names == [s.name for s in STEPS if s.step and getattr(job.steps, s.name).enabled]
    assert names.index("pii") < names.index("clean") < names.index("language") < names.index("spam")
    assert type(dict(filter_steps(job, rejects_root=None))["clean"]).__name__ == "LineCleaner"


def test_every_file_a_step_names_is_checked_before_work(tmp_path):
    src = [{"name": "x", "kind": "jsonl", "path": str(SAMPLES / "news/*.jsonl")}]
    for spec in STEPS:
        for key in spec.files:
            job = write_job(tmp_path, src, steps={spec.name: {"enabled": True, key: "missing.bin"}})
            try:
                load_job(job)
            except Exception as e:  # noqa: BLE001 - the error's text is what is checked
                assert f"steps.{spec.name}.{key}: file not found: missing.bin" in str(e)
            else:
                raise AssertionError(f"steps.{spec.name}.{key} naming a missing file was accepted")


def test_a_stat_a_step_starts_counting_reaches_the_manifest(tmp_path):
    stats = tmp_path / "stats"
    stats.mkdir()
    counts = {"total": 5, "forwarded": 4, "dropped": 1, "dropped_too_short": 1, "source:x/in": 5, "source:x/kept": 4,
              "source:x/dropped_too_short": 1, "brand_new_count": 3, "doc_len": {"total": 99}}
    (stats / "00000.json").write_text(json.dumps([{"stats": counts}]))
    step = collect_step_stats(tmp_path, ["quality"])[0]
    assert (step.input, step.kept, step.dropped, step.dropped_by_reason) == (5, 4, 1, {"too_short": 1})
    assert step.other == {"brand_new_count": 3} and step.by_source == {"x": {"in": 5, "kept": 4, "dropped_too_short": 1}}
    assert other_stats({"rejected_bad_json": 2, "input_files": 1}, "rejected") == {"input_files": 1}


def test_steps_keep_datatroves_filter_contract_with_batches():
    """CurationFilter.run goes through `filter_batch` in batches of `batch_size`, as BaseFilter.run does, and adds the
    per-source counts and the step's name in filter_reason."""
    from datatrove.data import Document

    from filters.base import CurationFilter

    class EveryOther(CurationFilter):
        name = "every_other"

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.batches = []

        def filter(self, doc):
            raise AssertionError("a step with filter_batch is asked a batch at a time")

        def filter_batch(self, batch):
            self.batches.append(len(batch))
            return [True if int(d.id) % 2 == 0 else (False, "odd") for d in batch]

    step = EveryOther(batch_size=3)
    docs = [Document(text="文字" * 3, id=str(i), metadata={"source": "s"}) for i in range(7)]
    kept = [d.id for d in step.run(iter(docs))]
    assert kept == ["0", "2", "4", "6"] and step.batches == [3, 3, 1]
    assert step.stats["dropped_odd"].total == 3 and step.stats["source:s/dropped_odd"].total == 3
    assert step.stats["source:s/in"].total == 7 and step.stats["forwarded"].total == 4


class NoDigitsConfig(__import__("filters.config", fromlist=["Strict"]).Strict):
    """The example step's config: off unless enabled, like every step."""

    enabled: bool = False
    max_digit_share: float = 0.3


class NoDigits(__import__("filters.base", fromlist=["CurationFilter"]).CurationFilter):
    """An example filter (this file is its module): drops documents that are mostly digits."""

    name = "no_digits"

    def __init__(self, config: NoDigitsConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config

    def filter(self, doc):
        digits = sum(c.isdigit() for c in doc.text)
        return digits <= self.config.max_digit_share * len(doc.text) or (False, "mostly_digits")


def test_a_new_filter_is_one_module_and_one_registration():
    """Issue 38's target: the module above plus this one registration put a step in the config and the pipeline."""
    from datatrove.data import Document

    from curation.steps import StepSpec, build_filter_steps, steps_config

    specs = (*STEPS[:-1], StepSpec("no_digits", NoDigitsConfig, "tests.test_steps_registry:NoDigits"), STEPS[-1])
    config = steps_config(specs)(no_digits={"enabled": True, "max_digit_share": 0.5}, language={"enabled": False},
                                 script={"enabled": False}, quality={"enabled": False}, spam={"enabled": False},
                                 toxicity={"enabled": False}, decontaminate={"enabled": False})
    steps = build_filter_steps(config, lambda p: p, specs)
    assert [n for n, _ in steps] == ["normalize", "pii", "domains", "clean", "no_digits"]
    docs = [Document(text="圓周率 3.14159265358979323846", id="a", metadata={"source": "s"}),
            Document(text="臺灣的捷運很方便。", id="b", metadata={"source": "s"})]
    for _, step in steps:
        docs = list(step.run(iter(docs)))
    assert [d.id for d in docs] == ["b"]


def test_a_stat_name_is_written_and_read_in_one_place():
    """Steps write counts as StatName(outcome, reason, source); the run's merge and the stats table read them back
    through StatName.parse, so the name's form (datatrove keys stats by string) is not spelled out anywhere else."""
    from filters.base import StatName

    for stat in (StatName("dropped", "too_short", "news"), StatName("chars_dropped", "too_short", "news"),
                 StatName("tagged", "region_hk"), StatName("contaminated", "tmmlu/zh", "forum"), StatName("in", source="news"),
                 StatName("url_checked")):
        assert StatName.parse(stat.name) == stat
    # a reasoned outcome is not read as a shorter one that prefixes it
    assert StatName.parse("chars_dropped_spam").outcome == "chars_dropped"
    assert StatName.parse("segments_removed_ad_line") == StatName("segments_removed", "ad_line")
    assert StatName.parse("source:forum/edited_boilerplate") == StatName("edited", "boilerplate", "forum")


def test_stats_rows_are_the_recorded_outcomes(tmp_path):
    from curation.stats import stats_rows
    from manifests.schema import StepStats

    class M:  # the part of a manifest stats_rows reads
        steps = [StepStats(step="toxicity", input=10, kept=8, dropped=2, dropped_by_reason={"toxic": 2}, by_source={
            "forum": {"in": 10, "kept": 8, "chars_kept": 800, "dropped_toxic": 2, "chars_dropped_toxic": 150,
                      "edited_toxic_segment": 3, "chars_removed_toxic_segment": 40, "segments_removed_toxic_segment": 4,
                      "tagged_profanity": 1, "contaminated_tmmlu": 2, "region_tw": 7}})]

    assert sorted(stats_rows(M), key=str) == sorted([
        ("toxicity", "forum", "kept", None, 8, 800), ("toxicity", "forum", "dropped", "toxic", 2, 150),
        ("toxicity", "forum", "edited", "toxic_segment", 3, 40), ("toxicity", "forum", "tagged", "profanity", 1, None),
        ("toxicity", "forum", "contaminated", "tmmlu", 2, None)], key=str)
