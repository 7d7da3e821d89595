"""`curate annotate`: every enabled filter in label-only mode over a JSONL file; nothing is dropped.

A reader labels what `curate run` would ship, so each record carries the text after every segment edit (the lines the
line cleaning, spam and toxicity steps remove are gone, as in a shard) and `segment_edits`: every edited line, where it
stood in the text before any edit, why, and whether it was removed or only tagged (`edit_actions: tag`: still in the
text)."""

from __future__ import annotations

from pathlib import Path

import orjson

from curation.config import JobConfig, SourceConfig, parse_job
from curation.pipeline import filter_steps
from curation.sources import RecordReader
from filters.base import ANNOTATIONS
from filters.segments import EDITS, TAGS, edit_view


def default_job() -> JobConfig:
    return parse_job({"name": "annotate", "output": ".", "sources": [{"name": "input", "kind": "jsonl", "path": "-"}]},
                     "<defaults>", Path.cwd())


def annotate(input_path: Path, output_path: Path, job: JobConfig | None = None, text_field: str = "text",
             id_field: str | None = None) -> dict[str, int]:
    """Writes one line per readable input record: {id, text, annotations{..., kept, drop_reason}, segment_edits}.
    Unreadable records go to `<output>.rejects.jsonl`. Returns counts of written, kept and rejected."""
    job = job or default_job()
    source = SourceConfig(name="input", kind="jsonl", path=str(input_path), text_field=text_field, id_field=id_field)
    rejects_dir = output_path.parent / (output_path.name + ".rejects")
    reader = RecordReader(source, [str(input_path)], str(rejects_dir))
    data = reader.run()
    for _, step in filter_steps(job, rejects_root=None, label_only=True):
        data = step.run(data)
    counts = {"written": 0, "kept": 0}
    output_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = output_path.with_name(output_path.name + ".tmp")
    with open(tmp, "wb") as out:
        for doc in data:
            ann = dict(doc.metadata.get(ANNOTATIONS, {}))
            reason = doc.metadata.get("drop_reason")
            ann["kept"], ann["drop_reason"] = reason is None, reason
            local_id = doc.id.removeprefix("input/")
            out.write(orjson.dumps({"id": local_id, "text": doc.text, "annotations": ann, "segment_edits": segment_edits(doc)}) + b"\n")
            counts["written"] += 1
            counts["kept"] += reason is None
    tmp.replace(output_path)
    counts["rejected"] = sum(int(v.total) for k, v in reader.stats.stats.items() if k.startswith("rejected_"))
    return counts


def segment_edits(doc) -> list[dict]:
    """{line, reason, action, text} per edited line, `line` counted in the text before any edit, in order."""
    edits, tags = doc.metadata.get(EDITS, []), doc.metadata.get(TAGS, [])
    if not edits and not tags:
        return []
    return [{"line": i, "reason": reason, "action": action, "text": line}
            for i, (line, reason, action) in enumerate(edit_view(doc.text, edits, tags)) if action]
