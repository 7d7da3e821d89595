"""`curate label-quality`: an LLM rates a seeded sample of a CPT release's documents 0-5 with a zh-TW rubric; the
ratings become a labels release that `curate train-classifier` distills into a fast quality model."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.config import QualityLabelJobConfig
from curation.release import ReleaseBuild
from curation.synth_job import run_requests
from synth.replies import RatingReply
from synth.tasks import PROMPTS, ReplyTask, Request

RUBRIC = PROMPTS / "quality_rubric.txt"


class QualityRating(ReplyTask):
    """The rating task: a rubric prompt with the document, a RatingReply {"score": 0-5, "reason": "..."}, served by the
    same client, JSON repair and cache as the synthesis tasks."""

    name = "quality_rating"
    reply = RatingReply

    def __init__(self, rubric: str):
        self.rubric = rubric

    def messages(self, document: str) -> list[dict]:
        return [{"role": "user", "content": self.rubric.replace("{document}", document)}]

    def record(self, request: Request, obj: dict) -> dict:
        return {**request.meta, "id": request.id, "score": obj["score"], "reason": obj["reason"]}


def part_of(doc_id: str, seed: int, dev: float, test: float) -> str:
    h = int(hashlib.sha256(f"part:{seed}:{doc_id}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < test else "dev" if h < test + dev else "train"


def sample_documents(release: Path, n: int, seed: int, max_chars: int) -> list[dict]:
    """`n` documents by sha256(seed:id) order (independent of shard layout; a larger sample extends a smaller one),
    each with the first `max_chars` characters of its text."""
    import manifests

    manifest = manifests.load(release)
    keyed = []
    for shard in manifest.shards:
        for doc_id in pq.read_table(release / shard.path, columns=["id"]).column("id").to_pylist():
            keyed.append((hashlib.sha256(f"{seed}:{doc_id}".encode()).hexdigest(), doc_id))
    chosen = pa.array([doc_id for _, doc_id in sorted(keyed)[:n]], pa.string())
    docs = []
    for shard in manifest.shards:
        table = pq.read_table(release / shard.path, columns=["id", "text", "source"])
        table = table.filter(pc.is_in(table.column("id"), value_set=chosen))  # only chosen rows become Python objects
        docs += [{**d, "text": d["text"][:max_chars]} for d in table.to_pylist()]
    return sorted(docs, key=lambda d: d["id"])


def run_label_quality(job: QualityLabelJobConfig, force: bool = False, strict: bool = False) -> Path:
    """Rate the sample and publish the labels release under every release's rules (ReleaseBuild). A run whose
    requests mostly failed, or that labeled nothing, carries alerts (exit 5); `strict` fails on them unpublished."""
    # resumed: the response cache makes a rerun send only what is missing
    with ReleaseBuild(job.prepare_output_dir(), job.name, job.version, force=force, resume=True, strict=strict) as build:
        build.prepare()
        return build_labels_release(job, build)


def build_labels_release(job: QualityLabelJobConfig, build: ReleaseBuild) -> Path:
    import manifests
    from manifests.writer import seal_release, write_labels_release

    release = job.resolve(job.release)
    parent = manifests.load(release)
    layout, version = build.layout, build.version
    rubric_path = job.resolve(job.rubric) if job.rubric else RUBRIC
    task = QualityRating(rubric_path.read_text(encoding="utf-8"))
    docs = sample_documents(release, job.sample, job.seed, job.max_chars)
    work = [(task, Request(f"quality/{d['id']}", task.name, task.messages(d["text"]),
                           {"document_id": d["id"], "source": d["source"], "text": d["text"],
                            "part": part_of(d["id"], job.seed, job.dev_fraction, job.test_fraction)})) for d in docs]
    results, usage, json_mode = run_requests(job.llm, work, job.output_dir / ".llm-cache" / f"{job.llm.model}.sqlite",
                                             job.resolve, layout.work / "llm-server.log")
    rows = [{**r, "id": r["document_id"]} for r, _ in results if r]
    failures = [f for _, f in results if f]
    staging = layout.staging
    (staging / "rejects").mkdir(parents=True, exist_ok=True)
    with open(staging / "rejects" / "failures.jsonl", "w", encoding="utf-8") as f:
        for row in failures:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    info = {"release": f"{parent.name}/{parent.version}", "release_content_hash": parent.content_hash, "sample": len(docs),
            "seed": job.seed, "rubric_sha256": hashlib.sha256(rubric_path.read_bytes()).hexdigest(),
            "generation": {"model": job.llm.model, "base_url": job.llm.base_url, "json_mode": json_mode,
                           "parameters": {"temperature": job.llm.temperature, "max_tokens": job.llm.max_tokens, "seed": job.llm.seed},
                           "requests": len(work), "labeled": len(rows), "failures": dict(Counter(f["reason"] for f in failures)),
                           "usage": {"network_requests": usage.requests, "cached": usage.cached, "retries": usage.retries,
                                     "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                                     "estimated_cost": round(usage.cost(job.llm), 6), "errors": usage.errors}}}
    alerts = []
    if work and not rows:
        alerts.append(f"label-quality: 0 documents labeled of {len(work)} requests ({len(failures)} failed)")
    elif work and len(failures) >= 0.5 * len(work):
        alerts.append(f"label-quality: {len(failures)} of {len(work)} requests failed ({dict(Counter(f['reason'] for f in failures))})")
    write_labels_release(rows, staging, job.name, version, job.as_dict(), info, tokenizer=job.tokenizer_spec(),
                         alerts=build.check_alerts(alerts))
    seal_release(staging)
    path = build.publish()
    print(json.dumps({"requests": len(work), "network_requests": usage.requests, "cached": usage.cached, "labeled": len(rows),
                      "failures": len(failures), "scores": dict(sorted(Counter(r["score"] for r in rows).items()))},
                     ensure_ascii=False), flush=True)
    return path
