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

Each kind of edit is either removed (the default) or only tagged, per the step config's `edit_actions` (kind ->
"remove" | "tag"). A tagged line stays in the text, so its rule can be measured on real output before it is trusted
to cut: the edit goes to `doc.metadata["segment_tags"]` as `[line, reason, text]` (`line` counted in the text before
any edit, the coordinates `restore` gives), to the annotations' `tagged_edits` (reason -> segments and characters)
and to the stats (`tagged_<reason>` documents, overall and per source). A tagged line removes nothing, so it never
counts toward `mostly_<reason>`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from itertools import accumulate
from typing import Mapping, Protocol

from datatrove.data import Document

from filters.base import StatName, annotations, count_for_source

EDITS = "segment_edits"
TAGS = "segment_tags"


class StatsSink(Protocol):
    def stat_update(self, *labels: str, value: int = 1, unit: str | None = None) -> None: ...


def edit_actions(step: object) -> Mapping[str, str]:
    """The step config's `edit_actions`, read here so that every step using this mechanism honours it without code of
    its own: a config with the field is all a step needs."""
    return getattr(getattr(step, "config", None), "edit_actions", None) or {}


def line_index(lines: list[str]):
    """A function from a character offset of "\\n".join(lines) to the index of the line that holds it, so a step can
    search the whole text once (in C) and still act on lines."""
    starts = list(accumulate((len(line) + 1 for line in lines[:-1]), initial=0))
    return lambda pos: bisect_right(starts, pos) - 1


def removed_chars(doc: Document) -> int:
    """Characters (line breaks included) every segment edit so far removed from the document."""
    return sum(len(text) + 1 for _, _, text in doc.metadata.get(EDITS, ()))


def remove_lines(doc: Document, reasons: dict[int, str], step: StatsSink, step_name: str,
                 actions: Mapping[str, str] | None = None) -> None:
    """Remove the lines of `doc.text` at the given indices, each for its reason (`step:reason` is recorded), or only
    tag those whose reason `actions` (default: the step config's `edit_actions`) maps to "tag"."""
    if not reasons:
        return
    actions = edit_actions(step) if actions is None else actions
    tagged = {i: r for i, r in reasons.items() if actions.get(r) == "tag"}
    if tagged:
        _tag_lines(doc, tagged, step, step_name)
        reasons = {i: r for i, r in reasons.items() if i not in tagged}
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
    _count(doc, "edits", step, step_name, "edited", segments, chars)
    for reason, n in segments.items():
        count_for_source(step, StatName("segments_removed", reason), source, value=n)
        count_for_source(step, StatName("chars_removed", reason), source, value=chars[reason])


def _tag_lines(doc: Document, reasons: dict[int, str], step: StatsSink, step_name: str) -> None:
    # a line of today's text sits where the n-th kept line of the restored text does
    before = [n for n, (_, reason) in enumerate(restore(doc.text, doc.metadata.get(EDITS, ()))) if reason is None]
    lines = doc.text.split("\n")
    tags = doc.metadata.setdefault(TAGS, [])
    segments, chars = Counter(), Counter()
    for i in sorted(reasons):
        tags.append([before[i], f"{step_name}:{reasons[i]}", lines[i]])
        segments[reasons[i]] += 1
        chars[reasons[i]] += len(lines[i]) + 1
    _count(doc, "tagged_edits", step, step_name, "tagged", segments, chars)


def _count(doc: Document, key: str, step: StatsSink, step_name: str, stat: str, segments: Counter, chars: Counter) -> None:
    """Segments and characters per `step:reason` into the annotations' `key`, one document into `<stat>_<reason>`."""
    summary = annotations(doc).setdefault(key, {})
    source = doc.metadata.get("source", "unknown")
    for reason, n in segments.items():
        entry = summary.setdefault(f"{step_name}:{reason}", {"segments": 0, "chars": 0})
        entry["segments"] += n
        entry["chars"] += chars[reason]
        count_for_source(step, StatName(stat, reason), source)


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


def edit_view(text: str, edits: list, tags: list = ()) -> list[tuple[str, str | None, str | None]]:
    """The lines of the text before any edit, each with its reason and action ("remove", "tag"; None: untouched):
    what a reader labels when judging whether an edit was right."""
    lines = [(line, reason, "remove" if reason else None) for line, reason in restore(text, edits)]
    for at, reason, _ in tags:
        line, _, action = lines[at]
        if action is None:  # a tagged line a later step removed shows its removal
            lines[at] = (line, reason, "tag")
    return lines
