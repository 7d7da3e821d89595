"""Object storage: a CPT job whose sources and output are `s3://` URLs, against a real S3-compatible server the test
starts (moto's standalone server, a separate process speaking the S3 HTTP API; credentials from the environment)."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pyarrow.parquet as pq
import pytest
import yaml

import manifests
from manifests import storage
from manifests.reader import NotAReleaseError
from tests.conftest import REPO, SAMPLES

BUCKET = "curate"
SPACE = re.compile(r"\s*")
DEMO = yaml.safe_load((REPO / "examples/demo.yaml").read_text(encoding="utf-8"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """moto's S3 server on a free port, recording every request it gets (its own recorder, to a file); the demo's
    sample inputs uploaded to s3://curate/samples/. Yields the recording file."""
    import s3fs

    tmp = tmp_path_factory.mktemp("s3")
    port, recording = free_port(), tmp / "requests.jsonl"
    env = {**os.environ, "MOTO_RECORDER_FILEPATH": str(recording)}
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.time() < deadline, "moto server did not start"
            time.sleep(0.1)
    with pytest.MonkeyPatch.context() as mp:
        # what a user exports; child `curate` processes inherit it
        for key, value in {"AWS_ACCESS_KEY_ID": "test-key", "AWS_SECRET_ACCESS_KEY": "test-secret",
                           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
                           "NO_PROXY": "127.0.0.1", "CURATE_STAGING": str(tmp / "staging")}.items():
            mp.setenv(key, value)
        s3fs.S3FileSystem.clear_instance_cache()
        fs, _ = storage.filesystem(f"s3://{BUCKET}")
        fs.mkdir(BUCKET)
        for sub in ("wiki", "news", "legal", "social"):
            for f in sorted((SAMPLES / sub).rglob("*")):
                if f.is_file():
                    fs.put_file(str(f), f"{BUCKET}/samples/{f.relative_to(SAMPLES).as_posix()}")
        # what a desktop leaves beside the files: a wildcard skips it, as glob does for local paths
        fs.pipe_file(f"{BUCKET}/samples/news/.DS_Store", b"\x00\x00\x00\x01Bud1")
        try:
            yield recording
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            s3fs.S3FileSystem.clear_instance_cache()


def demo_job(folder: Path, output: str, inputs: str) -> Path:
    """examples/demo.yaml with its sources under `inputs` (the samples folder, or its copy in the bucket), 4 tasks."""
    job = json.loads(json.dumps(DEMO))
    job["output"] = output
    job["executor"] = {"kind": "local", "tasks": 4, "workers": 1}
    for src in job["sources"]:
        src["path"] = src["path"].replace("../samples", inputs)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump(job, allow_unicode=True), encoding="utf-8")
    return path


def curate(*args, env: dict | None = None) -> subprocess.Popen:
    # its own session, so that a test can kill the whole job (datatrove's processes too) as a scheduler does
    return subprocess.Popen([sys.executable, "-m", "curation.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, cwd=REPO, env=env)


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=600)
    return proc.returncode, out, err


def recorded(recording: Path) -> list[dict]:
    """The requests in the order the server took them. The recorder appends one JSON object and then a newline per
    request from the server's threads, so two objects can share a line: read them one after another instead."""
    text = recording.read_text() if recording.exists() else ""
    decoder, out, at = json.JSONDecoder(), [], 0
    while (at := SPACE.match(text, at).end()) < len(text):
        entry, at = decoder.raw_decode(text, at)
        out.append(entry)
    return out


@pytest.fixture(scope="module")
def local_release_dir(tmp_path_factory) -> Path:
    """The same job on local paths: what the bucket runs must match."""
    tmp = tmp_path_factory.mktemp("local")
    code, out, err = finish(curate("run", str(demo_job(tmp, str(tmp / "out"), str(SAMPLES)))))
    assert code == 0, err
    return tmp / "out/demo/0.1.0"


@pytest.fixture(scope="module")
def local_release(local_release_dir):
    return manifests.load(local_release_dir)


@pytest.fixture(scope="module")
def s3_release(server, tmp_path_factory):
    """The job with sources and output in the bucket, every request to the server recorded: (URL, requests)."""
    url = f"s3://{BUCKET}/releases/demo/0.1.0"
    job = demo_job(tmp_path_factory.mktemp("s3job"), f"s3://{BUCKET}/releases", f"s3://{BUCKET}/samples")
    start = len(recorded(server))
    _recorder(server, "start")
    code, out, err = finish(curate("run", str(job)))
    _recorder(server, "stop")
    assert code == 0, err
    assert out.strip().splitlines()[-1] == url  # the release's address, as a local run prints its path
    return url, recorded(server)[start:]


def _recorder(recording: Path, action: str) -> None:
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{os.environ['AWS_ENDPOINT_URL']}/moto-api/recorder/{action}-recording",
                                                  method="POST"), timeout=30).read()


