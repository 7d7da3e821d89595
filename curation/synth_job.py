"""`curate synth`: tasks -> LLM -> JSON parsing (one repair try) -> gates -> an SFT release with its manifest."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections import Counter
from pathlib import Path

from curation.config import LLMConfig, SynthJobConfig
from curation.errors import CurateError
from curation.release import ReleaseLayout, resolve_version
from synth.client import LLMClient, LLMError
from synth.gates import Decontamination, GroundingGate, LanguageScriptGate, LengthGate, NearDuplicates, PiiGate, RefusalGate
from synth.tasks import PROMPTS, TASKS, ImportTask, Request, Task, extract_json, read_jsonl, repair_messages


def json_params(mode: str, task: Task) -> dict:
    if mode == "json_object":
        return {"response_format": {"type": "json_object"}}
    if mode == "json_object_schema":
        return {"response_format": {"type": "json_object", "schema": task.schema()}}
    return {}


async def generate(client: LLMClient, task: Task, request: Request, json_mode: str = "none") -> tuple[dict | None, dict | None]:
    """(record, None) or (None, failure with the raw reply). Invalid JSON gets one repair request."""
    try:
        reply = await client.chat(request.messages, **json_params(json_mode, task))
        obj = extract_json(reply.text)
        problem = task.validate(obj)
        if problem:
            repaired = await client.chat(repair_messages(request, task, reply.text), **json_params(json_mode, task))
            obj = extract_json(repaired.text)
            problem = task.validate(obj)
            if problem:
                return None, {"id": request.id, "task": task.name, "reason": problem, "raw": reply.text, "raw_repair": repaired.text}
        return task.record(request, obj), None
    except LLMError as e:
        return None, {"id": request.id, "task": task.name, "reason": "llm_error", "error": str(e)}


async def generate_all(client: LLMClient, work: list[tuple[Task, Request]], json_mode: str) -> list[tuple[dict | None, dict | None]]:
    return await asyncio.gather(*(generate(client, task, request, json_mode) for task, request in work))


def run_requests(llm: LLMConfig, work: list, cache: Path, resolve, server_log: Path, refresh_cache: bool = False) -> tuple[list, object, str]:
    """Every (task, request) of `work` through the cached client against the configured server (the bundled local
    llama.cpp server is started for `base_url: local` and stopped after); returns (results, usage, json mode used)."""
    from synth.client import Usage
    from synth.local_server import LocalLLMServer

    if not work:  # an import-only job asks no one: no server is started
        return [], Usage(), "none"
    local = llm.base_url == "local"
    server = (LocalLLMServer(resolve(llm.local_model_path) if llm.local_model_path else None, llm.local_port, server_log)
              if local else contextlib.nullcontext())
    json_mode = llm.json_mode if llm.json_mode != "auto" else ("json_object_schema" if local else "none")
    with server as srv:
        base_url = srv.base_url if local else llm.base_url

        async def main():
            client = LLMClient(llm, base_url, cache, refresh_cache=refresh_cache)
            try:
                return await generate_all(client, work, json_mode), client.usage
            finally:
                await client.close()

        results, usage = asyncio.run(main())
    return results, usage, json_mode


def run_judge(job: SynthJobConfig, records: list[dict], layout) -> tuple[list[dict], list[dict], list[dict], object]:
    """The LLM judge over the records that passed the gates: (kept with their `judge` scores, rejected as
    judge:low_score, failed judge requests, usage). Imported records are judged only with `judge.imports`; a record
    whose judging failed is kept, unjudged, and its failure recorded."""
    from synth.judge import JudgeTask

    task = JudgeTask(job.judge)
    todo = [r for r in records if r.get("task") != "import" or job.judge.imports]
    results, usage, _ = run_requests(job.llm, [(task, task.request(r)) for r in todo], job.output_dir / ".llm-cache" / f"{job.llm.model}.sqlite",
                                     job.resolve, layout.work / "llm-server-judge.log")
    verdicts = {v["id"]: v for v, _ in results if v}
    failures = [f for _, f in results if f]
    kept, rejected = [], []
    for r in records:
        v = verdicts.get(r["id"])
        if v is None:
            kept.append(r)
            continue
        r = {**r, "judge": {"scores": v["scores"], "mean": v["mean"], "reason": v["reason"]}}
        if v["mean"] < job.judge.threshold:
            rejected.append({**r, "gate": "judge", "reason": "low_score"})
        else:
            kept.append(r)
    return kept, rejected, failures, usage


def seed_texts(job: SynthJobConfig) -> list[str]:
    texts = []
    for t in job.tasks:
        if t.kind in ("self_instruct", "paraphrase"):
            texts += [f"{r['instruction']}{r['response']}" for r in read_jsonl(job.resolve(t.input))]
    return texts


def export(records: list[dict], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "alpaca.jsonl", "w", encoding="utf-8") as a, open(folder / "sharegpt.jsonl", "w", encoding="utf-8") as s:
        for r in records:
            system = next((m["content"] for m in r["messages"] if m["role"] == "system"), "")
            user = next(m["content"] for m in r["messages"] if m["role"] == "user")
            assistant = next(m["content"] for m in r["messages"] if m["role"] == "assistant")
            a.write(json.dumps({"instruction": user, "input": "", "output": assistant, "system": system}, ensure_ascii=False) + "\n")
            roles = {"system": "system", "user": "human", "assistant": "gpt"}
            s.write(json.dumps({"id": r["id"], "conversations": [{"from": roles[m["role"]], "value": m["content"]} for m in r["messages"]]},
                               ensure_ascii=False) + "\n")


def run_synth(job: SynthJobConfig, force: bool = False, refresh_cache: bool = False, strict: bool = False) -> Path:
    """Generate, gate and publish the SFT release; a run with 0 records kept or half its requests failed carries
    `alerts` (in the manifest's generation info), fails before publishing with `strict`."""
    from manifests.writer import seal_release, write_sft_release

    version = resolve_version(job.output_dir, job.name, job.version)
    layout = ReleaseLayout(job.output_dir, job.name, version)
    layout.prepare(force=force, resume=True)  # the response cache, not the work folder, is what makes reruns free
    tasks = [(TASKS[t.kind](t, job.system_prompt), t) for t in job.tasks if t.kind != "import"]
    work = [(task, req) for task, cfg in tasks for req in task.requests(job.resolve(cfg.input))]
    imported, import_failures, imports = [], [], {}
    for cfg in (t for t in job.tasks if t.kind == "import"):  # existing data: no request, the same gates
        path = job.resolve(cfg.input)
        if not path.is_file():
            raise CurateError(f"import: {path}: input file not found")
        records, failed = ImportTask(cfg, job.system_prompt).records(path)
        imported += records
        import_failures += failed
        source = cfg.source or path.stem
        imports[source] = {"file": cfg.input, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "license": cfg.license,
                           "records": len(records), "malformed": len(failed)}
    results, usage, json_mode = run_requests(job.llm, work, job.output_dir / ".llm-cache" / f"{job.llm.model}.sqlite",
                                             job.resolve, layout.work / "llm-server.log", refresh_cache)
    generated = [r for r, _ in results if r] + imported
    failures = [f for _, f in results if f] + import_failures
    gates = [LengthGate(job.gates), LanguageScriptGate(job.gates), RefusalGate(), GroundingGate(),
             Decontamination(job.gates, [job.resolve(p) for p in job.gates.eval_sets]), NearDuplicates(job.gates, seed_texts(job))]
    if job.gates.redact_pii:
        gates.insert(0, PiiGate())
    kept, rejected, gate_counts = [], [], Counter()
    for record in sorted(generated, key=lambda r: r["id"]):
        for gate in gates:
            reason = gate.check(record)
            if reason:
                gate_counts[f"{gate.name}:{reason}"] += 1
                rejected.append({**record, "gate": gate.name, "reason": reason})
                break
        else:
            kept.append({k: v for k, v in record.items() if k != "document"})
    judged = 0
    if job.judge.enabled:
        kept, judge_rejected, judge_failures, judge_usage = run_judge(job, kept, layout)
        rejected += judge_rejected
        failures += judge_failures
        gate_counts.update({"judge:low_score": len(judge_rejected)} if judge_rejected else {})
        judged = len(kept) + len(judge_rejected)
        usage.merge(judge_usage)
    staging = layout.staging
    for name, rows in (("failures.jsonl", failures), ("gate_rejects.jsonl", rejected)):
        (staging / "rejects").mkdir(parents=True, exist_ok=True)
        with open(staging / "rejects" / name, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    prompts = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(PROMPTS.glob("*.txt"))}
    generation = {"model": job.llm.model, "base_url": job.llm.base_url, "parameters": {"temperature": job.llm.temperature,
                  "max_tokens": job.llm.max_tokens, "seed": job.llm.seed}, "prompts_sha256": prompts,
                  "inputs": {t.input: hashlib.sha256(job.resolve(t.input).read_bytes()).hexdigest() for t in job.tasks if job.resolve(t.input).is_file()},
                  "json_mode": json_mode, "requests": len(work), "generated": len(generated), "imports": imports,
                  "requests_by_task": dict(Counter(task.name for task, _ in work)),
                  "generated_by_task": dict(Counter(r["task"] for r in generated)), "failures": dict(Counter(f["reason"] for f in failures)),
                  "failures_by_task": dict(Counter(f["task"] for f in failures)),
                  "gates": dict(gate_counts), "kept": len(kept),
                  "judge": {"enabled": job.judge.enabled, "threshold": job.judge.threshold, "judged": judged,
                            "prompt_sha256": hashlib.sha256((PROMPTS / "judge.txt").read_bytes()).hexdigest()},
                  "usage": {"network_requests": usage.requests, "cached": usage.cached, "retries": usage.retries,
                            "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                            "estimated_cost": round(usage.cost(job.llm), 6), "errors": usage.errors}}
    alerts = []
    if not kept:
        alerts.append(f"synth: 0 records kept of {len(work)} requests ({len(failures)} failed, {sum(gate_counts.values())} gated)")
    if work and len(failures) >= 0.5 * len(work):
        alerts.append(f"synth: {len(failures)} of {len(work)} requests failed ({dict(Counter(f['reason'] for f in failures))})")
    if alerts and strict:
        raise CurateError("; ".join(alerts) + f" (strict: not published; work kept in {layout.work})")
    generation["alerts"] = alerts
    write_sft_release(kept, staging, job.name, version, job.as_dict(), job.validation_fraction, generation,
                      tokenizer=job.tokenizer_spec())
    if job.export:
        export(kept, staging / "exports")
    seal_release(staging)
    path = layout.publish()
    print(json.dumps({"requests": len(work), "network_requests": usage.requests, "cached": usage.cached, "kept": len(kept),
                      "failures": len(failures), "gates": dict(gate_counts)}, ensure_ascii=False), flush=True)
    return path
