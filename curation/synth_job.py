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
from curation.release import ReleaseBuild
from filters.base import StatName
from synth.client import LLMClient, LLMError
from synth.gates import (AnswerGate, Decontamination, GroundingGate, LanguageScriptGate, LengthGate, NearDuplicates, PromptGroups,
                         RefusalGate, Rejection, StructureGate, answer_rank, redact_pii)
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
        return task.record(request, task.parse(obj)), None
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
            # the bundled server is this run's own: a request that finds it dead ends the run at once (no retries)
            client = LLMClient(llm, base_url, cache, refresh_cache=refresh_cache, server_check=srv.check if local else None)
            try:
                return await generate_all(client, work, json_mode), client.usage
            finally:
                await client.close()

        results, usage = asyncio.run(main())
    return results, usage, json_mode


def run_judge(job: SynthJobConfig, records: list[dict], layout, refresh_cache: bool = False) -> tuple[list, list, list, object]:
    """The LLM judge (its own `judge.llm`, else the generation server) over the records that passed the gates:
    (kept with their `judge` scores, rejected as (record, Rejection), failed judge requests, usage). Imported records
    are judged only with `judge.imports`. A record whose judging failed is never published as judged: `unjudged:
    hold` rejects it as `unjudged` with the failure as evidence, `publish` keeps it with `judge: null`."""
    from synth.judge import JudgeTask

    task = JudgeTask(job.judge)
    llm = job.judge.llm or job.llm
    todo = [r for r in records if r.get("task") != "import" or job.judge.imports]
    results, usage, _ = run_requests(llm, [(task, task.request(r)) for r in todo], job.output_dir / ".llm-cache" / f"{llm.model}.sqlite",
                                     job.resolve, layout.work / "llm-server-judge.log", refresh_cache)
    verdicts = {v["id"]: v for v, _ in results if v}
    failures = [{**f, "record_id": f["id"].removeprefix("judge/")} for _, f in results if f]
    failed = {f["record_id"]: f for f in failures}
    kept, rejected = [], []
    for r in records:
        if r["id"] in failed:
            f = failed[r["id"]]
            if job.judge.unjudged == "hold":
                rejected.append((r, Rejection("unjudged", f"{f['reason']}: {str(f.get('error') or f.get('raw') or '')[:120]}")))
            else:
                kept.append({**r, "judge": None})
            continue
        v = verdicts.get(r["id"])
        if v is None:  # not asked: an imported record without judge.imports
            kept.append(r)
            continue
        r = {**r, "judge": {"scores": v["scores"], "mean": v["mean"], "reason": v["reason"]}}
        if v["mean"] < job.judge.threshold:
            rejected.append((r, Rejection("low_score", f"mean {v['mean']} < {job.judge.threshold}: {v['reason'][:120]}")))
        else:
            kept.append(r)
    return kept, rejected, failures, usage


def seed_texts(job: SynthJobConfig) -> list[str]:
    texts = []
    for t in job.tasks:
        if t.kind in ("self_instruct", "paraphrase"):
            texts += [f"{r['instruction']}{r['response']}" for r in read_jsonl(job.resolve(t.input))]
    return texts


EXPORT_ROLES = {"system": "system", "user": "human", "assistant": "gpt"}


def export(records: list[dict], folder: Path, formats: list[str]) -> None:
    """`exports/<format>.jsonl` for trainers that read these layouts: `messages` (OpenAI chat) and `sharegpt`
    hold every turn; `alpaca` holds one instruction and one output, so a job with multi-turn records is refused
    rather than cut to its first pair."""
    multi = [r["id"] for r in records if sum(m["role"] == "user" for m in r["messages"]) > 1]
    if "alpaca" in formats and multi:
        raise CurateError(f"export alpaca: {len(multi)} kept records have several user turns (first: {multi[0]}); alpaca holds "
                          "one instruction and one output: export sharegpt or messages instead (nothing published)")
    folder.mkdir(parents=True, exist_ok=True)
    for fmt in formats:
        with open(folder / f"{fmt}.jsonl", "w", encoding="utf-8") as f:
            for r in records:
                if fmt == "alpaca":
                    system = next((m["content"] for m in r["messages"] if m["role"] == "system"), "")
                    user = next(m["content"] for m in r["messages"] if m["role"] == "user")
                    assistant = next(m["content"] for m in r["messages"] if m["role"] == "assistant")
                    row = {"instruction": user, "input": "", "output": assistant, "system": system}
                elif fmt == "sharegpt":
                    row = {"id": r["id"], "conversations": [{"from": EXPORT_ROLES[m["role"]], "value": m["content"]} for m in r["messages"]]}
                else:
                    row = {"id": r["id"], "messages": [{"role": m["role"], "content": m["content"]} for m in r["messages"]]}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")


