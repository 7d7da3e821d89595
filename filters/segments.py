"""Segment edits: one mechanism for every step that removes part of a document instead of all of it
(../shared/design/segments.md): repeated and quoted lines, forum templates and footers, a Simplified line in a
Traditional post, a contact line under a review, a toxic push in a thread.

A segment is a line (`\\n`-separated: a PTT push, a chat message, a paragraph of news or wiki text). A step names the
lines to remove and why; `remove_lines` takes them out of `doc.text` and appends one edit per line to
`doc.metadata["segment_edits"]`, in order: `[at, reason, text]`, where `at` is the line's index in the text as it was
just before that edit. Re-inserting the edits in reverse order gives back the text the first step saw
(`restore`, used by `curate inspect` to show removed lines in place), so nothing is lost without a trace: the
removed lines travel with the document into its shard, or into the rejects when a later step drops it.

Counts go to the document's annotations (`edits`: reason -> segments and characters) and to the step's stats
(`edited_<reason>` documents, `segments_removed_<reason>`, `chars_removed_<reason>`, overall and per source), so
`curate stats`, the report and the manifest show documents edited beside documents dropped. A document whose
kept text falls under a few characters (or whose removed share passes a limit) is dropped by the step under the
reason that removed most (`mostly_<reason>`): a reply that was all quote. A long quote above a real reply is not
dropped: the reply is what the document rules then judge.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from itertools import accumulate
from typing import Protocol

from datatrove.data import Document

from filters.base import annotations

EDITS = "segment_edits"


class StatsSink(Protocol):
    def stat_update(self, *labels: str, value: int = 1, unit: str | None = None) -> None: ...


def line_index(lines: list[str]):
    """A function from a character offset of "\\n".join(lines) to the index of the line that holds it, so a step can
    search the whole text once (in C) and still act on lines."""
    starts = list(accumulate((len(line) + 1 for line in lines[:-1]), initial=0))
    return lambda pos: bisect_right(starts, pos) - 1


def removed_chars(doc: Document) -> int:
    """Characters (line breaks included) every segment edit so far removed from the document."""
    return sum(len(text) + 1 for _, _, text in doc.metadata.get(EDITS, ()))


def remove_lines(doc: Document, reasons: dict[int, str], step: StatsSink, step_name: str) -> None:
    """Remove the lines of `doc.text` at the given indices, each for its reason (`step:reason` is recorded)."""
    if not reasons:
        return
    lines = doc.text.split("\n")
    edits = doc.metadata.setdefault(EDITS, [])
    source = doc.metadata.get("source", "unknown")
    kept, segments, chars = [], Counter(), Counter()
    for i, line in enumerate(lines):
        reason = reasons.get(i)
        if reason is None:
            kept.append(line)
            continue
        edits.append([len(kept), f"{step_name}:{reason}", line])  # its index once the earlier removals are done
        segments[reason] += 1
        chars[reason] += len(line) + 1
    doc.text = "\n".join(kept)
    summary = annotations(doc).setdefault("edits", {})
    for reason, n in segments.items():
        key = f"{step_name}:{reason}"
        entry = summary.setdefault(key, {"segments": 0, "chars": 0})
        entry["segments"] += n
        entry["chars"] += chars[reason]
        step.stat_update(f"edited_{reason}", f"source:{source}/edited_{reason}")
        step.stat_update(f"segments_removed_{reason}", f"source:{source}/segments_removed_{reason}", value=n)
        step.stat_update(f"chars_removed_{reason}", f"source:{source}/chars_removed_{reason}", value=chars[reason])


def mostly_removed(doc: Document, step_name: str, min_kept_chars: int, max_removed_share: float = 1.0) -> str | None:
    """`mostly_<reason>` when the edits so far left fewer than `min_kept_chars` non-space characters, or removed more
    than `max_removed_share` of the document's characters, naming the reason that removed most; None otherwise."""
    edits = doc.metadata.get(EDITS)
    if not edits:
        return None
    removed = removed_chars(doc)
    kept = len(doc.text) - sum(doc.text.count(ws) for ws in (" ", "\n", "\t", "\u3000"))
    if kept >= min_kept_chars and removed <= max_removed_share * (removed + len(doc.text)):
        return None
    by_reason = Counter()
    for _, reason, text in edits:
        by_reason[reason] += len(text) + 1
    top = by_reason.most_common(1)[0][0]
    step, _, reason = top.partition(":")
    return f"mostly_{reason}" if step == step_name else f"mostly_{step}_{reason}"


def restore(text: str, edits: list) -> list[tuple[str, str | None]]:
    """The lines of the text before any edit, each with the reason it was removed (None: kept)."""
    lines: list[tuple[str, str | None]] = [(line, None) for line in text.split("\n")]
    for at, reason, removed in reversed(edits):
        lines.insert(at, (removed, reason))
    return lines
