"""`curate report`: one self-contained HTML file (plotly's JS embedded, no CDN) about a release's filtering."""

from __future__ import annotations

import html
from pathlib import Path

import plotly.graph_objects as go
import polars as pl

from curation.stats import (compare, drop_reasons, dropped_documents, edits, funnel, kept_documents, outcomes_per_step, regions,
                            release_dir, sample)

SCORE_PLOTS = ["lang_score", "hant_ratio", "quality_score", "quality_model_score", "spam_score", "toxicity_score"]


def _table(df: pl.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape('' if v is None else (f'{v:.4f}' if isinstance(v, float) else str(v)))}</td>"
                                    for v in row) + "</tr>" for row in df.iter_rows())
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def funnel_figure(f: pl.DataFrame) -> go.Figure:
    stages = [c for c in f.columns if c != "source"]
    fig = go.Figure([go.Scatter(x=stages, y=list(row[1:]), mode="lines+markers", name=row[0]) for row in f.iter_rows()])
    fig.update_layout(title="Documents per source after each step", yaxis_title="documents", height=420)
    return fig


def reasons_figure(reasons: pl.DataFrame) -> go.Figure:
    fig = go.Figure()
    if reasons.height:
        labelled = reasons.with_columns((pl.col("step") + ":" + pl.col("reason")).alias("label"))
        for source in sorted(labelled["source"].unique()):
            part = labelled.filter(pl.col("source") == source)
            fig.add_bar(x=part["label"].to_list(), y=part["documents"].to_list(), name=source)
    fig.update_layout(barmode="stack", title="Dropped documents by reason and source", height=420)
    return fig


def score_figures(docs: list[dict]) -> list[go.Figure]:
    figs = []
    for name in SCORE_PLOTS:
        kept = [d["annotations"][name] for d in docs if d["reason"] is None and isinstance(d["annotations"].get(name), (int, float))]
        dropped = [d["annotations"][name] for d in docs if d["reason"] is not None and isinstance(d["annotations"].get(name), (int, float))]
        if not kept and not dropped:
            continue
        fig = go.Figure([go.Histogram(x=kept, name="kept", opacity=0.7, nbinsx=40),
                         go.Histogram(x=dropped, name="dropped", opacity=0.7, nbinsx=40)])
        fig.update_layout(barmode="overlay", title=f"{name} distribution", height=320)
        figs.append(fig)
    return figs


STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;margin:1em 0}"
         "td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}blockquote{color:#444;border-left:3px solid #ccc;"
         "margin:4px 0;padding-left:8px}")


def _page(manifest, parts: list[str]) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>twcurate report {html.escape(manifest.name)} "
            f"{html.escape(manifest.version)}</title><style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")


def build_report(path: str | Path, output: Path) -> Path:
    release, manifest = release_dir(path)
    if manifest.kind == "sft":
        output.write_text(_page(manifest, sft_report_parts(release, manifest)), encoding="utf-8")
        return output
    docs = kept_documents(release) + dropped_documents(release)
    figures = [funnel_figure(funnel(manifest)), reasons_figure(drop_reasons(manifest)), *score_figures(docs)]
    parts = [f"<h1>{html.escape(manifest.name)} {html.escape(manifest.version)}</h1>",
             f"<p>{manifest.kind} release created {html.escape(manifest.created)}; {manifest.totals.get('documents', 0):,} documents, "
             f"{manifest.totals.get('characters', 0):,} characters in {len(manifest.shards)} shards.</p>",
             *(["<h2>Alerts</h2><ul>" + "".join(f"<li>{html.escape(a)}</li>" for a in manifest.alerts) + "</ul>"]
               if manifest.alerts else []),
             "<h2>Funnel</h2>", _table(funnel(manifest)),
             "<h2>Per step: dropped, edited (segments removed), tagged</h2>", _table(outcomes_per_step(manifest))]
    by_region = regions(manifest)
    if by_region.height:
        parts += ["<h2>Region per source (Taiwan, mainland, Hong Kong Cantonese, unknown)</h2>", _table(by_region)]
    edited = edits(manifest)
    if edited.height:
        parts += ["<h2>Edits: documents kept with segments removed, or tagged</h2>", _table(edited)]
    for i, fig in enumerate(figures):
        # the first figure carries plotly.js inline; the rest reuse it, so the file works offline
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=f"chart-{i}"))
        if i == 1:
            parts.append("<h2>Top drop reasons</h2>")
            parts.append(_reason_examples(release, drop_reasons(manifest)))
    parent = (release / manifest.parent).resolve() if manifest.parent else None  # relative to the release (or absolute)
    if parent and (parent / "manifest.json").is_file():
        from manifests import load

        parts += [f"<h2>Compared with parent {html.escape(str(parent))}</h2>", _table(compare(load(parent), manifest))]
    output.write_text(_page(manifest, parts), encoding="utf-8")
    return output


