"""Synthesis tasks: each a small declarative class — a prompt template in synth/prompts/, the inputs it reads,
the JSON keys it expects, and how a reply becomes a chat record."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import orjson

from synth.config import SynthTaskConfig
from synth.replies import InstructionReply, QuestionAnswerReply, Reply, check_reply, reply_schema

PROMPTS = Path(__file__).parent / "prompts"


@dataclass
class Request:
    id: str
    task: str
    messages: list[dict]
    meta: dict


def read_jsonl(path: Path) -> list[dict]:
    """Every record of a task's input (JSONL, JSON or Parquet, read by `read_records`); the first unreadable one
    stops the run with its file and line: seeds are written by hand and few, so a broken one is a typo to fix."""
    rows = []
    for where, rec in read_records(path):
        if isinstance(rec, Exception):
            raise ValueError(f"{where}: {rec}")
        rows.append(rec)
    return rows


def extract_json(text: str) -> dict | None:
    """The JSON object in a reply: the whole reply, a ```json fence, or the first {...} that parses."""
    candidates = [text.strip()]
    fence = re.search(r"```(?:json)?\s*(.*?)```", text, re.S)
    if fence:
        candidates.append(fence.group(1).strip())
    for c in candidates:
        try:
            obj = json.loads(c)
        except (json.JSONDecodeError, ValueError):
            continue
        if isinstance(obj, dict):
            return obj
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):  # small models wrap or repeat the object: take the first one that parses
        try:
            obj, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


class ReplyTask:
    """What the client loop asks of a task that sends prompts and reads JSON back: the reply model (synth/replies.py)
    gives the schema the server constrains output to and the check of each reply; `record` turns a valid reply into
    what the task keeps."""

    name: str
    reply: type[Reply]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self.reply.model_fields)

    def schema(self) -> dict:
        """JSON schema of the expected reply, for servers that constrain output to it."""
        return reply_schema(self.reply)

    def validate(self, obj: dict | None) -> str | None:
        """None when the object is a valid reply, else what is wrong (not_json, template_echo, missing_<key>, bad_<key>)."""
        return check_reply(self.reply, obj)

    def parse(self, obj: dict) -> dict:
        """A valid reply with its values typed and stripped, as `record` reads it."""
        return self.reply.model_validate(obj).model_dump()

    def record(self, request: Request, obj: dict) -> dict:
        raise NotImplementedError


class Task(ReplyTask):
    """A generation task: a prompt template in synth/prompts/, the inputs it reads, and its reply model."""

    template: str
    reply = InstructionReply

    def __init__(self, config: SynthTaskConfig, system_prompt: str):
        self.config = config
        self.system_prompt = system_prompt
        self.prompt = (PROMPTS / self.template).read_text(encoding="utf-8")

    def messages(self, **fields) -> list[dict]:
        return [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": self.prompt.format(**fields)}]

    def requests(self, source: Path) -> list[Request]:
        raise NotImplementedError

    def record(self, request: Request, obj: dict) -> dict:
        """The system prompt, the turns the request continues (`turns`: follow_up's seed conversation) and the new
        question and answer; the request's other metadata travels with the record."""
        question, answer = (obj[k].strip() for k in self.keys)
        return {"id": request.id, "category": request.meta.get("category", self.name), "task": self.name,
                "messages": [{"role": "system", "content": self.system_prompt}, *request.meta.get("turns", []),
                             {"role": "user", "content": question}, {"role": "assistant", "content": answer}],
                **{k: v for k, v in request.meta.items() if k not in ("category", "turns")}}


class SelfInstruct(Task):
    """New instruction/response pairs in the style of each seed, cycling through the configured categories."""

    name, template = "self_instruct", "self_instruct.txt"

    def requests(self, source: Path) -> list[Request]:
        out = []
        for i, seed in enumerate(read_jsonl(source)[: self.config.limit]):
            for k in range(self.config.count):
                category = self.config.categories[(i * self.config.count + k) % len(self.config.categories)]
                out.append(Request(f"self_instruct/{seed.get('id', i)}/{k}", self.name,
                                   self.messages(category=category, k=k + 1, instruction=seed["instruction"], response=seed["response"]),
                                   {"category": category, "seed_id": str(seed.get("id", i))}))
        return out


class Paraphrase(Task):
    """`count` rewordings of each seed QA pair that keep its meaning."""

    name, template = "paraphrase", "paraphrase.txt"

    def requests(self, source: Path) -> list[Request]:
        return [Request(f"paraphrase/{seed.get('id', i)}/{k}", self.name,
                        self.messages(k=k + 1, instruction=seed["instruction"], response=seed["response"]),
                        {"category": seed.get("category", "paraphrase"), "seed_id": str(seed.get("id", i))})
                for i, seed in enumerate(read_jsonl(source)[: self.config.limit]) for k in range(self.config.count)]


class Translate(Task):
    """English instruction data (`instruction`, optional `input`, `output` or `response`) into Taiwan Chinese."""

    name, template = "translate", "translate.txt"

    def requests(self, source: Path) -> list[Request]:
        out = []
        for i, row in enumerate(read_jsonl(source)[: self.config.limit]):
            instruction = row["instruction"] + (f"\n{row['input']}" if row.get("input") else "")
            out.append(Request(f"translate/{row.get('id', i)}", self.name,
                               self.messages(instruction=instruction, response=row.get("output") or row.get("response", "")),
                               {"category": row.get("category", "translation"), "source_id": str(row.get("id", i))}))
        return out


class DocQA(Task):
    """Question/answer pairs grounded in documents of a CPT release; the document id and text travel with the
    request so the grounding gate can check the answer against its source."""

    name, template, reply = "doc_qa", "doc_qa.txt", QuestionAnswerReply
    max_document_chars = 1500

    def requests(self, source: Path) -> list[Request]:
        import pyarrow.parquet as pq

        import manifests

        manifest = manifests.load(source)
        docs = []
        for shard in manifest.shards:
            docs += pq.read_table(source / shard.path, columns=["id", "text"]).to_pylist()
        docs = sorted(docs, key=lambda d: d["id"])[: self.config.limit]
        return [Request(f"doc_qa/{d['id']}/{k}", self.name, self.messages(k=k + 1, document=d["text"][: self.max_document_chars]),
                        {"category": "knowledge_qa", "document_id": d["id"], "document": d["text"][: self.max_document_chars],
                         "release": f"{manifest.name}/{manifest.version}"})
                for d in docs for k in range(self.config.count)]


class FollowUp(Task):
    """Multi-turn data: each seed conversation (messages, or an instruction/response pair) extended by a follow-up
    question and its answer, as MT-Bench-TW's second turns do; `count` follow-ups per seed, each its own record. The
    record holds the whole conversation, so every gate judges every turn."""

    name, template, reply = "follow_up", "follow_up.txt", QuestionAnswerReply

    @staticmethod
    def turns_of(seed: dict) -> list[dict]:
        if isinstance(seed.get("messages"), list):
            return [{"role": m["role"], "content": m["content"]} for m in seed["messages"] if m.get("role") in ("user", "assistant")]
        return [{"role": "user", "content": seed["instruction"]}, {"role": "assistant", "content": seed["response"]}]

    def requests(self, source: Path) -> list[Request]:
        out = []
        for i, seed in enumerate(read_jsonl(source)[: self.config.limit]):
            turns = self.turns_of(seed)
            conversation = "\n".join(f"{'使用者' if t['role'] == 'user' else '助理'}：{t['content']}" for t in turns)
            for k in range(self.config.count):
                out.append(Request(f"follow_up/{seed.get('id', i)}/{k}", self.name, self.messages(k=k + 1, conversation=conversation),
                                   {"category": seed.get("category", "chat"), "seed_id": str(seed.get("id", i)), "turns": turns}))
        return out


TASKS: dict[str, type[Task]] = {t.name: t for t in (SelfInstruct, Paraphrase, Translate, DocQA, FollowUp)}


def read_records(path: Path) -> list[tuple[str, object]]:
    """(where, record) of every record of a JSONL, JSON (a list, or an object of records) or Parquet file."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return [(f"{path}:row {i + 1}", r) for i, r in enumerate(pq.read_table(path).to_pylist())]
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None
        if isinstance(data, dict):
            return [(f"{path}:{k}", v) for k, v in data.items()]
        return [(f"{path}:item {i + 1}", r) for i, r in enumerate(data if isinstance(data, list) else [data])]
    out = []
    for n, line in enumerate(path.read_bytes().splitlines(), start=1):
        if line.strip():
            try:
                out.append((f"{path}:{n}", orjson.loads(line)))
            except orjson.JSONDecodeError as e:
                out.append((f"{path}:{n}", ValueError(f"malformed JSON: {e}")))
    return out


SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system", "bot": "assistant"}


class ImportTask:
    """Existing instruction data (public sets, translated sets, chat logs) as chat records, no LLM: alpaca, sharegpt
    or OpenAI `messages`, with a field mapping. Every record keeps its source and license; a record that cannot be
    read becomes a failure with its file, line and field, never a silent drop. The same gates judge it as generated
    data, every turn of it."""

    name = "import"

    def __init__(self, config: SynthTaskConfig, system_prompt: str):
        self.config = config
        self.system_prompt = system_prompt

    def field(self, name: str) -> str:
        return self.config.fields.get(name, name)

    def records(self, path: Path) -> tuple[list[dict], list[dict]]:
        source = self.config.source or path.stem
        records, failures = [], []
        for i, (where, rec) in enumerate(read_records(path)[: self.config.limit]):
            try:
                if isinstance(rec, Exception):
                    raise rec
                messages = self.messages_of(rec)
            except ValueError as e:
                failures.append({"id": f"import/{source}/{i}", "task": self.name, "reason": "malformed_record",
                                 "error": f"{where}: {e}"})
                continue
            rid = rec.get(self.field("id")) if isinstance(rec, dict) else None
            category = rec.get(self.field("category")) if isinstance(rec, dict) else None
            record = {"id": f"import/{source}/{rid if rid is not None else i}", "task": self.name,
                      "category": str(category or "imported"), "messages": messages, "source": source,
                      "license": self.config.license}
            reference = rec.get(self.field("reference")) if isinstance(rec, dict) else None
            if isinstance(reference, str) and reference.strip():
                record["reference"] = reference  # a reference answer: the LLM judge may compare with it
            records.append(record)
        return records, failures

    @staticmethod
    def turns_of(rec: dict, key: str) -> list[dict]:
        """A list of turns as OpenAI writes them ({role, content}) or as ShareGPT does ({from: human/gpt, value})."""
        turns = rec.get(key)
        if not isinstance(turns, list) or not turns:
            raise ValueError(f"field {key!r}: a non-empty list of {{role, content}} or {{from, value}} expected")
        out = []
        for k, m in enumerate(turns):
            role = SHAREGPT_ROLES.get(str(m.get("role", m.get("from", ""))).lower()) if isinstance(m, dict) else None
            content = m.get("content", m.get("value")) if isinstance(m, dict) else None
            if role is None or not isinstance(content, str):
                raise ValueError(f"field {key!r}[{k}]: a role (user/assistant/system, or human/gpt) and its text expected")
            out.append({"role": role, "content": content})
        return out

    def messages_of(self, rec: object) -> list[dict]:
        if not isinstance(rec, dict):
            raise ValueError("not a JSON object")
        fmt = self.config.format
        if fmt == "auto":
            fmt = ("messages" if self.field("messages") in rec else "sharegpt" if self.field("conversations") in rec else "alpaca")
        if fmt in ("messages", "sharegpt"):
            out = self.turns_of(rec, self.field("messages" if fmt == "messages" else "conversations"))
        else:
            instruction, output = rec.get(self.field("instruction")), rec.get(self.field("output"))
            if not isinstance(instruction, str) or not instruction.strip():
                raise ValueError(f"field {self.field('instruction')!r}: a non-empty string expected")
            if not isinstance(output, str) or not output.strip():
                raise ValueError(f"field {self.field('output')!r}: a non-empty string expected")
            extra = rec.get(self.field("input"))
            user = instruction + (f"\n{extra}" if isinstance(extra, str) and extra.strip() else "")
            out = [{"role": "user", "content": user}, {"role": "assistant", "content": output}]
        if not any(m["role"] == "user" for m in out) or not any(m["role"] == "assistant" for m in out):
            raise ValueError("a conversation needs a user and an assistant turn")
        return out  # as the data has it: no system prompt is added to records that were written without one


def repair_messages(request: Request, task: Task, reply: str) -> list[dict]:
    repair = (PROMPTS / "repair.txt").read_text(encoding="utf-8").format(keys="、".join(task.keys))
    return [*request.messages, {"role": "assistant", "content": reply}, {"role": "user", "content": repair}]
