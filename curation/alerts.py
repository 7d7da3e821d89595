"""Alarms instead of silence: what a finished run's counts say is probably wrong, before anyone trains on it.

A source that yields no document (a wrong `text_field`, a Big5 file read as UTF-8), a source whose records are mostly
rejected, a step that drops nearly all of a source. Each alert is one sentence naming the source, step and numbers;
they go to the manifest (`alerts`), the run log, `curate stats` and the report, and decide the exit code.
"""

from __future__ import annotations

from pathlib import Path

from filters.base import StatName
from manifests.schema import Manifest, StepStats


def run_alerts(sources: list[str], steps: list[StepStats], drop_share: float, min_documents: int,
               incremental: bool = False) -> list[str]:
    """Alerts on what this run read. An incremental run reads only new files: a source with none is normal there."""
    alerts = []
    for name in sources:
        read = next((s for s in steps if s.step == f"read:{name}"), None)
        if read is None or (incremental and not read.other.get("input_files")):
            continue
        if read.other.get("repeated_id"):
            alerts.append(f"source {name}: {int(read.other['repeated_id'])} documents repeat an id already read; "
                          f"they were kept as <id>#2, #3, ...")
        rejected = read.dropped
        if read.kept == 0:
            why = ", ".join(f"{r} {n}" for r, n in sorted(read.dropped_by_reason.items())) or "no record in its files"
            alerts.append(f"source {name}: 0 documents read ({why})")
            continue
        if rejected >= min_documents and rejected / (rejected + read.kept) >= drop_share:
            alerts.append(f"source {name}: {rejected} of {rejected + read.kept} records rejected while reading "
                          f"({', '.join(f'{r} {n}' for r, n in sorted(read.dropped_by_reason.items()))})")
    for st in steps:
        if st.step.startswith("read:"):
            continue
        for name, counts in st.by_source.items():
            n_in = counts.get("in", 0)
            reasons = {stat.reason: v for stat, v in ((StatName.parse(k), v) for k, v in counts.items()) if stat.outcome == "dropped" and stat.reason}
            dropped = sum(reasons.values())
            if n_in >= min_documents and dropped / n_in >= drop_share:
                top = max(reasons.items(), key=lambda kv: kv[1])
                alerts.append(f"step {st.step}: dropped {dropped} of {n_in} documents of source {name} (mostly {top[0]}: {top[1]})")
    return alerts


def release_alerts(manifest: Manifest, drop_share: float, min_documents: int, already: list[str]) -> list[str]:
    """Alerts on the release as a whole: a release without documents is never a quiet success, whatever the counts
    (a typo'd `languages: [zhh]` drops everything, below any per-source minimum), and neither is a run whose own
    documents were all lost, or a step that dropped `drop_share` of everything it saw (from `min_documents` summed
    over the sources: sources too small to alert one by one), unless `already` names that step."""
    alerts = []
    steps = manifest.increment.steps if manifest.increment else manifest.steps
    read = sum(s.kept for s in steps if s.step.startswith("read:"))
    if manifest.totals.get("documents", 0) == 0:
        alerts.append(f"release: 0 documents kept of {read} read")
    elif manifest.increment and read:
        new_kept = sum(s.documents for s in manifest.shards if not Path(s.path).name.startswith("parent-"))
        if new_kept == 0:
            alerts.append(f"release: 0 of the {read} new documents kept (the release holds only its parent's)")
    for st in steps:
        named = any(a.startswith(f"step {st.step}:") for a in already)
        if not st.step.startswith("read:") and not named and st.input >= min_documents and st.dropped / st.input >= drop_share:
            top = max(st.dropped_by_reason.items(), key=lambda kv: kv[1], default=("?", st.dropped))
            alerts.append(f"step {st.step}: dropped {st.dropped} of {st.input} documents (mostly {top[0]}: {top[1]})")
    return alerts


CORRUPT = "truncated_or_corrupt_file"
UNDECODABLE = ("invalid_utf8", "invalid_encoding")


def input_file_alerts(sources: list[str], steps: list[StepStats], rejects_dir: Path, min_documents: int) -> list[str]:
    """Alerts that name an input file: one cut short or damaged (a truncated .gz, a corrupt .bz2/.xz/.zst block, cut-off
    XML or WARC), and one with `min_documents` or more lines its encoding does not decode (a file in two encodings),
    unless the file is also corrupt (its damaged bytes explain them). From the read step's rejects, read only when its
    counts say there are such rejects."""
    import re

    import orjson

    alerts = []
    for name in sources:
        read = next((s for s in steps if s.step == f"read:{name}"), None)
        if read is None or not any(read.dropped_by_reason.get(r) for r in (CORRUPT, *UNDECODABLE)):
            continue
        corrupt: dict[str, dict] = {}
        undecodable: dict[str, dict] = {}  # per file: how many, first and last line, the first one's encoding and reason
        mine = re.compile(rf"{re.escape(name)}-\d+\.jsonl")
        for f in sorted(p for p in Path(rejects_dir).glob("*.jsonl") if mine.fullmatch(p.name)):
            with open(f, "rb") as fh:
                for line in fh:
                    if b'"reason":"truncated_or_corrupt_file"' in line:
                        rec = orjson.loads(line)
                        corrupt[rec["file"]] = rec
                    elif b'"reason":"invalid_utf8"' in line or b'"reason":"invalid_encoding"' in line:
                        rec = orjson.loads(line)
                        seen = undecodable.setdefault(rec["file"], {"n": 0, "first": rec["line"], "last": rec["line"],
                                                                    "field": rec["field"], "reason": rec["reason"]})
                        seen["n"] += 1
                        seen["first"], seen["last"] = min(seen["first"], rec["line"]), max(seen["last"], rec["line"])
        if corrupt:
            files = sorted(corrupt)
            what = "; ".join(f"{f} at record {corrupt[f]['line']} ({corrupt[f]['raw']})" for f in files[:3])
            more = f"; and {len(files) - 3} more" if len(files) > 3 else ""
            alerts.append(f"source {name}: {len(files)} input file{'s' if len(files) > 1 else ''} truncated or corrupt: {what}{more}; "
                          f"records before each break were read, the rest of the file was not (reason {CORRUPT} in rejects/read)")
        for f, bad in sorted(undecodable.items()):
            if f in corrupt or bad["n"] < min_documents:
                continue
            encoding = (bad["field"] or "").split(" at byte")[0] or "its encoding"
            alerts.append(f"source {name}: file {f}: {bad['n']} lines are not valid {encoding}, the encoding most of the file is in "
                          f"(lines {bad['first']}-{bad['last']}; rejected as {bad['reason']}): a file in two encodings? split it, "
                          f"or set `encoding:` on the source")
    return alerts