def sft_report_parts(release: Path, manifest) -> list[str]:
    """The report of an SFT release: kept records per split, category and source, the gates in order, rejections per
    gate, reason and source with examples and the evidence each gate quoted, failures, and the judge's scores."""
    from curation import sft_stats

    t = sft_stats.tables(release, manifest)
    reasons = t["rejections"].rename({"gate": "step", "records": "documents"}).fill_null("(unattributed)")
    figures = [funnel_figure(t["funnel"]).update_layout(title="Records per source entering the gates and after each gate"),
               reasons_figure(reasons).update_layout(title="Rejected records by gate, reason and source")]
    means = [r["judge"]["mean"] for r in sft_stats.kept_records(release) + sft_stats.gate_rejects(release)
             if isinstance(r.get("judge"), dict) and isinstance(r["judge"].get("mean"), (int, float))]
    if means:
        figures.append(go.Figure([go.Histogram(x=means, nbinsx=20)]).update_layout(title="Judge mean score", height=320))
    parts = [f"<h1>{html.escape(manifest.name)} {html.escape(manifest.version)}</h1>",
             f"<p>{html.escape(sft_stats.summary_line(manifest, t['gates'], t['failures']))}; created {html.escape(manifest.created)}, "
             f"{manifest.totals.get('tokens', 0):,} tokens in {len(manifest.shards)} shards.</p>",
             *(["<h2>Alerts</h2><ul>" + "".join(f"<li>{html.escape(a)}</li>" for a in manifest.alerts) + "</ul>"]
               if manifest.alerts else [])]
    sections = [("splits", "Kept records per split"), ("categories", "Kept records per category"),
                ("sources", "Kept records per source and license"), ("gates", "Gates in order: records in, kept, dropped"),
                ("rejections", "Rejected records by gate, reason and source"),
                ("failures", "Generation and import failures (no record made)"), ("judge", "Judge")]
    parts += [f"<h2>{title}</h2>{_table(t[name])}" for name, title in sections if t[name].height]
    for i, fig in enumerate(figures):  # the first figure carries plotly.js inline, the rest reuse it
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=f"chart-{i}"))
    parts += ["<h2>Top rejection reasons, with examples</h2>", _sft_examples(release, t["rejections"])]
    return parts


def _sft_examples(release: Path, rejections: pl.DataFrame, per_reason: int = 2) -> str:
    """Up to `per_reason` rejected records of each of the ten largest gate reasons: the evidence and the last turns."""
    from curation import sft_stats

    if not rejections.height:
        return "<p>No record was rejected.</p>"
    totals = rejections.group_by("gate", "reason").agg(pl.col("records").sum()).sort(["records", "gate"], descending=[True, False]).head(10)
    out = []
    for gate, reason, n in totals.iter_rows():
        quotes = []
        for rec in sft_stats.sample(release, step=gate, reason=reason, n=per_reason, seed=0):
            answer = next((m["content"] for m in reversed(rec.get("messages") or []) if m.get("role") == "assistant"), "")
            evidence = f" <i>evidence: {html.escape(str(rec['evidence'])[:200])}</i>" if rec.get("evidence") else ""
            quotes.append(f"<blockquote><b>{html.escape(str(rec.get('id')))}</b> ({html.escape(rec['source'])}){evidence}: "
                          f"{html.escape(answer[:200])}…</blockquote>")
        out.append(f"<h3>{html.escape(gate)}: {html.escape(reason)} ({n})</h3>{''.join(quotes)}")
    return "".join(out)


def _reason_examples(release: Path, reasons: pl.DataFrame, per_reason: int = 2) -> str:
    if not reasons.height:
        return "<p>No document was dropped.</p>"
    totals = reasons.group_by("step", "reason").agg(pl.col("documents").sum()).sort("documents", descending=True).head(10)
    out = []
    for step, reason, n in totals.iter_rows():
        examples = sample(release, step=step, reason=reason, n=per_reason, seed=0)
        snippets = "".join(f"<blockquote><b>{html.escape(d['id'])}</b>: {html.escape(d['text'][:200])}…</blockquote>" for d in examples)
        out.append(f"<h3>{html.escape(step)}: {html.escape(reason)} ({n})</h3>{snippets}")
    return "".join(out)
