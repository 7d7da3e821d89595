"""An LLM client for any OpenAI-compatible server (OpenAI, vLLM, llama.cpp server, Ollama) built on the `openai`
package: bounded concurrency, requests- and tokens-per-minute limits, retries with exponential backoff and jitter
that honour Retry-After, a per-request timeout, an on-disk response cache, and token/cost accounting."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from synth.config import LLMConfig


@dataclass
class Reply:
    text: str
    prompt_tokens: int
    completion_tokens: int
    cached: bool


@dataclass
class Usage:
    requests: int = 0  # sent over the network, retries included
    cached: int = 0
    retries: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def merge(self, other: Usage) -> None:
        """Add another run's counts (the judge's requests to generation's)."""
        for name in ("requests", "cached", "retries", "failures", "prompt_tokens", "completion_tokens"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for k, v in other.errors.items():
            self.errors[k] = self.errors.get(k, 0) + v

    def cost(self, config: LLMConfig) -> float:
        return self.prompt_tokens / 1000 * config.price_per_1k_input + self.completion_tokens / 1000 * config.price_per_1k_output


class ResponseCache:
    """SQLite file keyed by sha256 of (server, model, messages, parameters); a finished request is never sent again.
    The server is the configured base_url (`local` for the bundled server, whatever port it gets): another server's
    replies are never replayed as this one's."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across a killed process, no fsync per reply
        self.db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, reply TEXT NOT NULL)")

    @staticmethod
    def key(server: str, model: str, messages: list[dict], params: dict) -> str:
        return hashlib.sha256(json.dumps([server, model, messages, params], sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def get(self, key: str) -> dict | None:
        row = self.db.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, reply: dict) -> None:
        self.db.execute("INSERT OR REPLACE INTO replies VALUES (?, ?)", (key, json.dumps(reply, ensure_ascii=False)))


class RateLimiter:
    """Requests and tokens per minute as two token buckets refilled continuously."""

    def __init__(self, requests_per_minute: float, tokens_per_minute: float):
        self.rpm, self.tpm = requests_per_minute, tokens_per_minute
        self.requests, self.tokens = requests_per_minute, tokens_per_minute
        self.updated = time.monotonic()
        self.lock = asyncio.Lock()

    async def acquire(self, tokens: int) -> None:
        tokens = min(tokens, self.tpm)
        async with self.lock:
            while True:
                now = time.monotonic()
                elapsed, self.updated = now - self.updated, now
                self.requests = min(self.rpm, self.requests + elapsed * self.rpm / 60)
                self.tokens = min(self.tpm, self.tokens + elapsed * self.tpm / 60)
                if self.requests >= 1 and self.tokens >= tokens:
                    self.requests -= 1
                    self.tokens -= tokens
                    return
                wait = max((1 - self.requests) * 60 / self.rpm, (tokens - self.tokens) * 60 / self.tpm, 0.001)
                await asyncio.sleep(wait)


class LLMError(Exception):
    pass


class LLMClient:
    """`server_check`, for a server this run started (the bundled local one): raises when its process has ended, given
    how long to wait for one that may be dying. It is called before each attempt and after each dropped or refused
    connection, so a dead server stops the run at once (its error propagates) instead of being retried."""

    def __init__(self, config: LLMConfig, base_url: str, cache_path: Path, refresh_cache: bool = False,
                 server_check: Callable[[float], None] | None = None):
        from openai import AsyncOpenAI

        self.config = config
        api_key = os.environ.get(config.api_key_env, "") if config.api_key_env else ""
        # our own retry loop (Retry-After, jitter, counting), so the SDK's is off
        self.api = AsyncOpenAI(base_url=base_url, api_key=api_key or "not-needed", timeout=config.timeout_s, max_retries=0)
        self.cache = ResponseCache(cache_path)
        self.refresh_cache = refresh_cache  # ask again even where a reply is cached (and replace it)
        self.limiter = RateLimiter(config.requests_per_minute, config.tokens_per_minute)
        self.semaphore = asyncio.Semaphore(config.concurrency)
        self.usage = Usage()
        self.server_check = server_check

    def params(self, overrides: dict | None = None) -> dict:
        params = {"temperature": self.config.temperature, "max_tokens": self.config.max_tokens, "seed": self.config.seed, **(overrides or {})}
        if self.config.extra_body:
            params["extra_body"] = dict(self.config.extra_body)
        return params

    async def chat(self, messages: list[dict], **overrides) -> Reply:
        import openai

        params = self.params(overrides)
        key = ResponseCache.key(self.config.base_url, self.config.model, messages, params)
        if not self.refresh_cache and (hit := self.cache.get(key)) is not None:
            self.usage.cached += 1
            return Reply(hit["text"], hit["prompt_tokens"], hit["completion_tokens"], cached=True)
        estimate = sum(len(m["content"]) for m in messages) // 2 + params["max_tokens"]
        for attempt in range(self.config.max_retries + 1):
            async with self.semaphore:
                if self.server_check:
                    self.server_check(0)
                await self.limiter.acquire(estimate)
                self.usage.requests += 1
                try:
                    # the raw response, read as JSON: the SDK's typed models cost more CPU than the request itself
                    raw = await self.api.chat.completions.with_raw_response.create(model=self.config.model, messages=messages, **params)
                    body = json.loads(raw.http_response.content)
                    text = body["choices"][0]["message"].get("content") or ""
                    usage = body.get("usage") or {}
                    reply = {"text": text, "prompt_tokens": usage.get("prompt_tokens") or 0,
                             "completion_tokens": usage.get("completion_tokens") or 0}
                    self.cache.put(key, reply)
                    self.usage.prompt_tokens += reply["prompt_tokens"]
                    self.usage.completion_tokens += reply["completion_tokens"]
                    return Reply(**reply, cached=False)
                except (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError, openai.APIConnectionError,
                        json.JSONDecodeError) as e:  # a cut-off body is as transient as a dropped connection
                    name = type(e).__name__
                    self.usage.errors[name] = self.usage.errors.get(name, 0) + 1
                    if self.server_check and isinstance(e, openai.APIConnectionError) and not isinstance(e, openai.APITimeoutError):
                        # a crashing server drops its connections a moment before its exit can be seen: wait for it
                        await asyncio.to_thread(self.server_check, 2.0)
                    if attempt == self.config.max_retries:
                        self.usage.failures += 1
                        raise LLMError(f"{name} after {attempt + 1} attempts: {e}") from e
                    delay = self._retry_after(e) or min(self.config.backoff_max_s, self.config.backoff_base_s * 2 ** attempt)
                    delay *= 1 + random.random() * 0.25  # jitter, so retries of many requests do not align
                except (openai.APIStatusError, ValueError, KeyError, TypeError, IndexError) as e:  # 4xx or a body we cannot read
                    name = type(e).__name__
                    self.usage.errors[name] = self.usage.errors.get(name, 0) + 1
                    self.usage.failures += 1
                    raise LLMError(f"{name}: {e}") from e
            self.usage.retries += 1
            await asyncio.sleep(delay)
        raise LLMError("unreachable")

    @staticmethod
    def _retry_after(error: Exception) -> float | None:
        response = getattr(error, "response", None)
        value = response.headers.get("retry-after") if response is not None else None
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None

    async def close(self) -> None:
        await self.api.close()
