"""Alarms instead of silence: what a finished run's counts say is probably wrong, before anyone trains on it.

A source that yields no document (a wrong `text_field`, a Big5 file read as UTF-8), a source whose records are mostly
rejected, a step that drops nearly all of a source. Each alert is one sentence naming the source, step and numbers;
they go to the manifest (`alerts`), the run log, `curate stats` and the report, and decide the exit code.
"""

from __future__ import annotations

from manifests.schema import StepStats


def run_alerts(sources: list[str], steps: list[StepStats], drop_share: float, min_documents: int) -> list[str]:
    alerts = []
    for name in sources:
        read = next((s for s in steps if s.step == f"read:{name}"), None)
        if read is None:
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
            dropped = sum(v for k, v in counts.items() if k.startswith("dropped_"))
            if n_in >= min_documents and dropped / n_in >= drop_share:
                top = max(((k[len("dropped_"):], v) for k, v in counts.items() if k.startswith("dropped_")), key=lambda kv: kv[1])
                alerts.append(f"step {st.step}: dropped {dropped} of {n_in} documents of source {name} (mostly {top[0]}: {top[1]})")
    return alerts