def test_s3_sources_and_output_publish_the_same_content_hash_as_local_paths(s3_release, local_release):
    url, _ = s3_release
    published = manifests.load(url)
    assert published.content_hash == local_release.content_hash
    assert published.totals == local_release.totals and published.totals["documents"] > 0
    # the inputs are recorded by URL, with the same bytes and digests as the local files
    local_inputs = {Path(f.path).name: f for s in local_release.sources for f in s.input_files}
    s3_inputs = [f for s in published.sources for f in s.input_files]
    assert s3_inputs and all(f.path.startswith(f"s3://{BUCKET}/samples/") for f in s3_inputs)
    assert {Path(f.path).name: (f.bytes, f.sha256) for f in s3_inputs} == {k: (f.bytes, f.sha256) for k, f in local_inputs.items()}
    # nothing of the run is left in the local staging folder: the release lives in the bucket only
    staging = storage.staging_root(f"s3://{BUCKET}/releases")
    assert not (staging / "demo").exists() and not any((staging / ".work" / "demo").glob("0.1.0*"))


def test_manifest_is_uploaded_last_after_a_listing_shows_every_file(s3_release):
    """S3 has no rename: the release becomes one when manifest.json appears, and the server's own record of the
    requests shows that it is written after every other object of the release, and after a listing that saw them."""
    url, requests = s3_release
    prefix = f"/{BUCKET}/releases/demo/0.1.0/"
    writes = [(i, unquote(urlparse(r["url"]).path)) for i, r in enumerate(requests) if r["method"] in ("PUT", "POST", "DELETE")
              and prefix in unquote(urlparse(r["url"]).path)]
    manifest_writes = [i for i, path in writes if path.endswith(prefix + "manifest.json")]
    assert len(manifest_writes) == 1 and writes[-1][0] == manifest_writes[0]  # one PUT of it, the last write
    others = {path for _, path in writes[:-1]}
    fs, root = storage.filesystem(url)
    assert others == {f"/{p}" for p in fs.find(root) if not p.endswith("/manifest.json")}  # every other file, before it
    listings = [i for i, r in enumerate(requests) if r["method"] == "GET" and f"/{BUCKET}" in r["url"] and "list-type=2" in r["url"]]
    assert any(writes[-2][0] < i < manifest_writes[0] for i in listings)  # the check that every file is there


