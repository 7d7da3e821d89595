"""The bundled local LLM server's failures, run for real: a server process that crashes while answering ends the run
at once, in one line that names the signal and the server's log, with nothing published and no request retried
against the dead server; a server that cannot start says why, in one line.

The crashing server is a stand-in (STAND_IN below, not llama.cpp): a real OpenAI-compatible HTTP server in its own
process, started by LocalLLMServer through its `command` parameter, that answers /v1/models and kills itself with
SIGSEGV on the first chat request, as llama.cpp's AMX kernels did on an AMX Xeon (issue 36). So that attempts against
the dead server can be counted, it forks a watcher first that keeps the listening socket: once the server is dead the
watcher accepts (and closes) every connection that still comes, and writes how many into a file."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest
import yaml

import synth.local_server
from curation.cli import main
from synth.client import LLMClient
from synth.config import LLMConfig
from synth.local_server import LocalLLMServer, LocalServerError, how_it_ended, last_meaningful_line

STAND_IN = r'''
import json, os, signal, socket, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer

port, after_death = int(sys.argv[1]), sys.argv[2]
listener = socket.create_server(("127.0.0.1", port))
server_pid = os.getpid()
if os.fork() == 0:  # the watcher: waits for the server's death, then counts the connections that still come
    os.setsid()
    with open(after_death + ".pid", "w") as f:
        f.write(str(os.getpid()))
    while os.getppid() == server_pid:
        time.sleep(0.01)
    listener.settimeout(0.1)
    count, deadline = 0, time.time() + 30
    while time.time() < deadline:
        with open(after_death + ".tmp", "w") as f:  # renamed into place: the test never reads a half-written count
            f.write(str(count))
        os.replace(after_death + ".tmp", after_death)
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            continue
        count += 1
        conn.close()
    os._exit(0)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        data = json.dumps({"object": "list", "data": [{"id": "gemma3-270m", "object": "model"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        print("load_tensors: stand-in crash on the first chat request", flush=True)
        os.kill(os.getpid(), signal.SIGSEGV)


server = HTTPServer(("127.0.0.1", port), Handler, bind_and_activate=False)
server.socket = listener
print("INFO:     stand-in server listening", flush=True)
server.serve_forever()
'''

# crashes while starting: the kind of last line a failed start leaves in the log
FAILS_TO_START = r'''
import sys
print("llama_model_load: error loading model", file=sys.stderr)
sys.exit("ValueError: Failed to load model from file: /nowhere/model.gguf")
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def crashing_server(tmp_path):
    """(command, port, file that counts the connections made after the crash); the watcher is ended afterwards."""
    script = tmp_path / "crashing_server.py"
    script.write_text(STAND_IN, encoding="utf-8")
    port, after_death = free_port(), tmp_path / "after_death"
    yield [sys.executable, str(script), str(port), str(after_death)], port, after_death
    pid_file = Path(f"{after_death}.pid")
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
        except (ProcessLookupError, ValueError):
            pass


def attempts_after_death(after_death: Path) -> int:
    deadline = time.time() + 5  # the watcher writes its count every 0.1 s once the server is dead
    while not after_death.exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # a connection made just before the run ended is accepted and counted by now
    return int(after_death.read_text())


def test_client_stops_at_once_when_the_server_process_dies(tmp_path, crashing_server):
    command, port, after_death = crashing_server
    config = LLMConfig(base_url="local", model="gemma3-270m", local_port=port, concurrency=2, max_retries=4, timeout_s=30)
    log = tmp_path / "llm-server.log"
    messages = [[{"role": "user", "content": f"問題 {i}"}] for i in range(12)]

    async def ask_all(client):
        try:
            await asyncio.gather(*(client.chat(m) for m in messages))
        finally:
            await client.close()

    start = time.monotonic()
    with LocalLLMServer(None, port, log, command=command) as server:
        client = LLMClient(config, server.base_url, tmp_path / "cache.sqlite", server_check=server.check)
        with pytest.raises(LocalServerError) as error:
            asyncio.run(ask_all(client))
    elapsed = time.monotonic() - start
    message = str(error.value)
    assert message.startswith("the local LLM server died (signal SIGSEGV) while answering")
    assert message.endswith(f"; see {log}") and "\n" not in message
    assert "stand-in crash" not in message  # llama.cpp's chatter (load_tensors ...) says nothing of why
    # the requests in flight when it died (concurrency 2) and none after: 12 requests x 5 attempts would be 60
    assert client.usage.requests <= 2 and client.usage.retries == 0
    assert attempts_after_death(after_death) <= 1  # at most the second in-flight request, queued before the crash
    assert elapsed < 10  # no backoff of 1 + 2 + 4 + 8 s


def test_curate_synth_exits_1_in_one_line_and_publishes_nothing_when_the_server_dies(tmp_path, crashing_server, monkeypatch, capsys):
    command, port, after_death = crashing_server
    monkeypatch.setattr(synth.local_server, "LocalLLMServer", functools.partial(LocalLLMServer, command=command))
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("".join(json.dumps({"id": f"s{i}", "instruction": f"第{i}個問題是什麼？", "response": "臺灣的捷運很方便。"},
                                        ensure_ascii=False) + "\n" for i in range(6)), encoding="utf-8")
    job = tmp_path / "synth.yaml"
    job.write_text(yaml.safe_dump({
        "name": "sft", "version": "0.1.0", "output": str(tmp_path / "out"),
        "llm": {"base_url": "local", "model": "gemma3-270m", "local_port": port, "concurrency": 2, "max_retries": 4},
        "tasks": [{"kind": "paraphrase", "input": str(seeds), "count": 2}]}, allow_unicode=True), encoding="utf-8")

    assert main(["synth", str(job)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    log = tmp_path / "out/.work/sft/0.1.0/llm-server.log"
    assert err == [f"curate: error: the local LLM server died (signal SIGSEGV) while answering; see {log}"]
    assert log.exists()
    assert not (tmp_path / "out/sft").exists()  # nothing published
    assert attempts_after_death(after_death) <= 1  # none of the job's 12 requests retried against the dead server


def test_a_server_that_cannot_start_says_why_in_one_line(tmp_path):
    script = tmp_path / "fails_to_start.py"
    script.write_text(FAILS_TO_START, encoding="utf-8")
    log = tmp_path / "llm-server.log"
    with pytest.raises(LocalServerError) as error:
        with LocalLLMServer(None, free_port(), log, command=[sys.executable, str(script)]):
            pass
    assert str(error.value) == (f"the local LLM server exited (exit code 1) while starting "
                                f"(ValueError: Failed to load model from file: /nowhere/model.gguf); see {log}")


def test_a_crash_in_llamas_amx_kernels_names_the_portable_rebuild(tmp_path):
    """The log of a build that put the weights in llama.cpp's AMX buffer (the line llama.cpp writes), then a crash."""
    script = tmp_path / "amx_crash.py"
    script.write_text("import os, signal\nprint('load_tensors:          AMX model buffer size =   158.45 MiB', flush=True)\n"
                      "os.kill(os.getpid(), signal.SIGSEGV)\n", encoding="utf-8")
    log = tmp_path / "llm-server.log"
    with pytest.raises(LocalServerError) as error:
        with LocalLLMServer(None, free_port(), log, command=[sys.executable, str(script)]):
            pass
    message = str(error.value)
    assert message.startswith("the local LLM server died (signal SIGSEGV) while starting; its llama.cpp build runs AMX kernels")
    assert "CMAKE_ARGS='-DGGML_NATIVE=OFF' pip install --force-reinstall" in message and message.endswith(f"; see {log}")
    assert "\n" not in message


def test_how_a_process_ended_and_the_logs_telling_line(tmp_path):
    assert how_it_ended(-signal.SIGSEGV) == "signal SIGSEGV" and how_it_ended(-signal.SIGKILL) == "signal SIGKILL"
    assert how_it_ended(1) == "exit code 1"
    log = tmp_path / "server.log"
    log.write_text("llama_model_loader: loaded meta data\nTraceback (most recent call last):\n  File \"x.py\", line 1\n"
                   "OSError: [Errno 98] address already in use\nINFO:     Waiting for application shutdown.\n", encoding="utf-8")
    assert last_meaningful_line(log) == "OSError: [Errno 98] address already in use"
    log.write_text("Fatal Python error: Segmentation fault\n\nThread 0x00007f (most recent call first):\n"
                   "  File \"llama_cpp/_internals.py\", line 3 in decode\n", encoding="utf-8")
    assert last_meaningful_line(log) is None  # faulthandler's dump only restates the signal
    log.write_text("RuntimeError: " + "x" * 500 + "\n", encoding="utf-8")
    assert last_meaningful_line(log) is None  # too long for one line
    assert last_meaningful_line(tmp_path / "missing.log") is None
