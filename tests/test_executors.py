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