def source_of(record: dict) -> str:
    """The source a record is counted under: its imported source, else the task that generated it."""
    return record.get("source") or record.get("task") or "unknown"


class GateLedger:
    """What each gate saw, kept and rejected, overall and per source, with every rejected record and its evidence:
    the manifest's `steps` (the CPT steps' shape, so stats, report and diff read both) and the gate rejects file."""

    def __init__(self):
        self.steps: dict[str, dict] = {}
        self.rejected: list[dict] = []

    def record(self, gate: str, seen: list[dict], rejected: list[tuple[dict, Rejection]]) -> None:
        step = self.steps.setdefault(gate, {"input": 0, "reasons": Counter(), "by_source": {}})
        step["input"] += len(seen)
        for r in seen:
            counts = step["by_source"].setdefault(source_of(r), Counter())
            counts["in"] += 1
        for r, rejection in rejected:
            step["reasons"][rejection.reason] += 1
            step["by_source"][source_of(r)][StatName("dropped", rejection.reason).name] += 1
            self.rejected.append({**{k: v for k, v in r.items() if k != "document"}, "gate": gate, "reason": rejection.reason,
                                  "evidence": rejection.evidence})

    def counts(self) -> dict[str, int]:
        return {f"{gate}:{reason}": n for gate, step in self.steps.items() for reason, n in sorted(step["reasons"].items())}

    def step_stats(self) -> list:
        from manifests.schema import StepStats

        out = []
        for gate, step in self.steps.items():
            dropped = sum(step["reasons"].values())
            by_source = {}
            for source, c in sorted(step["by_source"].items()):
                gone = sum(v for k, v in c.items() if StatName.parse(k).outcome == "dropped")
                by_source[source] = {"in": c["in"], "kept": c["in"] - gone, **{k: v for k, v in sorted(c.items()) if k != "in"}}
            out.append(StepStats(step=gate, input=step["input"], kept=step["input"] - dropped, dropped=dropped,
                                 dropped_by_reason=dict(sorted(step["reasons"].items())), by_source=by_source))
        return out


def gate_each(records: list[dict], gate, ledger: GateLedger) -> list[dict]:
    """The records a per-record gate keeps; the rest go to the ledger with the gate's evidence."""
    kept, rejected = [], []
    for r in records:
        rejection = gate.check(r)
        (rejected.append((r, rejection)) if rejection else kept.append(r))
    ledger.record(gate.name, records, rejected)
    return kept


def run_synth(job: SynthJobConfig, force: bool = False, refresh_cache: bool = False, strict: bool = False) -> Path:
    """Generate, gate, judge and publish the SFT release. A run with 0 records kept, half its requests failed or any
    judge request failed carries `alerts` (in the manifest); `strict` fails on them before publishing. The release is
    made under the same rules as every release (ReleaseBuild: lock, work folder, alert rule, publish)."""
    # resumed: the response cache, not the work folder, is what makes reruns free
    with ReleaseBuild(job.prepare_output_dir(), job.name, job.version, force=force, resume=True, strict=strict) as build:
        build.prepare()
        return build_sft_release(job, build, refresh_cache)


