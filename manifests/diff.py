"""What changed between two releases: documents, tokens, sources, inputs and filter rates."""

from __future__ import annotations

from filters.base import StatName
from manifests.schema import Manifest, StepStats
from manifests.sft import gate_steps


def _rate(step: StepStats) -> float:
    return step.dropped / step.input if step.input else 0.0


def _source_inputs(m: Manifest) -> dict[str, dict[str, str]]:
    return {s.name: {f.path: f.sha256 for f in s.input_files} for s in m.sources}


def diff(old: Manifest, new: Manifest) -> dict:
    """A JSON-ready description of the change from `old` to `new`."""
    out: dict = {"old": f"{old.name} {old.version}", "new": f"{new.name} {new.version}",
                 "content_changed": old.content_hash != new.content_hash, "config_changed": old.config_hash != new.config_hash,
                 "config_keys_changed": changed_keys(old.config, new.config)}
    out["totals"] = {k: {"old": old.totals.get(k), "new": new.totals.get(k), "delta": (new.totals.get(k) or 0) - (old.totals.get(k) or 0)}
                     for k in ("documents", "characters", "tokens") if k in old.totals or k in new.totals}
    old_src, new_src = {s.name: s for s in old.sources}, {s.name: s for s in new.sources}
    out["sources_added"] = sorted(set(new_src) - set(old_src))
    out["sources_removed"] = sorted(set(old_src) - set(new_src))
    changed = {}
    old_inputs, new_inputs = _source_inputs(old), _source_inputs(new)
    for name in sorted(set(old_src) & set(new_src)):
        a, b = old_src[name], new_src[name]
        entry = {}
        if a.documents != b.documents:
            entry["documents"] = {"old": a.documents, "new": b.documents, "delta": b.documents - a.documents}
        if a.tokens != b.tokens:
            entry["tokens"] = {"old": a.tokens, "new": b.tokens, "delta": (b.tokens or 0) - (a.tokens or 0)}
        if a.license != b.license:
            entry["license"] = {"old": a.license, "new": b.license}
        fa, fb = old_inputs[name], new_inputs[name]
        files = {"added": sorted(set(fb) - set(fa)), "removed": sorted(set(fa) - set(fb)),
                 "modified": sorted(p for p in set(fa) & set(fb) if fa[p] != fb[p])}
        if any(files.values()):
            entry["input_files"] = files
        if entry:
            changed[name] = entry
    out["sources_changed"] = changed
    tok = lambda m: m.tokenizer and (m.tokenizer.name, m.tokenizer.sha256)  # noqa: E731
    if tok(old) != tok(new):
        out["tokenizer_changed"] = {"old": old.tokenizer and old.tokenizer.name, "new": new.tokenizer and new.tokenizer.name}
    old_models, new_models = {m.step: m for m in old.models}, {m.step: m for m in new.models}
    models = {}
    for step in sorted(set(old_models) | set(new_models)):
        a, b = old_models.get(step), new_models.get(step)
        old_sha, new_sha = (a.sha256 if a else None), (b.sha256 if b else None)
        if old_sha != new_sha:
            models[step] = {"old": old_sha, "new": new_sha, "name": (b or a).name}
    if models and old.models and new.models:  # a manifest from before schema 4 records none: nothing to compare
        out["models_changed"] = models
    # an SFT release's steps are its gates; one made before synth recorded them has them rebuilt from its gate counts
    old_list, new_list = gate_steps(old), gate_steps(new)
    old_steps, new_steps = {s.step: s for s in old_list}, {s.step: s for s in new_list}
    rates = {}
    for step in [s.step for s in new_list] + [s for s in old_steps if s not in new_steps]:
        a, b = old_steps.get(step), new_steps.get(step)
        ra, rb = (_rate(a) if a else None), (_rate(b) if b else None)
        reasons = sorted(set(a.dropped_by_reason if a else {}) | set(b.dropped_by_reason if b else {}))
        by_reason = {r: {"old": a.dropped_by_reason.get(r, 0) if a else None, "new": b.dropped_by_reason.get(r, 0) if b else None}
                     for r in reasons}
        if ra != rb or any(v["old"] != v["new"] for v in by_reason.values()):
            rates[step] = {"drop_rate": {"old": ra, "new": rb}, "dropped_by_reason": by_reason,
                           "drop_rate_by_reason": {r: {"old": _reason_rate(a, r), "new": _reason_rate(b, r)} for r in reasons}}
            if old.kind == new.kind == "sft" and (moved := _source_changes(a, b)):
                rates[step]["dropped_by_source"] = moved
    out["filter_rates_changed"] = rates
    if old.kind == new.kind == "sft":
        out["sft_changed"] = _sft_changes(old, new)
    return out