def test_manifest_verify_of_a_release_in_the_bucket(s3_release):
    url, _ = s3_release
    code, out, err = finish(curate("manifest", "verify", url))
    assert code == 0 and f"{url}: ok" in out, out + err
    # a copy of the release with one shard's bytes changed in the bucket: verify names it and fails
    fs, root = storage.filesystem(url)
    copy = f"{BUCKET}/altered/demo/0.1.0"
    for p in fs.find(root):
        fs.copy(p, copy + p[len(root):])
    shard = manifests.load(url).shards[0].path
    data = bytearray(fs.cat_file(f"{copy}/{shard}"))
    data[len(data) // 2] ^= 0xFF
    fs.pipe_file(f"{copy}/{shard}", bytes(data))
    listed = manifests.load(url).files[0].path
    fs.rm_file(f"{copy}/{listed}")  # a listed file gone, and one the manifest does not list added
    fs.pipe_file(f"{copy}/stats/added.json", b"{}")
    code, out, err = finish(curate("manifest", "verify", f"s3://{copy}"))
    assert code == 1 and f"{shard}: shard sha256 differs from manifest" in out, out + err
    assert f"{listed}: file missing" in out and "stats/added.json: file not in manifest" in out, out
    code, out, err = finish(curate("manifest", "verify", f"s3://{BUCKET}/releases/demo/9.9.9"))
    assert code == 1 and "not a release (no manifest.json)" in err, out + err


def test_kill_9_of_an_s3_run_then_resume_publishes_the_same_release(server, local_release, tmp_path):
    output = f"s3://{BUCKET}/killed"
    job = demo_job(tmp_path, output, f"s3://{BUCKET}/samples")
    proc = curate("run", str(job))
    completions = storage.staging_root(output) / ".work/demo/0.1.0/logs/completions"
    deadline = time.time() + 300
    while time.time() < deadline and not (completions.is_dir() and any(completions.iterdir())):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # kill -9 part-way through the first stage
    proc.communicate()
    assert 1 <= len(list(completions.iterdir())) < 4  # killed with work left
    assert storage.released_versions(output, "demo") == []  # nothing in the bucket reads as a release

    code, out, err = finish(curate("run", str(job), "--resume"))
    assert code == 0, err
    url = f"{output}/demo/0.1.0"
    again = manifests.load(url)
    assert again.content_hash == local_release.content_hash and again.totals == local_release.totals
    fs, _ = storage.filesystem(url)
    ids = []
    for shard in again.shards:
        with fs.open(f"{url}/{shard.path}", "rb") as fh:
            ids += pq.read_table(fh, columns=["id"]).column("id").to_pylist()
    assert len(ids) == len(set(ids)) == local_release.totals["documents"]  # no document twice
    assert manifests.verify(url) == []


def test_a_stopped_upload_is_no_release_and_the_next_run_replaces_it(server, s3_release, local_release, tmp_path):
    """What a run stopped during its upload leaves in the bucket (some of the release's files, no manifest.json) and a
    file of an older attempt: no reader takes it for a release, and the next run publishes the version whole."""
    url, _ = s3_release
    output = f"s3://{BUCKET}/stopped"
    fs, root = storage.filesystem(url)
    target = f"{BUCKET}/stopped/demo/0.1.0"
    files = [p for p in fs.find(root) if not p.endswith("/manifest.json")]
    for p in files[: len(files) // 2]:
        fs.copy(p, target + p[len(root):])
    fs.pipe_file(f"{target}/data/zz-older-attempt.parquet", b"not part of any release")

    assert storage.released_versions(output, "demo") == []
    with pytest.raises(NotAReleaseError):
        manifests.load(f"s3://{target}")
    code, out, err = finish(curate("manifest", "verify", f"s3://{target}"))
    assert code == 1 and "not a release" in err

    code, out, err = finish(curate("run", str(demo_job(tmp_path, output, f"s3://{BUCKET}/samples"))))
    assert code == 0, err
    assert out.strip().splitlines()[-1] == f"s3://{target}"  # `auto` took the unfinished version, not the next one
    assert not fs.exists(f"{target}/data/zz-older-attempt.parquet")
    assert manifests.load(f"s3://{target}").content_hash == local_release.content_hash
    assert manifests.verify(f"s3://{target}") == []


def test_a_failed_upload_keeps_the_finished_work_and_resume_publishes_it(server, local_release, tmp_path):
    """The upload refused (here: the bucket is not there yet): the run fails naming the URL, nothing reads as a release,
    the work folder stays; once the bucket is there, --resume publishes the same release."""
    output = "s3://created-later/releases"
    job = demo_job(tmp_path, output, f"s3://{BUCKET}/samples")
    code, out, err = finish(curate("run", str(job)))
    assert code == 6 and f"{output}/demo/0.1.0" in err and "upload failed" in err and "--resume" in err, err
    assert (storage.staging_root(output) / ".work/demo/0.1.0/release/manifest.json").is_file()
    fs, _ = storage.filesystem(output)
    fs.mkdir("created-later")
    assert storage.released_versions(output, "demo") == []
    code, out, err = finish(curate("run", str(job), "--resume"))
    assert code == 0, err
    assert manifests.load(f"{output}/demo/0.1.0").content_hash == local_release.content_hash
    assert manifests.verify(f"{output}/demo/0.1.0") == []


def test_incremental_runs_with_sources_and_releases_in_the_bucket(server, tmp_path):
    """`incremental: true` with the inputs and releases in the bucket: the second run reads only the file added since,
    carries its parent's shards and dedups against it, and publishes what the same two runs publish on local paths."""
    import shutil

    held_back = "news/libreoffice-help-zh-cn.csv"
    local_inputs, output = tmp_path / "inputs", f"s3://{BUCKET}/incremental"
    shutil.copytree(SAMPLES, local_inputs, ignore=shutil.ignore_patterns("sft"))
    (local_inputs / held_back).unlink()
    fs, _ = storage.filesystem(output)
    inbox = f"{BUCKET}/inbox"
    fs.copy(f"{BUCKET}/samples", inbox, recursive=True)
    fs.rm_file(f"{inbox}/{held_back}")
    jobs = {}
    for where, out, inputs in (("local", str(tmp_path / "out"), str(local_inputs)), ("s3", output, f"s3://{inbox}")):
        jobs[where] = demo_job(tmp_path / where, out, inputs)
        data = yaml.safe_load(jobs[where].read_text(encoding="utf-8"))
        jobs[where].write_text(yaml.safe_dump({**data, "incremental": True}, allow_unicode=True), encoding="utf-8")
        assert finish(curate("run", str(jobs[where])))[0] == 0
    shutil.copy(SAMPLES / held_back, local_inputs / held_back)
    fs.put_file(str(SAMPLES / held_back), f"{inbox}/{held_back}")
    for where in jobs:
        code, out, err = finish(curate("run", str(jobs[where])))
        assert code == 0, err
    local, url = manifests.load(tmp_path / "out/demo/0.1.1"), f"{output}/demo/0.1.1"
    second = manifests.load(url)
    assert second.content_hash == local.content_hash and second.totals == local.totals
    assert second.parent == "../0.1.0" and second.increment.input_files == {"zhwiki": 0, "news": 1, "laws": 0, "ptt": 0}
    assert any(s.path.startswith("data/") and "/parent-0.1.0-" in s.path for s in second.shards)  # carried
    assert manifests.verify(url) == []
    code, out, err = finish(curate("run", str(jobs["s3"])))  # nothing new: no release
    assert code == 0 and "no new release" in out and storage.released_versions(output, "demo") == ["0.1.0", "0.1.1"]
    assert not (storage.staging_root(output) / "demo").exists()  # the parent's copy is gone after each run
    assert not (storage.staging_root(output) / ".work/demo/0.1.1").exists()
    # a Python caller gets the same rules as the CLI: the parent is the newest release in the bucket
    from curation.config import load_job
    from curation.pipeline import run_job

    assert run_job(load_job(jobs["s3"])) is None


def incremental_job(folder: Path, output: str, inputs: str) -> Path:
    job = demo_job(folder, output, inputs)
    data = yaml.safe_load(job.read_text(encoding="utf-8"))
    job.write_text(yaml.safe_dump({**data, "incremental": True}, allow_unicode=True), encoding="utf-8")
    return job


def test_a_run_refused_by_the_lock_leaves_the_running_one_its_parent(server, tmp_path):
    """Run A (incremental, its parent in the bucket) holds the release lock; run B of the same job is refused (exit 3)
    and takes nothing away from A, which then publishes with its parent's shards carried."""
    held_back = "news/libreoffice-help-zh-cn.csv"
    output, inbox = f"s3://{BUCKET}/overlap", f"{BUCKET}/overlap-inbox"
    fs, _ = storage.filesystem(output)
    fs.copy(f"{BUCKET}/samples", inbox, recursive=True)
    fs.rm_file(f"{inbox}/{held_back}")
    job = incremental_job(tmp_path, output, f"s3://{inbox}")
    assert finish(curate("run", str(job)))[0] == 0
    fs.put_file(str(SAMPLES / held_back), f"{inbox}/{held_back}")

    run_a = curate("run", str(job))
    lock = storage.staging_root(output) / ".work/demo/0.1.1.lock"


    def held_by_a() -> bool:  # the lock file written whole (an empty one is a stale lock a second run takes over)
        try:
            return json.loads(lock.read_text()).get("pid") == run_a.pid
        except (OSError, ValueError):
            return False

    deadline = time.time() + 300
    while time.time() < deadline and not held_by_a() and run_a.poll() is None:
        time.sleep(0.01)
    os.killpg(run_a.pid, signal.SIGSTOP)  # A holds the lock, and waits while B runs
    try:
        assert held_by_a() and storage.released_versions(output, "demo") == ["0.1.0"]
        code, out, err = finish(curate("run", str(job)))
        assert code == 3 and "locked by run" in err, err
    finally:
        os.killpg(run_a.pid, signal.SIGCONT)
    code, out, err = finish(run_a)
    assert code == 0, err
    url = f"{output}/demo/0.1.1"
    assert out.strip().splitlines()[-1] == url
    release = manifests.load(url)
    assert release.parent == "../0.1.0" and any("/parent-0.1.0-" in s.path for s in release.shards)
    assert manifests.verify(url) == []


def test_sibling_folders_in_a_bucket_are_read_in_the_local_order(server, tmp_path):
    """`legal/split/` and `legal/split-b/`: sorted as strings "split-b/" comes first, sorted as paths (as glob's
    files are) "split/" does. The bucket's files are read, recorded and sharded in the local order: the same content
    hash."""
    import shutil

    local = tmp_path / "inputs"
    shutil.copytree(SAMPLES / "legal", local / "legal")
    (local / "legal/split-b").mkdir()
    (local / "legal/split/criminal-code-excerpt.json").rename(local / "legal/split-b/criminal-code-excerpt.json")
    fs, _ = storage.filesystem(f"s3://{BUCKET}")
    for f in sorted(local.rglob("*")):
        if f.is_file():
            fs.put_file(str(f), f"{BUCKET}/siblings/{f.relative_to(local).as_posix()}")
    published = {}
    for where, output, inputs in (("local", str(tmp_path / "out"), str(local)), ("s3", f"s3://{BUCKET}/siblings-out",
                                                                                  f"s3://{BUCKET}/siblings")):
        job = demo_job(tmp_path / where, output, inputs)
        data = yaml.safe_load(job.read_text(encoding="utf-8"))
        data["sources"] = [s for s in data["sources"] if s["name"] == "laws"]
        data["steps"]["dedup"]["source_priority"] = ["laws"]
        job.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        code, out, err = finish(curate("run", str(job)))
        assert code == 0, err
        published[where] = manifests.load(out.strip().splitlines()[-1])
    order = {where: [f.path.split("/legal/", 1)[1] for s in m.sources for f in s.input_files] for where, m in published.items()}
    assert order["s3"] == order["local"] == ["moj-law-export.json", "split/civil-code-excerpt.json",
                                             "split-b/criminal-code-excerpt.json"]
    assert published["s3"].content_hash == published["local"].content_hash


def test_force_over_a_release_in_the_bucket_deletes_its_manifest_before_any_other_write(server, s3_release, tmp_path):
    """--force replaces a published release: its manifest.json is deleted first, so the old release stops counting
    before any of its files change; the new one is whole at the end, the old one's stray file gone."""
    url, _ = s3_release
    output = f"s3://{BUCKET}/forced"
    target = f"{BUCKET}/forced/demo/0.1.0"
    fs, root = storage.filesystem(url)
    for p in fs.find(root):
        fs.copy(p, target + p[len(root):])
    fs.pipe_file(f"{target}/data/zz-old.parquet", b"a file of the release being replaced")
    job = demo_job(tmp_path, output, f"s3://{BUCKET}/samples")
    data = yaml.safe_load(job.read_text(encoding="utf-8"))
    job.write_text(yaml.safe_dump({**data, "version": "0.1.0"}, allow_unicode=True), encoding="utf-8")
    code, out, err = finish(curate("run", str(job)))
    assert code == 2 and "already exists" in err, err

    start = len(recorded(server))
    _recorder(server, "start")
    try:
        code, out, err = finish(curate("run", str(job), "--force"))
    finally:
        _recorder(server, "stop")
    assert code == 0, err
    requests = recorded(server)[start:]
    prefix = f"/{target}/"
    writes = [(r["method"], unquote(urlparse(r["url"]).path), urlparse(r["url"]).query) for r in requests
              if r["method"] in ("PUT", "POST", "DELETE") and (prefix in unquote(urlparse(r["url"]).path)
                                                              or "delete" in urlparse(r["url"]).query)]
    assert writes and writes[0][:2] == ("DELETE", prefix + "manifest.json"), writes[:3]
    assert [w for w in writes if w[1].endswith("/manifest.json")][-1] == writes[-1]  # and the new one written last
    assert not fs.exists(f"{target}/data/zz-old.parquet")
    assert manifests.verify(f"s3://{target}") == []


def test_s3_errors_are_one_line(server, tmp_path):
    """No credentials, a source folder that is not there, a --since outside the output: one line each, no traceback."""
    job = demo_job(tmp_path, f"s3://{BUCKET}/inc", f"s3://{BUCKET}/samples")
    code, out, err = finish(curate("run", str(job), "--since", str(tmp_path)))
    assert code == 2 and f"the output is s3://{BUCKET}/inc: name a release there (s3://{BUCKET}/inc/demo/VERSION)" in err, err
    job = demo_job(tmp_path / "missing", f"s3://{BUCKET}/inc", f"s3://{BUCKET}/no-such-folder")
    code, out, err = finish(curate("run", str(job)))
    assert code == 2 and f"s3://{BUCKET}/no-such-folder/wiki/*.xml.bz2" in err, err
    assert "resolved to" not in err and "Traceback" not in err
    no_keys = {k: v for k, v in os.environ.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    no_keys["AWS_EC2_METADATA_DISABLED"] = "true"  # no instance-metadata lookup for credentials off EC2
    code, out, err = finish(curate("run", str(demo_job(tmp_path / "nokeys", f"s3://{BUCKET}/x", f"s3://{BUCKET}/samples")),
                                   env=no_keys))
    assert code == 6 and "no S3 credentials: export AWS_ACCESS_KEY_ID" in err and "Traceback" not in err, err


@pytest.mark.parametrize("argv", [["stats", "{url}"], ["stats", "{tmp}", "--compare", "{url}"], ["inspect", "{url}"],
                                  ["report", "{url}", "--output", "{tmp}/r.html"],
                                  ["export", "{url}", "--format", "megatron", "--out", "{tmp}/x"],
                                  ["exclude", "{url}", "--ids", "{tmp}/ids.txt", "--reason", "takedown"],
                                  ["locate", "{url}", "--token-range", "0:10"]])
def test_commands_that_read_local_releases_say_so_for_a_url(argv, tmp_path, capsys):
    """Not `<cwd>/s3:/curate/...: not a release`: one line saying to copy it down, exit 2, before any request."""
    from curation.cli import main

    url = f"s3://{BUCKET}/releases/demo/0.1.0"
    assert main([a.format(url=url, tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"curate: error: {url}: curate {argv[0]} reads local ") and \
        f"copy it down first (aws s3 cp --recursive {url} DIR)" in err and "\n" not in err, err


def test_mix_refuses_an_output_or_a_release_in_object_storage(local_release_dir, tmp_path, capsys):
    """A mixture records its releases' paths relative to its own folder: built locally only, said in one line."""
    from curation.cli import main

    local = str(local_release_dir)
    for output, release, where in ((f"s3://{BUCKET}/mixes", local, "output"),
                                   (str(tmp_path / "mixes"), f"s3://{BUCKET}/releases/demo/0.1.0", "releases[0].path")):
        mix = tmp_path / "mix.yaml"
        mix.write_text(yaml.safe_dump({"name": "mix", "output": output, "releases": [{"path": release}]}), encoding="utf-8")
        assert main(["mix", str(mix)]) == 2
        err = capsys.readouterr().err.strip()
        assert f"{where}: s3://{BUCKET}/" in err and "aws s3 cp --recursive" in err and "\n" not in err, err
    assert not (tmp_path / "mixes").exists()


def test_work_mirror_moves_only_what_changed_and_keeps_a_nodes_unsent_work(server, tmp_path):
    """The work folder's copy (curation/workmirror.py) between a driver folder and a worker node's folder: a file
    crosses once, again only when it changes; a node first reached by a run drops an earlier run's leftovers, but a
    second pull in the same run (a replacement worker while the node's others run) keeps what they wrote and have not
    sent; completion markers go last; deletions cross."""
    from curation.workmirror import WorkMirror

    url = f"s3://{BUCKET}/mirror-unit/demo/0.1.0"
    driver, worker = tmp_path / "driver", tmp_path / "worker"
    (driver / "logs").mkdir(parents=True)
    (driver / "logs/executor.json").write_text("{}")
    (driver / "stage1").mkdir()
    (driver / "stage1/00000.parquet").write_bytes(b"a" * 100)
    (worker / "stage1").mkdir(parents=True)
    (worker / "stage1/00009.parquet").write_bytes(b"left by an earlier run")
    d, w = WorkMirror(url, str(driver), "run-1"), WorkMirror(url, str(worker), "run-1")
    d.clear()
    assert d.push() == 2 and d.push() == 0
    assert w.pull(worker=True) == 2 and w.pull(worker=True) == 0

    def files(folder):
        return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".mirror"))

    assert files(worker) == ["logs/executor.json", "stage1/00000.parquet"]  # the leftover is gone
    (worker / "stage1/00001.parquet").write_bytes(b"b" * 50)
    (worker / "logs/completions").mkdir()
    (worker / "logs/completions/00001").write_text("")
    assert w.pull(worker=True) == 0 and (worker / "stage1/00001.parquet").exists()  # not sent yet: kept
    start = len(recorded(server))
    _recorder(server, "start")
    try:
        assert w.push() == 2
    finally:
        _recorder(server, "stop")
    puts = [unquote(urlparse(r["url"]).path) for r in recorded(server)[start:] if r["method"] == "PUT"]
    assert [p.rsplit("/", 2)[-2:] for p in puts] == [["stage1", "00001.parquet"], ["completions", "00001"]]  # marker last
    (driver / "logs/executor.json").write_text('{"changed": true}')  # the driver's own change since it pushed stays
    assert d.pull() == 2 and (driver / "stage1/00001.parquet").read_bytes() == b"b" * 50
    assert (driver / "logs/executor.json").read_text() == '{"changed": true}'
    (driver / "stage1/00000.parquet").unlink()
    assert d.push() == 1  # the changed executor.json; the deleted shard's copy is removed
    assert w.pull(worker=True) == 1 and not (worker / "stage1/00000.parquet").exists()
    (worker / "stage1/00002.parquet").write_bytes(b"written by a task of run 1, never sent")
    assert WorkMirror(url, str(worker), "run-2").pull(worker=True) == 3  # a new run: the node starts from the copy alone
    assert files(worker) == ["logs/completions/00001", "logs/executor.json", "stage1/00001.parquet"]
    d.clear()
    assert not storage.exists(url)


@pytest.fixture(scope="module")
def split_ray_cluster(server, tmp_path_factory):
    """A real Ray cluster on this machine whose worker nodes share no work folder, neither with the driver nor with each
    other: the head node (no CPUs, so no task runs there) sees the driver's files; each of the two worker nodes (a CPU
    each) runs in its own mount namespace with its own empty tmpfs mounted over CURATE_STAGING, the folder that holds
    the work folder of a job whose output is in the bucket. That is what nodes on other machines without a shared
    filesystem see there. Yields the address."""
    pytest.importorskip("ray")
    staging = Path(os.environ["CURATE_STAGING"])
    staging.mkdir(parents=True, exist_ok=True)
    (staging / "probe").write_text("the driver's")
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f'mount -t tmpfs tmpfs "{staging}" && test ! -e "{staging}/probe"'],
                           capture_output=True)
    (staging / "probe").unlink()
    if probe.returncode != 0:
        pytest.skip(f"no private mount namespace here (unshare -m, as root): {probe.stderr.decode().strip()}")
    ray_cli = [sys.executable, "-m", "ray.scripts.scripts"]
    port = free_port()
    # Ray 2.60 asks joining nodes for the head's auth token once a token file exists (~/.ray/auth_token, left by any
    # earlier `ray start`); a private test cluster runs without, as docs/operations.md says for a private network
    mp = pytest.MonkeyPatch()
    mp.setenv("RAY_AUTH_MODE", "disabled")
    nodes = []
    try:
        subprocess.run([*ray_cli, "start", "--head", f"--port={port}", "--num-cpus=0", "--include-dashboard=false",
                        "--disable-usage-stats"], check=True, capture_output=True)
        for cpus in (b"1.0 CPU", b"2.0 CPU"):  # one after the other: two nodes starting at once on one host time out
            nodes.append(subprocess.Popen(["unshare", "-m", "sh", "-c", f'mount -t tmpfs tmpfs "{staging}" && exec "$0" "$@"',
                                           *ray_cli, "start", f"--address=127.0.0.1:{port}", "--num-cpus=1", "--block"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            deadline = time.time() + 120
            while cpus not in subprocess.run([*ray_cli, "status", f"--address=127.0.0.1:{port}"], capture_output=True).stdout:
                assert all(n.poll() is None for n in nodes) and time.time() < deadline, "a worker node did not join"
                time.sleep(1)
        yield f"127.0.0.1:{port}"
    finally:
        for node in nodes:
            node.terminate()
        subprocess.run([*ray_cli, "stop", "--force"], capture_output=True)
        mp.undo()


def ray_job(folder: Path, output: str, address: str, work_url: str | None) -> Path:
    path = demo_job(folder, output, f"s3://{BUCKET}/samples")
    job = yaml.safe_load(path.read_text(encoding="utf-8"))
    job["executor"] = {"kind": "ray", "ray_address": address, "tasks": 4, "workers": 2,
                       **({"work_url": work_url} if work_url else {})}
    path.write_text(yaml.safe_dump(job, allow_unicode=True), encoding="utf-8")
    return path


def test_ray_workers_without_the_work_folder_exchange_it_through_the_bucket(server, split_ray_cluster, local_release, tmp_path):
    """Every task runs on one of two nodes that see neither the driver's work folder nor each other's (the LSH tasks
    read every first-stage task's signatures, the dedup filter the cluster task's list); sources, the work folder's
    copy and the release are in the bucket. The release equals the local run's; the copy is gone once it is published."""
    output, work = f"s3://{BUCKET}/ray-releases", f"s3://{BUCKET}/ray-work"
    start = len(recorded(server))
    _recorder(server, "start")
    try:
        code, out, err = finish(curate("run", str(ray_job(tmp_path, output, split_ray_cluster, work))))
    finally:
        _recorder(server, "stop")
    assert code == 0, err
    published = manifests.load(f"{output}/demo/0.1.0")
    assert published.content_hash == local_release.content_hash and published.totals == local_release.totals
    assert manifests.verify(f"{output}/demo/0.1.0") == []
    # the first stage's shards and completion markers crossed from the worker node through the copy
    puts = [unquote(urlparse(r["url"]).path) for r in recorded(server)[start:] if r["method"] == "PUT"]
    assert any("/ray-work/demo/0.1.0/logs/completions/" in p for p in puts)
    assert any("/ray-work/demo/0.1.0/stage1/" in p and p.endswith(".parquet") for p in puts), puts
    assert not storage.exists(f"{work}/demo/0.1.0")


def test_ray_workers_without_the_work_folder_and_no_work_url_stop_the_run(server, split_ray_cluster, tmp_path):
    """Before any task runs: exit 2, naming the folder and what to do; before the check such a run ran every task on
    the node where the driver never looks and ended in "tasks did not complete", which --resume repeated."""
    output = f"s3://{BUCKET}/ray-blind"
    code, out, err = finish(curate("run", str(ray_job(tmp_path, output, split_ray_cluster, None))))
    assert code == 2, err
    assert re.search(r"Ray workers on .+ do not see the work folder .+ \(set CURATE_STAGING to one\), or an object-storage "
                     r"URL to exchange it through \(executor.work_url\)", err), err
    assert storage.released_versions(output, "demo") == []
    work = storage.staging_root(output) / ".work/demo/0.1.0"
    assert not list(work.rglob("*.parquet"))  # no task ran


def test_ray_run_without_a_shared_filesystem_resumes_from_the_copy_after_kill_9(server, split_ray_cluster, local_release, tmp_path):
    """kill -9 of the driver after the first stage, and its local work folder lost with it (the driver comes back on
    another machine): `--resume` takes the finished stage back from the bucket's copy instead of running it again, and
    publishes the release of an uninterrupted run."""
    output, work = f"s3://{BUCKET}/ray-resumed", f"s3://{BUCKET}/ray-work"
    job = ray_job(tmp_path, output, split_ray_cluster, work)
    proc = curate("run", str(job))
    local_work = storage.staging_root(output) / ".work/demo/0.1.0"
    stage1_done = local_work / "logs/completions"
    deadline = time.time() + 300
    while time.time() < deadline and not (stage1_done.is_dir() and len(list(stage1_done.iterdir())) == 4):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert storage.released_versions(output, "demo") == []
    fs, _ = storage.filesystem(work)
    assert len([p for p in fs.find(f"{BUCKET}/ray-work/demo/0.1.0/logs/completions")]) == 4  # the stage is in the copy
    import shutil

    shutil.rmtree(local_work)
    code, out, err = finish(curate("run", str(job), "--resume"))
    assert code == 0, err
    url = f"{output}/demo/0.1.0"
    again = manifests.load(url)
    assert again.content_hash == local_release.content_hash and again.totals == local_release.totals
    assert manifests.verify(url) == []
    # the first stage was not run again: its four tasks are what the resumed run skipped
    events = [json.loads(line) for line in (storage.staging_root(output) / "logs/demo-0.1.0.jsonl").read_text().splitlines()]
    costs = [e for e in events if e["event"] == "costs"]
    assert costs and costs[-1]["skipped_tasks"] >= 4, costs
    assert not storage.exists(f"{work}/demo/0.1.0")


def test_a_worker_killed_on_a_node_without_the_shared_folder_sends_nothing_of_that_node_then_resume(
        server, split_ray_cluster, local_release, tmp_path):
    """kill -9 of a Ray worker process while it runs a task on a node that does not see the driver's folder: the task
    may have left part of a file there, which that node's send at the end of the stage would carry over the whole one
    its retry wrote. So nothing of that node is sent: the run stops with "tasks did not complete" (exit 1) and
    `--resume` runs those tasks again and publishes the uninterrupted run's release."""
    output, work = f"s3://{BUCKET}/ray-killed-worker", f"s3://{BUCKET}/ray-work"
    job = ray_job(tmp_path, output, split_ray_cluster, work)
    proc = curate("run", str(job))
    killed, deadline = None, time.time() + 300
    while killed is None and time.time() < deadline and proc.poll() is None:
        ps = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
        running = [int(line.split()[0]) for line in ps.splitlines() if "ray::_RankRunner.run" in line]
        if running:
            os.kill(running[0], signal.SIGKILL)
            killed = running[0]
        time.sleep(0.05)
    code, out, err = finish(proc)
    assert killed is not None, "no task was seen running"
    assert code == 1 and "did not complete" in err, err
    assert storage.released_versions(output, "demo") == []
    code, out, err = finish(curate("run", str(job), "--resume"))
    assert code == 0, err
    again = manifests.load(f"{output}/demo/0.1.0")
    assert again.content_hash == local_release.content_hash and again.totals == local_release.totals


def test_curate_clean_deletes_the_work_folders_copy_in_the_bucket(server, tmp_path):
    """A stopped run's copy would come back with --resume; `curate clean` removes it with the local work folder."""
    from curation.workmirror import WorkMirror

    job = ray_job(tmp_path, str(tmp_path / "out"), "127.0.0.1:1", f"s3://{BUCKET}/clean-work")
    work = tmp_path / "out/.work/demo/0.1.0"
    (work / "logs/completions").mkdir(parents=True)
    (work / "logs/completions/00000").write_text("")
    WorkMirror(f"s3://{BUCKET}/clean-work/demo/0.1.0", str(work), "stopped-run").push()
    assert storage.exists(f"s3://{BUCKET}/clean-work/demo/0.1.0/logs/completions/00000")
    code, out, err = finish(curate("clean", str(job)))
    assert code == 0, err
    assert not work.exists() and not storage.exists(f"s3://{BUCKET}/clean-work/demo/0.1.0")
