"""The gate steps of an SFT release, from its manifest alone.

An SFT release made by `curate synth` records one StepStats per gate in `steps` (the shape CPT steps have). Releases
made before that carry `steps: []` and only the gate counts `sft.generation["gates"]` ({"gate:reason": n}); the
readers here rebuild the steps from those counts, so stats, report and diff read old and new releases alike.
"""

from __future__ import annotations

from filters.base import StatName
from manifests.schema import Manifest, StepStats

# the order releases made before synth recorded its steps applied their gates in (newer gates slotted where they
# belong): a record stopped at the first gate that rejected it, so a gate's input was what the earlier gates kept.
# Gates not listed here are put last, in name order. Releases that record `steps` keep their own order.
GATE_ORDER = ["pii", "structure", "length", "answer", "language", "refusal", "grounding", "decontamination",
              "near_duplicate", "prompt_group", "judge"]


def gate_counts(manifest: Manifest) -> dict[str, dict[str, int]]:
    """{gate: {reason: records}} from the old `generation["gates"]` counts ({"gate:reason": n})."""
    out: dict[str, dict[str, int]] = {}
    for key, n in ((manifest.sft.generation if manifest.sft else {}).get("gates") or {}).items():
        gate, _, reason = key.partition(":")
        out.setdefault(gate, {})[reason or gate] = out.get(gate, {}).get(reason or gate, 0) + int(n)
    return out


def steps_from_counts(counts: dict[str, dict[str, int]], kept: int, kept_by_source: dict[str, int] | None = None,
                      dropped_by_source: dict[tuple[str, str, str], int] | None = None) -> list[StepStats]:
    """StepStats per gate, rebuilt backwards from what was kept: a gate's input is what it and every later gate
    dropped plus the records finally kept (each record stops at its first rejecting gate). Per source when
    `kept_by_source` and `dropped_by_source` ({(gate, reason, source): n}) are given, else `by_source` is empty."""
    gates = sorted(counts, key=lambda g: (GATE_ORDER.index(g) if g in GATE_ORDER else len(GATE_ORDER), g))
    per_source = dropped_by_source or {}
    sources = sorted(set(kept_by_source or {}) | {s for _, _, s in per_source})
    steps, after, after_by_source = [], kept, dict(kept_by_source or {})
    for gate in reversed(gates):
        dropped = sum(counts[gate].values())
        by_source = {}
        for source in sources:
            mine = {StatName("dropped", r).name: n for (g, r, s), n in sorted(per_source.items()) if g == gate and s == source}
            kept_here = after_by_source.get(source, 0)
            by_source[source] = {"in": kept_here + sum(mine.values()), "kept": kept_here, **mine}
            after_by_source[source] = by_source[source]["in"]
        steps.append(StepStats(step=gate, input=after + dropped, kept=after, dropped=dropped,
                               dropped_by_reason=dict(sorted(counts[gate].items())), by_source=by_source if sources else {}))
        after += dropped
    return steps[::-1]


def gate_steps(manifest: Manifest) -> list[StepStats]:
    """The release's gate steps: `manifest.steps` when it records them, else rebuilt from the old gate counts
    (overall only: per-source counts of an old release are in its rejects, which curation.sft_stats reads)."""
    if manifest.steps or manifest.kind != "sft" or manifest.sft is None:
        return list(manifest.steps)
    return steps_from_counts(gate_counts(manifest), kept=sum(manifest.sft.splits.values()))


def source_licenses(manifest: Manifest) -> dict[str, str | None]:
    """License per source of a release: its `sources`, else (an SFT release made before synth recorded them) the
    licenses its imports recorded in `sft.generation["imports"]`."""
    found = {s.name: s.license for s in manifest.sources}
    for name, info in ((manifest.sft.generation if manifest.sft else {}).get("imports") or {}).items():
        found.setdefault(name, info.get("license"))
    return found