def build_sft_release(job: SynthJobConfig, build: ReleaseBuild, refresh_cache: bool) -> Path:
    from manifests.writer import seal_release, write_sft_release

    layout, version = build.layout, build.version
    tasks = [(TASKS[t.kind](t, job.system_prompt), t) for t in job.tasks if t.kind != "import"]
    work = [(task, req) for task, cfg in tasks for req in task.requests(job.resolve(cfg.input))]
    imported, import_failures, sources = [], [], {}
    for cfg in (t for t in job.tasks if t.kind == "import"):  # existing data: no request, the same gates
        path = job.resolve(cfg.input)
        if not path.is_file():
            raise CurateError(f"import: {path}: input file not found")
        records, failed = ImportTask(cfg, job.system_prompt).records(path)
        imported += records
        import_failures += failed
        source = cfg.source or path.stem
        sources[source] = {"kind": "import", "license": cfg.license, "records": len(records), "malformed": len(failed),
                           "input_files": [{"path": cfg.input, "bytes": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}]}
    for task, cfg in tasks:
        path = job.resolve(cfg.input)
        sources.setdefault(task.name, {"kind": "generated", "license": None, "records": 0, "malformed": 0, "input_files": []})
        sources[task.name]["records"] += sum(1 for t, _ in work if t is task)
        if path.is_file():
            sources[task.name]["input_files"].append({"path": cfg.input, "bytes": path.stat().st_size,
                                                      "sha256": hashlib.sha256(path.read_bytes()).hexdigest()})
    results, usage, json_mode = run_requests(job.llm, work, job.output_dir / ".llm-cache" / f"{job.llm.model}.sqlite",
                                             job.resolve, layout.work / "llm-server.log", refresh_cache)
    generated = [{**r, "source": r["task"]} for r, _ in results if r] + imported  # a generated record's source: its task
    failures = [f for _, f in results if f] + import_failures
    records = sorted(generated, key=lambda r: r["id"])
    if job.gates.redact_pii:
        records = [redact_pii(r) for r in records]
    ledger = GateLedger()
    for gate in (StructureGate(), LengthGate(job.gates), AnswerGate(), LanguageScriptGate(job.gates), RefusalGate(), GroundingGate(),
                 Decontamination(job.gates, [job.resolve(p) for p in job.gates.eval_sets])):
        records = gate_each(records, gate, ledger)
    records = [{k: v for k, v in r.items() if k != "document"} for r in records]
    judge_failures, judged = [], 0
    if job.judge.enabled:
        asked = sum(r.get("task") != "import" or job.judge.imports for r in records)
        before = records
        records, judge_rejected, judge_failures, judge_usage = run_judge(job, records, layout, refresh_cache)
        ledger.record("judge", before, judge_rejected)
        judged = asked - len(judge_failures)
        usage.merge(judge_usage)
    before = records
    records, not_best = PromptGroups(job.gates).select(records)
    ledger.record("prompt_group", before, not_best)
    # best first, so of two near-duplicates the better answer is the one kept
    kept = sorted(gate_each(sorted(records, key=answer_rank), NearDuplicates(job.gates, seed_texts(job)), ledger), key=lambda r: r["id"])
    staging = layout.staging
    (staging / "rejects").mkdir(parents=True, exist_ok=True)
    for name, rows in (("failures.jsonl", failures + judge_failures), ("gate_rejects.jsonl", ledger.rejected)):
        with open(staging / "rejects" / name, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    gate_counts = ledger.counts()
    prompts = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(PROMPTS.glob("*.txt"))}
    judge_llm = job.judge.llm or job.llm
    generation = {"model": job.llm.model if work else None, "base_url": job.llm.base_url if work else None,
                  "parameters": {"temperature": job.llm.temperature, "max_tokens": job.llm.max_tokens, "seed": job.llm.seed} if work else {},
                  "prompts_sha256": prompts,
                  "inputs": {f["path"]: f["sha256"] for s in sources.values() for f in s["input_files"]},  # hashed once, above
                  "json_mode": json_mode, "requests": len(work), "generated": len(generated),
                  "imports": {n: {"file": s["input_files"][0]["path"], "sha256": s["input_files"][0]["sha256"], "license": s["license"],
                                  "records": s["records"], "malformed": s["malformed"]} for n, s in sources.items() if s["kind"] == "import"},
                  "requests_by_task": dict(Counter(task.name for task, _ in work)),
                  "generated_by_task": dict(Counter(r["task"] for r in generated)), "failures": dict(Counter(f["reason"] for f in failures)),
                  "failures_by_task": dict(Counter(f["task"] for f in failures)),
                  "gates": gate_counts, "kept": len(kept),
                  "judge": {"enabled": job.judge.enabled, "threshold": job.judge.threshold, "judged": judged,
                            "failed": len(judge_failures), "unjudged": job.judge.unjudged,
                            **({"model": judge_llm.model, "base_url": judge_llm.base_url} if job.judge.enabled else {}),
                            "prompt_sha256": hashlib.sha256((PROMPTS / "judge.txt").read_bytes()).hexdigest()},
                  "usage": {"network_requests": usage.requests, "cached": usage.cached, "retries": usage.retries,
                            "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                            "estimated_cost": round(usage.cost(job.llm), 6), "errors": usage.errors}}
    alerts = []
    if not kept:
        alerts.append(f"synth: 0 records kept of {len(generated)} ({len(work)} requests, {len(failures)} failed, "
                      f"{sum(gate_counts.values())} gated)")
    if work and len(failures) >= 0.5 * len(work):
        alerts.append(f"synth: {len(failures)} of {len(work)} requests failed ({dict(Counter(f['reason'] for f in failures))})")
    if judge_failures:
        held = "held back" if job.judge.unjudged == "hold" else "published unjudged"
        alerts.append(f"judge: {len(judge_failures)} of {judged + len(judge_failures)} judge requests failed "
                      f"({dict(Counter(f['reason'] for f in judge_failures))}); those records {held}")
    generation["alerts"] = build.check_alerts(alerts)
    write_sft_release(kept, staging, job.name, version, job.as_dict(), job.validation_fraction, generation,
                      tokenizer=job.tokenizer_spec(), steps=ledger.step_stats(), sources=sources)
    if job.export:
        export(kept, staging / "exports", job.export)
    seal_release(staging)
    path = build.publish()
    print(json.dumps({"requests": len(work), "network_requests": usage.requests, "cached": usage.cached, "kept": len(kept),
                      "failures": len(failures) + len(judge_failures), "gates": gate_counts}, ensure_ascii=False), flush=True)
    return path
