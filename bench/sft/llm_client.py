"""LLM client overhead: requests/s through twcurate's client vs. an ideal client (raw async HTTP, no limiter, no
cache, no retries) at the same concurrency, against the same local servers; then a rerun served from the cache.

    python -m bench.sft.llm_client         # stand-in server with a fixed 50 ms service time, and the real local model

The stand-in is tests/llm_stub.py (a real HTTP server on 127.0.0.1 answering in the OpenAI format).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import httpx

from curation.config import LLMConfig
from synth.client import LLMClient


def messages(i: int) -> list[dict]:
    return [{"role": "user", "content": f"請用一句話介紹臺灣的第 {i} 個景點。"}]


async def ideal(base_url: str, n: int, concurrency: int, max_tokens: int) -> float:
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=300) as http:
        async def one(i):
            async with sem:
                r = await http.post(f"{base_url}/chat/completions", json={"model": "x", "messages": messages(i), "max_tokens": max_tokens})
                r.raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.perf_counter() - start)


async def ours(base_url: str, n: int, concurrency: int, max_tokens: int, cache: Path, offset: int = 0) -> tuple[float, int]:
    client = LLMClient(LLMConfig(base_url=base_url, model="x", concurrency=concurrency, max_tokens=max_tokens,
                                 requests_per_minute=1e9, tokens_per_minute=1e12), base_url, cache)
    start = time.perf_counter()
    await asyncio.gather(*(client.chat(messages(offset + i)) for i in range(n)))
    rate = n / (time.perf_counter() - start)
    sent = client.usage.requests
    await client.close()
    return rate, sent


def measure(name: str, base_url: str, n: int, concurrency: int, max_tokens: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache.sqlite"
        asyncio.run(ideal(base_url, 2, concurrency, max_tokens))  # warm-up
        base = asyncio.run(ideal(base_url, n, concurrency, max_tokens))
        rate, sent = asyncio.run(ours(base_url, n, concurrency, max_tokens, cache, offset=10_000))
        _, resent = asyncio.run(ours(base_url, n, concurrency, max_tokens, cache, offset=10_000))
    print(f"| {name} | {concurrency} | {n} | {base:,.1f} | {rate:,.1f} | {rate / base:.1%} | {sent} | {resent} |")


def main() -> None:
    from tests.llm_stub import Stub

    print("| server | concurrency | requests | ideal client req/s | twcurate client req/s | share | sent | sent on rerun |")
    print("|---|---|---|---|---|---|---|---|")
    for concurrency in (4, 16):
        with Stub(latency=0.05) as stub:
            measure("stand-in, 50 ms per request", stub.base_url, 400, concurrency, 32)
    try:
        from synth.local_server import LocalLLMServer

        with tempfile.TemporaryDirectory() as tmp, LocalLLMServer(None, 8791, Path(tmp) / "server.log") as server:
            measure("llama.cpp + Gemma 3 270M (real)", server.base_url, 12, 2, 16)
    except Exception as e:  # noqa: BLE001 - report, the stand-in rows still stand
        print(f"\n(real local model not measured: {e})")


if __name__ == "__main__":
    main()
