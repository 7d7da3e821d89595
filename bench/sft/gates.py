"""The SFT gates on real zh-TW instruction data, imported as a user would import it; planted contamination; import speed.

    python -m bench.sft.gates [--sample 25] [--review review.md] [--speed 100000]

(data from ../shared/data/real beside the checkout, or $TWCURATE_REAL_DATA)

1. twllm_zh_tw_bench_sft (810 answers), mt_bench_tw with reference answers (the turns of question.jsonl joined with the
   reference answers, multi-turn) and tw_leetcode_sft (610 write-ups) through the import task and the gates exactly as
   `curate synth` builds them (README defaults), decontaminated against TMMLU + TTQA + MT-Bench-TW. Prints rejections
   per gate and set; `--review` writes a seeded sample per gate for marking by hand.
2. Planted contamination: evaluation items (TMMLU, TTQA, MT-Bench-TW turns) copied into imported records verbatim, with
   punctuation/whitespace changes, converted t2s and s2t: recall of the decontamination gate.
3. Import speed: `--speed N` records (real answers repeated with new ids) through import + every gate but the LLM ones
   (near-dup, decontamination included), records per second on one core.
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import re
import tempfile
import time
from collections import Counter
from pathlib import Path

import opencc
import yaml

from bench.common.paths import real_data, real_root
from synth.config import GatesConfig, SynthTaskConfig
from synth.gates import Decontamination


def mt_bench_conversations(tmp: Path) -> Path:
    """MT-Bench-TW questions with their reference answers as two-turn conversations (messages format)."""
    base = real_data("mt_bench_tw")
    refs = {}
    for line in (base / "reference_answer_human_w_gpt4_augmented.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        choices = r["choices"] if isinstance(r["choices"], list) else ast.literal_eval(r["choices"])
        refs[str(r["question_id"])] = choices[0]["turns"]
    out = tmp / "mt_bench_tw.jsonl"
    with open(out, "w", encoding="utf-8") as f:
        for line in (base / "question.jsonl").read_text(encoding="utf-8").splitlines():
            q = json.loads(line)
            turns = q["turns"] if isinstance(q["turns"], list) else ast.literal_eval(q["turns"])
            answers = refs.get(str(q["question_id"]))
            if not answers:
                continue
            messages = [m for t, a in zip(turns, answers) for m in ({"role": "user", "content": t}, {"role": "assistant", "content": a})]
            f.write(json.dumps({"id": q["question_id"], "category": q.get("category"), "messages": messages}, ensure_ascii=False) + "\n")
    return out


def mt_bench_eval_file(tmp: Path) -> Path:
    """MT-Bench-TW questions with their turns as real lists (the shipped file writes them as a Python literal)."""
    out = tmp / "mt_bench_questions.jsonl"
    with open(out, "w", encoding="utf-8") as f:
        for line in real_data("mt_bench_tw", "question.jsonl").read_text(encoding="utf-8").splitlines():
            q = json.loads(line)
            turns = q["turns"] if isinstance(q["turns"], list) else ast.literal_eval(q["turns"])
            f.write(json.dumps({"id": q["question_id"], "turns": turns}, ensure_ascii=False) + "\n")
    return out


# an independent check of what the gates must keep out: plain substrings, not the gates' own patterns
TEMPLATE_MARKS = ("[INST]", "[/INST]", "<<SYS>>", "<</SYS>>", "<|im_start|>", "<|im_end|>", "</s>", "<start_of_turn>")
TURN_MARKS = re.compile(r"(?:^|\s|[。！？])(?:USER|ASSISTANT|Human|Assistant):", re.M)


def import_job(tmp: Path, sets: dict[str, SynthTaskConfig], evals: list[Path], **gates) -> Path:
    """A `curate synth` job file importing `sets` with the default gates (plus `gates`), decontaminated against
    `evals`: what a user runs."""
    job = {"name": "sft-bench", "version": "1.0.0", "output": str(tmp / "out"),
           "tasks": [{**cfg.model_dump(exclude_defaults=True), "source": name} for name, cfg in sets.items()],
           "gates": {"eval_sets": [str(e) for e in evals], **gates}, "validation_fraction": 0.1}
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "job.yaml"
    path.write_text(yaml.safe_dump(job, allow_unicode=True), encoding="utf-8")
    return path


def run_release(job: Path) -> tuple[list[dict], list[dict], dict]:
    """(kept rows with their split, gate rejects, manifest) of `curate synth JOB`, run as the CLI runs it."""
    import manifests
    from curation.config import load_synth_job
    from curation.synth_job import run_synth

    release = run_synth(load_synth_job(job), force=True)
    m = manifests.load(release)
    kept = [{**r, "split": split} for split, n in m.sft.splits.items() if n for r in manifests.to_dataset(release, split=split).to_list()]
    rejects = [json.loads(line) for line in (release / "rejects/gate_rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    return kept, rejects, m


def leaks(rows: list[dict]) -> dict[str, int]:
    """Kept records whose answers still hold a template mark, a turn label, or whose prompt is in both splits."""
    answers = [" ".join(m["content"] for m in r["messages"] if m["role"] == "assistant") for r in rows]
    splits: dict[str, set] = {}
    for r in rows:
        prompt = re.sub(r"[\W_]+", "", " ".join(m["content"] for m in r["messages"] if m["role"] == "user"))
        splits.setdefault(prompt, set()).add(r["split"])
    return {"template marks": sum(any(t in a for t in TEMPLATE_MARKS) for a in answers),
            "turn labels": sum(bool(TURN_MARKS.search(a)) for a in answers),
            "prompts in both splits": sum(len(s) > 1 for s in splits.values())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", type=int, default=25)
    ap.add_argument("--review", type=Path)
    ap.add_argument("--chars", type=int, default=150, help="characters of each turn shown in the review file")
    ap.add_argument("--speed", type=int, default=0)
    args = ap.parse_args()
    if not (real_root() / "twllm_zh_tw_bench_sft").exists():
        print(f"skipped: {real_root()} has no twllm_zh_tw_bench_sft")
        return 0
    config = GatesConfig()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        evals = [real_data("tw_eval_tmmlu_ttqa", "tmmlu_sample.jsonl"), real_data("tw_eval_tmmlu_ttqa", "TTQA_mc.json"), mt_bench_eval_file(tmp)]
        sets = {
            "twllm_zh_tw_bench_sft": SynthTaskConfig(kind="import", input=str(real_data("twllm_zh_tw_bench_sft", "zh_tw_bench_answers.jsonl")), format="alpaca"),
            "mt_bench_tw (references)": SynthTaskConfig(kind="import", input=str(mt_bench_conversations(tmp)), format="messages"),
            "tw_leetcode_sft": SynthTaskConfig(kind="import", input=str(real_data("tw_leetcode_sft", "tw_leetcode_notes.jsonl")), format="alpaca"),
        }
        review, rng = [], random.Random(0)
        # the MT-Bench-TW questions are an evaluation set: gating their own references against it says nothing, so
        # that set runs as its own job without them
        mt = {k: v for k, v in sets.items() if k.startswith("mt_bench")}
        rest = {k: v for k, v in sets.items() if k not in mt}
        table: dict[str, dict[str, int]] = {}
        kept_by_set: dict[str, int] = Counter()
        all_kept = []
        for group, files in ((rest, evals), (mt, [e for e in evals if "mt_bench" not in e.name])):
            kept, rejects, m = run_release(import_job(tmp / str(len(all_kept)), group, files))
            all_kept += kept
            for r in kept:
                kept_by_set[r["source"]] += 1
            for r in rejects:
                table.setdefault(f"{r['gate']}:{r['reason']}", Counter())[r["source"]] += 1
            by_reason: dict[str, list] = {}
            for r in rejects:
                by_reason.setdefault(f"{r['source']} {r['gate']}:{r['reason']}", []).append(r)
            for key, recs in sorted(by_reason.items()):
                if key.endswith("prompt_group:not_best"):
                    continue  # a choice among good answers, not a verdict on one: read apart (RESULTS)
                picked = rng.sample(recs, min(args.sample, len(recs)))
                review.append(f"## {key} ({len(recs)}, {len(picked)} shown)\n")
                for r in picked:
                    text = " / ".join(m["content"][:args.chars].replace("\n", "⏎") for m in r["messages"] if m["role"] != "system")
                    review.append(f"- `{r['id']}` evidence: {r['evidence']}\n  {text}")
        print("| gate:reason | " + " | ".join(sets) + " |\n|---|" + "---|" * len(sets))
        for reason in sorted(table):
            print(f"| {reason} | " + " | ".join(str(table[reason].get(n, 0)) for n in sets) + " |")
        print("| kept | " + " | ".join(str(kept_by_set.get(n, 0)) for n in sets) + " |")
        print(f"\nKept records still holding: {leaks(all_kept)}")
        if args.review:
            args.review.write_text("\n".join(review) + "\n", encoding="utf-8")

        # planted contamination
        t2s, s2t = opencc.OpenCC("t2s"), opencc.OpenCC("s2t")
        items = []
        for line in real_data("tw_eval_tmmlu_ttqa", "tmmlu_sample.jsonl").read_text(encoding="utf-8").splitlines():
            items.append(json.loads(line)["text"])
        items += [r["question"] for r in json.loads(real_data("tw_eval_tmmlu_ttqa", "TTQA_mc.json").read_text(encoding="utf-8")).values()]
        items += [t for line in evals[2].read_text(encoding="utf-8").splitlines() for t in json.loads(line)["turns"]]
        items = [i for i in items if len(re.sub(r"\W", "", i)) >= 16]  # an item shorter than a window is no evidence
        gate = Decontamination(config, evals)
        forms = {"verbatim": lambda t: t, "punctuation and spaces": lambda t: re.sub(r"[，。？、：,.?]", " ", t).replace("(", " ( "),
                 "t2s": t2s.convert, "s2t of t2s": lambda t: s2t.convert(t2s.convert(t))}
        print(f"\nPlanted contamination ({len(items)} evaluation items of 16+ characters, each copied into a user turn):\n")
        print("| form | planted | caught | recall |\n|---|---|---|---|")
        for form, f in forms.items():
            caught = sum(getattr(gate.check({"messages": [{"role": "user", "content": "請回答：" + f(t)},
                                                  {"role": "assistant", "content": "好的，這是我的回答。"}]}), "reason", None) == "eval_overlap" for t in items)
            print(f"| {form} | {len(items)} | {caught} | {caught / len(items):.3f} |")

        if args.speed:
            base = [json.loads(line) for line in real_data("twllm_zh_tw_bench_sft", "zh_tw_bench_answers.jsonl").read_text(encoding="utf-8").splitlines()]
            big = tmp / "big.jsonl"
            with open(big, "w", encoding="utf-8") as f:
                for i in range(args.speed):
                    r = base[i % len(base)]
                    f.write(json.dumps({"id": f"r{i}", "instruction": r["instruction"] + f"（第{i}題）", "output": r["output"]}, ensure_ascii=False) + "\n")
            job = import_job(tmp / "speed", {"big": SynthTaskConfig(kind="import", input=str(big), format="alpaca")}, evals)
            start = time.perf_counter()
            run_release(job)
            took = time.perf_counter() - start
            print(f"\n`curate synth` importing {args.speed:,} records through every non-LLM gate to a release: {took:.1f} s, "
                  f"{args.speed / took:,.0f} records/s (one core)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
