"""The Slurm path without a Slurm cluster (none can be started in this sandbox's CI in reasonable time:
slurm-wlm needs munge keys, slurmctld and slurmd as services). `sbatch` is replaced by a recorder, and then
each array task is run the way Slurm would run it: `launch_pickled_pipeline <executor.pik>` with
SLURM_ARRAY_TASK_ID set, stage after stage in dependency order."""

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

import manifests
from curation.config import load_job
from curation.pipeline import run_job


def test_slurm_scripts_and_emulated_run_equal_the_local_release(demo_job, tmp_path, monkeypatch):
    data = yaml.safe_load(demo_job.read_text()) | {"version": "0.1.0"}
    local_job = tmp_path / "local.yaml"
    local_job.write_text(yaml.safe_dump(data | {"output": str(tmp_path / "local")}, allow_unicode=True))
    slurm_job = tmp_path / "slurm.yaml"
    slurm_job.write_text(yaml.safe_dump(data | {"output": str(tmp_path / "slurm"), "executor": {
        "kind": "slurm", "tasks": 2, "workers": 2, "partition": "cpu", "time": "00:30:00", "cpus_per_task": 1,
        "mem_per_cpu_gb": 2, "sbatch_args": {"qos": "normal"}}}, allow_unicode=True))

    submitted = []

    def fake_sbatch(contents, job_id_retriever, *args):
        submitted.append((contents, args))
        return str(1000 + len(submitted))

    import datatrove.executor.slurm as slurm

    monkeypatch.setattr(slurm, "launch_slurm_job", fake_sbatch)
    assert run_job(load_job(slurm_job)) is None  # submitted, not yet published
    assert not (tmp_path / "slurm/demo/0.1.0").exists()

    pipelines = [(c, a) for c, a in submitted if "launch_pickled_pipeline" in c]
    assert len(pipelines) == 5  # read+filter, lsh buckets, dedup clusters, dedup filter, finalize
    for i, (script, args) in enumerate(pipelines):
        assert "#SBATCH --partition=cpu" in script and "#SBATCH --time=00:30:00" in script and "#SBATCH --qos=normal" in script
        assert f"source {sys.prefix}/bin/activate" in script
        if i:  # each stage waits for the one before it
            assert any(re.fullmatch(r"--dependency=afterok:\d+", a) for a in args), args
    assert "#SBATCH --array=0-1%2" in pipelines[0][0] and "#SBATCH --array=0-0" in pipelines[4][0]

    # run the array tasks as Slurm would, in dependency order. Stand-in: datatrove asks Slurm's `scontrol show
    # hostnames` to expand SLURM_NODELIST; with no Slurm here a two-line script answers for the one node.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text('#!/bin/sh\n[ "$1 $2" = "show hostnames" ] && echo "$3"\n')
    (bin_dir / "scontrol").chmod(0o755)
    for script, _ in pipelines:
        pik = re.search(r"launch_pickled_pipeline (\S+)", script)[1]
        array = re.search(r"#SBATCH --array=0-(\d+)", script)  # 0-N, possibly with a %workers limit
        for task in range(int(array[1]) + 1 if array else 1):
            env = os.environ | {"SLURM_ARRAY_TASK_ID": str(task), "RUN_OFFSET": "0", "SLURM_NODELIST": "localhost", "SLURM_JOB_ID": "1",
                                "PATH": f"{bin_dir}:{os.environ['PATH']}"}
            done = subprocess.run([str(Path(sys.prefix) / "bin" / "launch_pickled_pipeline"), pik], env=env, capture_output=True, text=True)
            assert done.returncode == 0, done.stderr[-2000:]

    on_slurm = manifests.load(tmp_path / "slurm/demo/0.1.0")
    local = manifests.load(run_job(load_job(local_job)))
    assert on_slurm.content_hash == local.content_hash
    assert [s.model_dump() for s in on_slurm.steps] == [s.model_dump() for s in local.steps]


def slurm_is_up() -> bool:
    import shutil

    if shutil.which("sinfo") is None:
        return False
    out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True)
    return out.returncode == 0 and any(s in out.stdout for s in ("idle", "mix", "alloc"))


def test_real_single_node_slurm_run_equals_local(demo_job, tmp_path):
    """Against the single-node Slurm that .ci/slurm-up starts (Debian's slurm-wlm with munge)."""
    import time

    import pytest

    if not slurm_is_up():
        pytest.skip("no Slurm cluster reachable (.ci/slurm-up starts one)")
    data = yaml.safe_load(demo_job.read_text()) | {"version": "0.1.0"}
    slurm_job = tmp_path / "slurm.yaml"
    slurm_job.write_text(yaml.safe_dump(data | {"output": str(tmp_path / "slurm"), "executor": {
        "kind": "slurm", "tasks": 2, "workers": 2, "partition": "cpu", "time": "00:10:00", "mem_per_cpu_gb": 1}}, allow_unicode=True))
    local_job = tmp_path / "local.yaml"
    local_job.write_text(yaml.safe_dump(data | {"output": str(tmp_path / "local")}, allow_unicode=True))
    assert run_job(load_job(slurm_job)) is None
    release = tmp_path / "slurm/demo/0.1.0"
    deadline = time.time() + 240
    while time.time() < deadline and not (release / "manifest.json").exists():
        time.sleep(1)
    assert (release / "manifest.json").exists(), "the Slurm jobs did not publish the release; see " + str(tmp_path / "slurm/.work")
    assert manifests.load(release).content_hash == manifests.load(run_job(load_job(local_job))).content_hash
