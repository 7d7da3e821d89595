import pytest
import yaml

import manifests
from curation.config import load_job
from curation.pipeline import run_job


def test_ray_executor_release_equals_local(demo_job, tmp_path):
    pytest.importorskip("ray")
    data = yaml.safe_load(demo_job.read_text())
    data["version"] = "0.1.0"
    local_job = tmp_path / "local.yaml"
    local_job.write_text(yaml.safe_dump(data | {"output": str(tmp_path / "local")}, allow_unicode=True))
    ray_job = tmp_path / "ray.yaml"
    ray_job.write_text(yaml.safe_dump(data | {"output": str(tmp_path / "ray"), "executor": {"kind": "ray", "tasks": 2, "workers": 2}},
                                      allow_unicode=True))
    local = manifests.load(run_job(load_job(local_job)))
    try:
        on_ray = manifests.load(run_job(load_job(ray_job)))  # starts a real local Ray cluster
    finally:
        import ray

        ray.shutdown()
    assert on_ray.content_hash == local.content_hash
    assert on_ray.totals == local.totals
    assert [s.model_dump() for s in on_ray.steps] == [s.model_dump() for s in local.steps]


def test_ray_worker_that_does_not_see_the_work_folder_stops_the_run_naming_its_node(demo_job, tmp_path, monkeypatch):
    # Stand-in for a Ray node on another machine without the shared filesystem: the driver's check file is not written,
    # so the (real) Ray workers, looking in the work folder as they see it, do not find it. Before the check such a run
    # ran every task and ended in "tasks did not complete", which --resume repeated.
    pytest.importorskip("ray")
    from curation.errors import ConfigError
    from curation.executors import RayWorkerPool

    monkeypatch.setattr(RayWorkerPool, "write_check_file", lambda self, name, token: None)
    data = yaml.safe_load(demo_job.read_text())
    job = tmp_path / "ray.yaml"
    job.write_text(yaml.safe_dump(data | {"version": "0.1.0", "output": str(tmp_path / "out"),
                                          "executor": {"kind": "ray", "tasks": 2, "workers": 2}}, allow_unicode=True))
    try:
        with pytest.raises(ConfigError, match=r"Ray workers on .+ do not see the work folder .+set CURATE_STAGING"):
            run_job(load_job(job))
    finally:
        import ray

        ray.shutdown()
    assert not (tmp_path / "out" / data["name"] / "0.1.0").exists()  # nothing published
    assert not list((tmp_path / "out").rglob("*.parquet"))  # no task ran: no shard written anywhere