def _reason_rate(step: StepStats | None, reason: str) -> float | None:
    """Share of a step's input that it dropped for `reason` (None where the release has no such step)."""
    if step is None:
        return None
    return step.dropped_by_reason.get(reason, 0) / step.input if step.input else 0.0


def _source_changes(a: StepStats | None, b: StepStats | None) -> dict[str, dict[str, dict]]:
    """{source: {reason: {old, new}}} for every per-source drop count of a step that changed (SFT gates are few and
    their sources few, so the per-source change is worth naming; a CPT diff keeps to the per-reason totals)."""
    out: dict[str, dict[str, dict]] = {}
    old_src, new_src = (a.by_source if a else {}), (b.by_source if b else {})
    for source in sorted(set(old_src) | set(new_src)):
        x, y = old_src.get(source, {}), new_src.get(source, {})
        for key in sorted(set(x) | set(y)):
            stat = StatName.parse(key)
            if stat.outcome == "dropped" and x.get(key, 0) != y.get(key, 0):
                out.setdefault(source, {})[stat.reason] = {"old": x.get(key, 0), "new": y.get(key, 0)}
    return out


def _count_changes(old: dict, new: dict) -> dict[str, dict]:
    return {k: {"old": old.get(k, 0), "new": new.get(k, 0), "delta": new.get(k, 0) - old.get(k, 0)}
            for k in sorted(set(old) | set(new), key=str) if old.get(k, 0) != new.get(k, 0)}


def _sft_changes(old: Manifest, new: Manifest) -> dict:
    """What changed in two SFT releases' records: kept per split and category, failures by reason, and the judge's
    settings and count of judged records (only the entries that differ)."""
    a, b = (old.sft.model_dump() if old.sft else {}), (new.sft.model_dump() if new.sft else {})
    ga, gb = a.get("generation", {}), b.get("generation", {})
    out = {"splits": _count_changes(a.get("splits", {}), b.get("splits", {})),
           "categories": _count_changes(a.get("categories", {}), b.get("categories", {})),
           "failures": _count_changes(ga.get("failures") or {}, gb.get("failures") or {})}
    ja, jb = ga.get("judge") or {}, gb.get("judge") or {}
    judge = {k: {"old": ja.get(k), "new": jb.get(k)} for k in ("enabled", "threshold", "judged") if ja.get(k) != jb.get(k)}
    if judge:
        out["judge"] = judge
    return out


