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


def demo_job(tmp, **changes):
    """The demo job writing under `tmp/out`, version 0.1.0, with `changes` to its config."""
    import yaml

    from tests.conftest import DEMO

    data = yaml.safe_load(DEMO.read_text())
    for src in data["sources"]:
        src["path"] = str((DEMO.parent / src["path"]).resolve())
    data.update(output=str(tmp / "out"), version="0.1.0", **changes)
    job = tmp / "demo.yaml"
    job.write_text(yaml.safe_dump(data, allow_unicode=True))
    return load_job(job)


def run_events(tmp) -> list[dict]:
    return [json.loads(line) for line in (tmp / "out/logs/demo-0.1.0.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("costs")
    path = run_job(demo_job(tmp))
    return path, run_events(tmp)


def assert_parts_add_up(done: list[dict]):
    """Each stage's parts, rounded to 1e-4, add up exactly (to rounding): start-up and the tasks' clocks fill the
    core-seconds the stage held (wall x workers), and the other parts split the tasks' clocks; a task counted twice
    or a part overwritten breaks one of the two."""
    for e in done[:-1]:  # finalize runs in the driver: one part, its wall time
        held, costs = e["seconds"] * e["workers"], e["costs"]
        assert costs["parts"][START_UP] + costs["task_seconds"] == pytest.approx(held, abs=1e-3), e["stage"]
        assert sum(costs["parts"].values()) - costs["parts"][START_UP] == pytest.approx(costs["task_seconds"], abs=1e-3), e["stage"]


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
    assert_parts_add_up(done)
    assert all(e["costs"]["tasks"] == e["tasks"] for e in done[:-1])
    costs = next(e for e in events if e["event"] == "costs")
    assert costs["core_seconds"] == pytest.approx(sum(e["seconds"] * e["workers"] for e in done), abs=0.05)
    assert sum(p["share"] for p in costs["parts"]) == pytest.approx(1.0, abs=0.01)
    assert costs["ms_per_document"] == pytest.approx(1000 * costs["core_seconds"] / costs["documents_in"], rel=0.01)


@pytest.fixture(scope="module")
def forced_rerun(tmp_path_factory):
    """The demo published twice to one folder, the second time with --force: two runs in one run log."""
    tmp = tmp_path_factory.mktemp("rerun")
    run_job(demo_job(tmp))
    path = run_job(demo_job(tmp), force=True)
    return path, run_events(tmp)


def test_stats_costs_prints_the_run_that_published_the_release(forced_rerun, capsys):
    path, events = forced_rerun
    first, second = [e["run_id"] for e in events if e["event"] == "published"]
    assert first != second
    assert main(["stats", str(path), "--costs", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["run_id"] == second  # the run that published the release there now, not the first
    assert printed == next(e for e in events if e["event"] == "costs" and e["run_id"] == second)
    assert main(["stats", str(path), "--costs"]) == 0
    table = capsys.readouterr().out
    assert "ms per document" in table and "dedup signatures" in table


# what differs between two publications of the same job into two output folders: when it was built, the output
# folder (in the config, so its hashes and the datasheet's), and the gzip header's mtime in each rejects file
VARYING = {"created", "config_hash", "description_hash"}


def test_timings_stay_out_of_the_release(demo_run, forced_rerun):
    """Two runs (other timings, other run ids) publish manifests equal but for the fields that must vary."""
    def comparable(path):
        m = json.loads((path / "manifest.json").read_text())
        for key in VARYING:
            m.pop(key)
        m["config"].pop("output")
        for f in m["files"]:
            if f["path"].startswith("rejects/") and f["path"].endswith(".gz"):
                f.pop("sha256")
        return m

    one, two = comparable(demo_run[0]), comparable(forced_rerun[0])
    assert one == two
    assert "read_clock" not in [s.step for s in load(demo_run[0]).steps]


def test_a_release_without_logged_costs_is_a_usage_error(demo_run, tmp_path, capsys):
    import shutil

    path, _ = demo_run
    copy = tmp_path / "out" / "demo" / "0.1.0"
    shutil.copytree(path, copy)  # no run log beside it
    assert main(["stats", str(copy), "--costs"]) == 2
    err = capsys.readouterr().err
    assert "no costs of the run" in err and "Slurm run, which logs no costs" in err and err.count("\n") == 1


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


def test_a_stage_run_by_two_workers_holds_wall_time_twice(tmp_path):
    run_job(demo_job(tmp_path, executor={"kind": "local", "tasks": 4, "workers": 2}))
    done = [e for e in run_events(tmp_path) if e["event"] == "stage_done"]
    assert [e["workers"] for e in done] == [2, 2, 1, 2, 1]  # dedup clusters is one task; finalize the driver
    assert_parts_add_up(done)


def test_a_resumed_run_costs_only_the_tasks_it_ran(tmp_path, monkeypatch):
    from filters.dedup import DedupClusters

    job = demo_job(tmp_path)
    original = DedupClusters.run

    def crash(self, data=None, rank=0, world_size=1):
        raise RuntimeError("killed")
        yield

    monkeypatch.setattr(DedupClusters, "run", crash)
    with pytest.raises(RuntimeError, match="killed"):
        run_job(job)
    monkeypatch.setattr(DedupClusters, "run", original)
    path = run_job(job, resume=True)
    events = run_events(tmp_path)
    resumed = next(e["run_id"] for e in events if e["event"] == "published")
    killed_done = [e for e in events if e["event"] == "stage_done" and e["run_id"] != resumed]
    assert [e["stage"] for e in killed_done] == STAGES[:2]  # read and filter, lsh buckets: done before the crash
    done = [e for e in events if e["event"] == "stage_done" and e["run_id"] == resumed]
    assert [e["stage"] for e in done] == STAGES
    assert [e["costs"]["tasks"] for e in done[:-1]] == [0, 0, done[2]["tasks"], done[3]["tasks"]]
    assert_parts_add_up(done)
    costs = next(e for e in events if e["event"] == "costs" and e["run_id"] == resumed)
    assert costs["resumed"] is True and costs["skipped_tasks"] == sum(e["tasks"] for e in killed_done)
    assert costs["core_seconds"] == pytest.approx(sum(e["seconds"] * e["workers"] for e in done), abs=1e-3)
    assert main(["stats", str(path), "--costs", "--json"]) == 0


def test_a_failure_computing_costs_is_logged_and_the_run_still_publishes(tmp_path, monkeypatch):
    import curation.costs

    def malformed(logs, *args, **kwargs):
        raise ValueError(f"{logs}/stats/00000.json: not JSON\nsecond line")

    monkeypatch.setattr(curation.costs, "stage_costs", malformed)
    path = run_job(demo_job(tmp_path))
    events = run_events(tmp_path)
    assert (path / "manifest.json").is_file() and events[-1]["event"] == "published"
    failed = [e for e in events if e["event"] == "costs_failed"]
    assert len(failed) == 1 and "read and filter" in failed[0]["error"] and "not JSON" in failed[0]["error"]
    assert "\n" not in failed[0]["error"]
    assert not [e for e in events if e["event"] == "costs"]
    assert all("costs" not in e for e in events if e["event"] == "stage_done")


def test_a_step_named_like_the_stage_adds_to_its_untimed_time(tmp_path):
    """The later stages' one step is named like the stage (`untimed_as`): its time and the task time it does not
    time are one part, added, not one overwriting the other. Only the ranks given are read (a resumed run's own)."""
    from curation.costs import stage_costs

    (tmp_path / "stats").mkdir()
    for rank, (step, task) in enumerate([(2.0, 3.0), (5.0, 7.0)]):
        (tmp_path / "stats" / f"{rank:05d}.json").write_text(json.dumps([
            {"name": "🫂 - DEDUP: dedup clusters", "time_stats": {"total": step}, "stats": {}},
            {"name": "📊 - STATS: task clock", "time_stats": {"total": 0.0}, "stats": {"task_seconds": {"total": task}}}]))
    costs = stage_costs(tmp_path, wall_seconds=4.0, workers=1, untimed_as="dedup clusters", ranks=[0])
    assert costs == {"tasks": 1, "task_seconds": 3.0, "parts": {START_UP: 1.0, "dedup clusters": 3.0}}
    both = stage_costs(tmp_path, wall_seconds=6.0, workers=2, untimed_as="dedup clusters")
    assert both["parts"] == {START_UP: 2.0, "dedup clusters": 10.0} and both["tasks"] == 2
