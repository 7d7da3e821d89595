"""The cost breakdown of a whole job (curation/costs.py): every stage and step of a real run, read back by
`curate stats --costs`; timings never enter the release."""

from __future__ import annotations

import json

import pytest

from curation.cli import main
from curation.config import load_job
from curation.costs import START_UP, UNTIMED, job_costs, read_costs
from curation.pipeline import run_job
from manifests import load

STAGES = ["read and filter", "lsh buckets", "dedup clusters", "dedup filter", "finalize"]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    import yaml

    from tests.conftest import DEMO

    tmp = tmp_path_factory.mktemp("costs")
    data = yaml.safe_load(DEMO.read_text())
    for src in data["sources"]:
        src["path"] = str((DEMO.parent / src["path"]).resolve())
    data.update(output=str(tmp / "out"), version="0.1.0")
    job = tmp / "demo.yaml"
    job.write_text(yaml.safe_dump(data, allow_unicode=True))
    path = run_job(load_job(job))
    events = [json.loads(line) for line in (tmp / "out/logs/demo-0.1.0.jsonl").read_text().splitlines()]
    return path, events


def test_every_stage_and_step_has_a_cost(demo_run):
    path, events = demo_run
    costs = [e for e in events if e["event"] == "costs"]
    assert len(costs) == 1
    parts = costs[0]["parts"]
    assert list(dict.fromkeys(p["stage"] for p in parts)) == STAGES
    first = {p["part"] for p in parts if p["stage"] == "read and filter"}
    # the demo's enabled steps, the readers (timed by the read clock), token counting apart from the writer, the
    # hand-over between steps, start-up
    assert {START_UP, UNTIMED, "read", "normalize", "language", "script", "decontaminate", "dedup signatures", "tokens",
            "write shards"} <= first
    assert all(p["seconds"] >= 0 for p in parts)
    read = sum(s.input for s in load(path).steps if s.step.startswith("read:"))
    assert costs[0]["documents_in"] == read > 0


def test_parts_sum_to_the_stage_and_the_stages_to_the_job(demo_run):
    _, events = demo_run
    done = [e for e in events if e["event"] == "stage_done"]
    assert [e["stage"] for e in done] == STAGES
    for e in done[:-1]:  # finalize runs in the driver: one part, its wall time
        held = e["seconds"] * e["workers"]
        assert sum(e["costs"]["parts"].values()) == pytest.approx(held, abs=0.01)
        # the tasks' clocks: every timed step and the read inside them, start-up outside
        assert e["costs"]["task_seconds"] <= held + 0.01
        assert e["costs"]["tasks"] == e["tasks"]
    costs = next(e for e in events if e["event"] == "costs")
    assert costs["core_seconds"] == pytest.approx(sum(e["seconds"] * e["workers"] for e in done), abs=0.05)
    assert sum(p["share"] for p in costs["parts"]) == pytest.approx(1.0, abs=0.01)
    assert costs["ms_per_document"] == pytest.approx(1000 * costs["core_seconds"] / costs["documents_in"], rel=0.01)


def test_stats_costs_prints_the_run_that_published_the_release(demo_run, capsys):
    path, events = demo_run
    assert main(["stats", str(path), "--costs", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == read_costs(path.parent.parent / "logs" / "demo-0.1.0.jsonl", path)
    assert printed["run_id"] == next(e for e in events if e["event"] == "published")["run_id"]
    assert main(["stats", str(path), "--costs"]) == 0
    table = capsys.readouterr().out
    assert "ms per document" in table and "dedup signatures" in table


def test_timings_stay_out_of_the_release(demo_run):
    path, _ = demo_run
    manifest = (path / "manifest.json").read_text()
    assert "task_seconds" not in manifest and "token_seconds" not in manifest and "start-up" not in manifest
    assert "read_clock" not in [s.step for s in load(path).steps]


def test_a_release_without_logged_costs_is_a_usage_error(demo_run, tmp_path, capsys):
    import shutil

    path, _ = demo_run
    copy = tmp_path / "out" / "demo" / "0.1.0"
    shutil.copytree(path, copy)  # no run log beside it
    assert main(["stats", str(copy), "--costs"]) == 2
    assert "no costs of the run" in capsys.readouterr().err


def test_job_costs_without_stage_costs_counts_the_wall_time_per_worker():
    costs = job_costs([{"stage": "finalize", "seconds": 2.0, "workers": 1},
                       {"stage": "a", "seconds": 1.0, "workers": 2, "costs": {"parts": {START_UP: 0.5, "read": 1.5}}}], 100)
    assert [(p["stage"], p["part"], p["seconds"]) for p in costs["parts"]] == [
        ("finalize", "finalize", 2.0), ("a", START_UP, 0.5), ("a", "read", 1.5)]
    assert costs["ms_per_document"] == 40.0


def test_log_handlers_work_out_library_folders_once_and_still_format_tracebacks():
    import io

    from loguru import _better_exceptions, logger

    from curation.runlog import quick_log_handlers

    quick_log_handlers()  # importing curation.costs did it already; a second call changes nothing
    quick_log_handlers()
    lib_dirs = _better_exceptions.ExceptionFormatter._get_lib_dirs
    assert lib_dirs.cache_info().maxsize == 1 and not hasattr(lib_dirs.__wrapped__, "cache_info")
    sink = io.StringIO()
    handler = logger.add(sink, level="ERROR", backtrace=True, diagnose=False)
    try:
        try:
            {}["missing"]
        except KeyError:
            logger.exception("task failed")
    finally:
        logger.remove(handler)
    assert "task failed" in sink.getvalue() and "KeyError: 'missing'" in sink.getvalue()