def format_diff(d: dict) -> str:
    lines = [f"{d['old']} -> {d['new']}" + ("" if d["content_changed"] else "  (identical content)")]
    for k, v in d["totals"].items():
        lines.append(f"  {k}: {v['old']} -> {v['new']} ({v['delta']:+d})")
    for name in d["sources_added"]:
        lines.append(f"  + source {name}")
    for name in d["sources_removed"]:
        lines.append(f"  - source {name}")
    for name, entry in d["sources_changed"].items():
        lines.append(f"  ~ source {name}:")
        for key in ("documents", "tokens"):
            if key in entry:
                e = entry[key]
                lines.append(f"      {key} {e['old']} -> {e['new']} ({e['delta']:+d})")
        if "license" in entry:
            lines.append(f"      license {entry['license']['old']!r} -> {entry['license']['new']!r}")
        for kind, paths in entry.get("input_files", {}).items():
            for p in paths:
                lines.append(f"      input {kind}: {p}")
    for step, entry in d["filter_rates_changed"].items():
        r = entry["drop_rate"]
        fmt = lambda x: "-" if x is None else f"{x:.1%}"  # noqa: E731
        lines.append(f"  step {step}: drop rate {fmt(r['old'])} -> {fmt(r['new'])}")
        for reason, v in entry["dropped_by_reason"].items():
            if v["old"] != v["new"]:
                rate = entry.get("drop_rate_by_reason", {}).get(reason)
                count = lambda n: "-" if n is None else n  # noqa: E731
                lines.append(f"      {reason}: {count(v['old'])} -> {count(v['new'])}"
                             + (f" ({fmt(rate['old'])} -> {fmt(rate['new'])})" if rate else ""))
        for source, reasons in entry.get("dropped_by_source", {}).items():
            lines.append(f"      source {source}: " + ", ".join(f"{r} {v['old']} -> {v['new']}" for r, v in reasons.items()))
    label = {"splits": "kept in split", "categories": "kept in category", "failures": "failures", "judge": "judge"}
    for what, changes in d.get("sft_changed", {}).items():
        for key, v in changes.items():
            change = f" ({v['delta']:+d})" if "delta" in v else ""
            lines.append(f"  {label.get(what, what)} {key}: {v['old']} -> {v['new']}{change}")
    if "tokenizer_changed" in d:
        t = d["tokenizer_changed"]
        lines.append(f"  tokenizer {t['old']} -> {t['new']}: token counts are not comparable")
    for step, m in d.get("models_changed", {}).items():
        short = lambda h: h[:12] if h else "none"  # noqa: E731
        lines.append(f"  model of step {step} ({m['name']}) {short(m['old'])} -> {short(m['new'])}: its decisions are not comparable")
    if d["config_changed"]:
        keys = d.get("config_keys_changed") or []
        lines.append("  config changed" + (": " + ", ".join(keys[:20]) + (" ..." if len(keys) > 20 else "") if keys else ""))
    return "\n".join(lines)


def format_show(m: Manifest) -> str:
    lines = [f"{m.name} {m.version} ({m.kind}), created {m.created}, schema {m.schema_version}",
             f"content {m.content_hash[:16]}…  config {m.config_hash[:16]}…  tool {m.tool_version} ({(m.git_commit or '?')[:10]})",
             "totals: " + ", ".join(f"{k} {v:,}" for k, v in m.totals.items())]
    lines.append(f"tokenizer: {m.tokenizer.name or m.tokenizer.path} (sha256 {m.tokenizer.sha256[:12]}…)" if m.tokenizer
                 else "tokenizer: none (no token counts)")
    if m.models:
        lines.append("models: " + ", ".join(f"{x.step} {x.name} ({x.sha256[:12]}…)" for x in m.models))
    if m.parent:
        lines.append(f"parent: {m.parent}")
    if m.sources:
        lines.append("sources:")
        for s in m.sources:
            weight = m.mixture_weights.get(s.name)
            tokens = f"{s.tokens:>12,} tokens" if s.tokens is not None else f"{'-':>12} tokens"
            lines.append(f"  {s.name:<12} {s.kind:<7} {s.documents:>8,} docs {s.characters:>12,} chars {tokens}  "
                         f"weight {weight if weight is not None else '-'}  license {s.license or '-'}")
    if steps := gate_steps(m):  # an SFT release: its gates
        lines.append("steps (in -> kept, dropped by reason):")
        for st in steps:
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(st.dropped_by_reason.items())) or "-"
            lines.append(f"  {st.step:<14} {st.input:>8,} -> {st.kept:>8,}   {reasons}")
    if m.rejects:
        lines.append("malformed input: " + ", ".join(f"{k} {v}" for k, v in sorted(m.rejects.items())))
    if m.sft:
        lines.append(f"sft: splits {m.sft.splits}, categories {m.sft.categories}")
    if m.labels:
        lines.append(f"labels: {m.labels.sample} documents of {m.labels.release} rated by {m.labels.generation.get('model')}; "
                     f"parts {m.labels.parts}, scores {m.labels.scores}")
    lines.append(f"shards: {len(m.shards)}")
    return "\n".join(lines)


def changed_keys(old: object, new: object, prefix: str = "") -> list[str]:
    """Dotted paths of the config values that differ (steps.toxicity.classifier_alone, sources[1].path)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new), key=str):
            path = f"{prefix}.{k}" if prefix else str(k)
            if k not in old or k not in new:
                out.append(path)
            else:
                out += changed_keys(old[k], new[k], path)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [p for i, (a, b) in enumerate(zip(old, new)) for p in changed_keys(a, b, f"{prefix}[{i}]")]
    return [] if old == new else [prefix or "(root)"]
