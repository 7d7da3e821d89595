"""What exchanging the work folder through a bucket costs (issue 40): the scale job on a Ray cluster of this machine
whose worker nodes share the driver's work folder, against the same cluster whose worker nodes each see an empty
folder there (`unshare -m` + tmpfs, as root) and exchange it through moto's S3 server (`executor.work_url`).

    python -m bench.scale.corpus generate bench/data/scale_pool.json.zst /tmp/c20k --docs 20000 --files 64
    python -m bench.scale.mirror /tmp/c20k --nodes 2 --tasks 64 --out /tmp/bmirror

Per run: wall seconds per stage (the run log's `stage_done` events), the requests the S3 server took and the bytes
it received and sent for the copy, and the release's content hash, which must be the same for both.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

BUCKET = "bench"
RAY = [sys.executable, "-m", "ray.scripts.scripts"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while not check():
        if time.time() > deadline:
            raise SystemExit(f"{what}: not up after {seconds:.0f} s")
        time.sleep(0.5)


def s3_server(folder: Path) -> tuple[subprocess.Popen, Path]:
    """moto's S3 server recording every request; the environment a user would export."""
    port, recording = free_port(), folder / "requests.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            env={**os.environ, "MOTO_RECORDER_FILEPATH": str(recording)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def up() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    wait_for("moto server", up)
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
                       "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "NO_PROXY": "127.0.0.1", "RAY_AUTH_MODE": "disabled"})
    import s3fs

    s3fs.S3FileSystem(anon=False).mkdir(BUCKET)
    return proc, recording


def recorder(action: str) -> None:
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{os.environ['AWS_ENDPOINT_URL']}/moto-api/recorder/{action}-recording",
                                                  method="POST"), timeout=30).read()


def traffic(recording: Path) -> dict:
    """Requests to the copy's prefix by method, and the bytes the PUTs carried."""
    decoder, text, at, out = json.JSONDecoder(), recording.read_text() if recording.exists() else "", 0, {}
    sizes: dict[str, int] = {}
    requests = []
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            break
        entry, at = decoder.raw_decode(text, at)
        requests.append(entry)
    for r in requests:
        if "/work/" not in r["url"]:
            continue
        out[r["method"]] = out.get(r["method"], 0) + 1
        if r["method"] == "PUT":
            sizes["put"] = sizes.get("put", 0) + int(r.get("headers", {}).get("Content-Length", 0) or 0)
    return {"requests": out, "bytes_put": sizes.get("put", 0)}


def cluster(nodes: int, hidden: Path | None) -> tuple[str, list[subprocess.Popen]]:
    """A head without CPUs and `nodes` worker nodes of one CPU, each (with `hidden`) in its own mount namespace with an
    empty tmpfs over `hidden`."""
    port = free_port()
    subprocess.run([*RAY, "start", "--head", f"--port={port}", "--num-cpus=0", "--include-dashboard=false",
                    "--disable-usage-stats"], check=True, capture_output=True)
    procs = []
    for n in range(1, nodes + 1):  # one after the other: nodes starting at once on one host time out
        wrap = ["unshare", "-m", "sh", "-c", f'mount -t tmpfs tmpfs "{hidden}" && exec "$0" "$@"'] if hidden else []
        procs.append(subprocess.Popen([*wrap, *RAY, "start", f"--address=127.0.0.1:{port}", "--num-cpus=1", "--block"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(f"Ray node {n}", lambda: f"{n}.0 CPU".encode() in subprocess.run(
            [*RAY, "status", f"--address=127.0.0.1:{port}"], capture_output=True).stdout)
    return f"127.0.0.1:{port}", procs


def one(input_dir: Path, out: Path, tasks: int, workers: int, address: str, work_url: str | None) -> dict:
    from bench.scale.workers import job_dict
    from curation.config import parse_job
    from curation.pipeline import run_job
    from manifests import load

    spec = job_dict(input_dir, out, tasks, workers, "ray", address)
    if work_url:
        spec["executor"]["work_url"] = work_url
    start = time.perf_counter()
    m = load(run_job(parse_job(spec, "bench", out), force=True))
    wall = time.perf_counter() - start
    done = [json.loads(line) for line in open(out / "logs" / "scale-1.0.0.jsonl")]
    return {"work_url": work_url, "wall_s": round(wall, 2),
            "stages": {e["stage"]: e["seconds"] for e in done if e["event"] == "stage_done"},
            "documents_out": m.totals.get("documents", 0), "content_hash": m.content_hash}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("input_dir", type=Path)
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--tasks", type=int, default=64)
    ap.add_argument("--out", type=Path, default=Path("bench/out/mirror"))
    a = ap.parse_args(argv)
    out = a.out.resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    a.out = out
    server, recording = s3_server(out)
    rows = []
    try:
        for hidden in (None, out / "runs"):
            (out / "runs").mkdir(exist_ok=True)
            address, nodes = cluster(a.nodes, hidden)
            try:
                work_url = f"s3://{BUCKET}/work" if hidden else None
                recorder("start")
                rows.append(one(a.input_dir.resolve(), out / "runs", a.tasks, a.nodes, address, work_url))
                recorder("stop")
                rows[-1]["copy"] = traffic(recording) if hidden else None
                print(json.dumps(rows[-1]), flush=True)
                with open(a.out / "results.jsonl", "a") as f:
                    f.write(json.dumps(rows[-1]) + "\n")
            finally:
                for p in nodes:
                    p.terminate()
                subprocess.run([*RAY, "stop", "--force"], capture_output=True)
                import ray

                ray.shutdown()
    finally:
        server.terminate()
    print(f"content hashes: {len({r['content_hash'] for r in rows})} distinct over {len(rows)} runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
