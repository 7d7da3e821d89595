"""`curate`: the command line. Exit codes: 0 ok, 1 data/verification failure, 2 bad config/usage,
3 locked, 5 published with alerts, 6 I/O failure, 128 + signal when stopped by one (130 Ctrl-C, 143 SIGTERM)."""

from __future__ import annotations

import argparse
import sys

from curation import __version__
from curation import runlog
from curation.errors import EXIT_ALERTS, EXIT_DATA, EXIT_IO, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, CurateError, UsageError, os_error_line
from curation.runlog import datatrove_logs_on_stderr
from synth.local_server import LocalServerError


def terminal_width() -> int:
    """The terminal's columns (COLUMNS, else the tty's; 100 when piped): tables use the width there is."""
    import shutil

    return max(shutil.get_terminal_size((100, 24)).columns, 80)


def print_json(value: object) -> None:
    import json

    print(json.dumps(value, ensure_ascii=False, indent=2))


def published(path, alerts: list[str]) -> int:
    """A release was published: its alerts on stderr, its path as the last line; exit 5 when it has alerts."""
    for a in alerts:
        print(f"curate: alert: {a}", file=sys.stderr)
    print(path)
    return EXIT_ALERTS if alerts else EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from curation.config import load_job
    from curation.pipeline import run_job
    from manifests import storage

    job = load_job(args.job)
    since = None
    if args.since:  # for an output in object storage, a release URL there (run_job checks it)
        since = args.since if storage.is_url(job.output) else Path(args.since).resolve()
    path = run_job(job, force=args.force, resume=args.resume, quiet=not args.verbose, since=since, strict=args.strict)
    if path is None:  # Slurm: submitted (run_job said so on stderr); else nothing new since the parent release
        if job.executor.kind != "slurm":
            print("no new release: nothing new, every input file is recorded in the last release")
        return EXIT_OK
    from manifests import load

    alerts = load(path).alerts if storage.is_url(path) or (Path(path) / "manifest.json").is_file() else []
    return published(path, alerts)


def cmd_plan(args: argparse.Namespace) -> int:
    from curation.config import load_job
    from curation.plan import format_plan, make_plan

    job = load_job(args.job)
    plan = make_plan(job, sample_mb=args.sample_mb)
    if args.json:
        print_json({"sources": [s.__dict__ for s in plan.sources], "stages": plan.stages, "totals": plan.totals,
                    "warnings": plan.warnings})
    else:
        print(format_plan(job, plan))
    return EXIT_OK


def cmd_clean(args: argparse.Namespace) -> int:
    """Remove the work folders of the job's runs that are not running (a killed or failed run's `.work/<name>/<version>`)."""
    import shutil

    from curation.config import load_job
    from curation.runlog import held_by_live_run

    job = load_job(args.job, check_inputs=False)
    root = job.output_dir / ".work" / job.name
    freed, removed = 0, []
    for work in sorted(p for p in root.glob("*") if p.is_dir()) if root.is_dir() else []:
        lock = root / f"{work.name}.lock"
        if lock.exists() and held_by_live_run(lock):
            print(f"kept {work}: a run holds {lock}")
            continue
        size = sum(f.stat().st_size for f in work.rglob("*") if f.is_file())
        if not args.dry_run:
            shutil.rmtree(work)
            lock.unlink(missing_ok=True)
            if job.executor.kind == "ray" and job.executor.work_url:  # and its copy, which --resume would take back
                from curation.release import ReleaseLayout
                from curation.pipeline import work_mirror

                work_mirror(job, ReleaseLayout(job.output_dir, job.name, work.name)).clear()
        freed += size
        removed.append(work)
        print(f"{'would remove' if args.dry_run else 'removed'} {work} ({size / 1e6:.1f} MB)")
    print(f"{len(removed)} work folder(s), {freed / 1e6:.1f} MB {'to free' if args.dry_run else 'freed'}; "
          f"a removed run cannot be resumed")
    return EXIT_OK


def cmd_annotate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from curation.annotate import annotate
    from curation.config import load_job

    job = load_job(args.config, check_inputs=False) if args.config else None
    if not Path(args.input).is_file():
        raise CurateError(f"{args.input}: input file not found")
    counts = annotate(Path(args.input), Path(args.output), job, text_field=args.text_field, id_field=args.id_field)
    print(f"annotated {counts['written']} documents ({counts['kept']} would be kept, {counts['rejected']} unreadable records "
          f"in {args.output}.rejects/) -> {args.output}")
    return EXIT_OK


def cmd_manifest(args: argparse.Namespace) -> int:
    from manifests.reader import ManifestError

    try:
        return _manifest(args)
    except (ManifestError, FileNotFoundError) as e:
        # not a release (/etc/passwd, a folder without manifest.json) or a broken manifest.json: one line, exit 1, and
        # never the file's content
        raise CurateError(str(e).splitlines()[0] if str(e) else f"{args.paths[0]}: not a release") from None


def _manifest(args: argparse.Namespace) -> int:
    import manifests
    from manifests.check import verify_report
    from manifests.diff import format_diff, format_show
    from manifests.mixture import format_mixture, is_mixture, load_mixture, mixture_json

    if is_mixture(args.paths[0]) and args.action in ("show", "verify"):
        mixture = load_mixture(args.paths[0])
        if args.action == "show":
            print(mixture_json(mixture) if args.json else format_mixture(mixture))
            return EXIT_OK
        report = verify_report(args.paths[0])
        return _print_verification(args.paths[0], report, f"{len({c.path for c in mixture.components})} pinned release(s) match "
                                                           f"their content hashes and manifests; content {mixture.content_hash}")
    if args.action == "show":
        m = manifests.load(args.paths[0])
        print(m.model_dump_json(indent=2) if args.json else format_show(m))
        return EXIT_OK
    if args.action == "verify":
        report = verify_report(args.paths[0], expect_content_hash=args.content_hash)
        m = manifests.load(args.paths[0])
        return _print_verification(args.paths[0], report, f"{len(m.shards)} shards and {len(m.files)} other files match; "
                                                           f"content {m.content_hash}")
    if len(args.paths) != 2:
        raise UsageError("manifest diff needs OLD and NEW")
    from curation import sft_stats, stats

    for p in args.paths:  # each a release, named in the one-line error when not
        manifests.load(p)
    # an SFT release made before synth recorded its gate steps and sources: rebuilt from its rejects and shards
    old, new = (sft_stats.view(*stats.release_dir(p)) for p in args.paths)
    d = manifests.diff(old, new)
    if args.json:
        print_json(d)
    else:
        print(format_diff(d))
    return EXIT_OK


def _print_verification(path: str, report, matched: str) -> int:
    """`manifest verify`: the problems (exit 1), else one ok line naming what was recomputed; notes (what an older
    manifest gives no way to check) either way."""
    if report.problems:
        print(f"{path}: {len(report.problems)} problem(s):")
        for p in report.problems:
            print(f"  {p}")
    else:
        recomputed = f"; recomputed and matching: {', '.join(report.recomputed)}" if report.recomputed else ""
        print(f"{path}: ok, {matched}{recomputed}")
    for note in report.notes:
        print(f"  note: {note}")
    return EXIT_DATA if report.problems else EXIT_OK


def cmd_mix(args: argparse.Namespace) -> int:
    from curation.config import load_mix
    from curation.mix import run_mix
    from manifests.mixture import format_mixture, load_mixture

    path = run_mix(load_mix(args.mix), force=args.force)
    mixture = load_mixture(path)
    print(format_mixture(mixture, notes=False), file=sys.stderr)
    for note in mixture.notes:  # e.g. a CC BY-NC component: not a failure, but no one should miss it
        print(f"curate: note: {note}", file=sys.stderr)
    print(path)
    return EXIT_OK


def cmd_stats(args: argparse.Namespace) -> int:
    """`curate stats`: a CPT release's funnel, drops, edits, regions and scores; an SFT release's kept records per
    split, category and source, every gate's records in and dropped, rejections per gate, reason and source, failures
    and the judge's scores (curation/sft_stats.py). --compare, --json and --csv work the same on both."""
    from curation import sft_stats, stats

    release, manifest = stats.release_dir(args.release)
    if args.costs:
        return _costs(args, release, manifest)
    sft = manifest.kind == "sft"
    if sft:
        tables = sft_stats.tables(release, manifest)
    else:
        tables = {"funnel": stats.funnel(manifest), "outcomes": stats.outcomes_per_step(manifest),
                  "drops": stats.drop_reasons(manifest), "edits": stats.edits(manifest), "regions": stats.regions(manifest),
                  "scores": stats.score_quantiles(release), "steps": stats.stats_table(manifest)}
    if args.compare:
        other_dir, other = stats.release_dir(args.compare)
        if sft:  # an older SFT release records only gate counts: its gate steps are filled in
            other = sft_stats.view(other_dir, other)
        tables["compare"] = stats.compare(other, sft_stats.view(release, manifest))
    if args.json:
        print_json({"alerts": manifest.alerts, **{k: v.to_dicts() for k, v in tables.items()}})
        return EXIT_OK
    if args.csv:
        print(tables["compare" if args.compare else "steps"].write_csv(), end="")
        return EXIT_OK
    if sft:
        titles, always = dict(SFT_TITLES), set()
    else:
        titles = {"funnel": f"{manifest.name} {manifest.version}: funnel per source (documents after each step)",
                  **CPT_TITLES}
        always = {"funnel", "outcomes", "drops", "compare"}  # shown even when empty
    titles["compare"] = f"drop rates compared with {args.compare}"
    with polars_tables():
        for a in manifest.alerts:
            print(f"ALERT: {a}")
        if sft:
            print(sft_stats.summary_line(manifest, tables["gates"], tables["failures"]))
        for name, title in titles.items():
            if name in tables and (name in always or tables[name].height):
                print(title)
                print(tables[name])
    return EXIT_OK


# `curate stats`: the title above each table, in the order shown
CPT_TITLES = {
    "outcomes": "per step: documents in, dropped, edited (kept with segments removed), only tagged",
    "drops": "dropped by step, reason and source",
    "edits": "edited (segments removed; characters removed), tagged, or contaminated (per evaluation set), by step, "
             "reason and source",
    "regions": "region per source (script step: Taiwan, mainland, Hong Kong Cantonese, unknown) and its share",
    "scores": "score quantiles (kept and dropped documents)",
}
SFT_TITLES = {
    "splits": "kept records per split", "categories": "kept records per category",
    "sources": "kept records per source (license as the manifest records it)",
    "gates": "gates in order: records in, kept, dropped",
    "rejections": "rejected by gate, reason and source",
    "funnel": "records per source entering the gates and left after each gate that dropped any",
    "failures": "generation and import failures (no record made) by task, source and reason",
    "judge": "judge: threshold, records judged, rejected as low_score, failed, mean-score quantiles",
}


def polars_tables():
    """How `curate stats` prints its tables: every row and column, as wide as the terminal."""
    import polars as pl

    return pl.Config(tbl_rows=200, tbl_cols=30, fmt_str_lengths=40, tbl_hide_dataframe_shape=True,
                     tbl_width_chars=terminal_width())


def _costs(args: argparse.Namespace, release, manifest) -> int:
    """`curate stats RELEASE --costs`: where the run that published the release spent its time (curation/costs.py),
    read from its run log `<output>/logs/<name>-<version>.jsonl`."""
    from curation.costs import costs_table, read_costs

    log = release.parent.parent / "logs" / f"{manifest.name}-{manifest.version}.jsonl"
    costs = read_costs(log, release)
    if costs is None:
        raise UsageError(f"{log}: no costs of the run that published {release} (a Slurm run, which logs no costs; a run "
                         f"before costs were logged; or the run log was not kept beside the release)")
    if args.json:
        print_json(costs)
    elif args.csv:
        print("stage,part,seconds,ms_per_document,share")
        for r in costs["parts"]:
            print(f"{r['stage']},{r['part']},{r['seconds']},{r['ms_per_document']},{r['share']}")
    else:
        print(f"{manifest.name} {manifest.version}: cost of the run per part, {costs_table(costs)}")
    return EXIT_OK


def cmd_inspect(args: argparse.Namespace) -> int:
    import json

    from curation import stats

    release, manifest = stats.release_dir(args.release)
    if manifest.kind == "sft":
        return _sft_inspect(args, release, manifest)
    if args.task:
        raise UsageError("inspect: --task is for SFT releases (a CPT release's documents have no task)")
    steps = [s.step for s in manifest.steps if not s.step.startswith("read:")]
    if args.step and args.step not in steps:
        raise UsageError(f"inspect: no step {args.step!r} in {release}; its steps: {', '.join(steps)}")
    docs = stats.sample(release, step=args.step, reason=args.reason, source=args.source, kept=args.kept, n=args.n, seed=args.seed)
    if not docs:
        print("no matching documents")
        return EXIT_OK
    from filters.segments import edit_view

    shorten = lambda t: t if len(t) <= args.width else t[: args.width - 1] + "…"  # noqa: E731
    label = {"remove": "removed", "tag": "tagged"}
    for d in docs:
        print(f"── {d['id']}  source={d['source']}  " + (f"{d['step']}:{d['reason']}" if d["reason"] else "kept"))
        print(f"   {json.dumps(d['annotations'], ensure_ascii=False)}")
        if not d.get("edits") and not d.get("tags"):
            print(f"   {shorten(' '.join(d['text'].split()))}")
            continue
        # the text as it was read, line by line, with each removed or tagged segment marked in place with its reason
        for line, reason, action in edit_view(d["text"], d["edits"], d.get("tags", []))[:args.max_lines]:
            if line.strip() or reason:
                print(f"   {f'[{label[action]} {reason}] ' if action else ''}{shorten(line.strip())}")
    return EXIT_OK


def _sft_inspect(args: argparse.Namespace, release, manifest) -> int:
    """`curate inspect` of an SFT release: records a gate rejected (`--step GATE`, with the evidence it quoted) or
    that failed to be made (`--step failures`), or kept ones (`--kept`), filtered by reason, source and task."""
    from curation import sft_stats

    known = sft_stats.known_steps(release, manifest)
    if args.step and args.step not in known:
        raise UsageError(f"inspect: no gate {args.step!r} in {release}; its gates: {', '.join(known)}")
    records = sft_stats.sample(release, step=args.step, reason=args.reason, source=args.source, task=args.task, kept=args.kept,
                               n=args.n, seed=args.seed)
    if not records:
        print("no matching records")
        return EXIT_OK
    for rec in records:
        print("\n".join(sft_stats.describe(rec, args.width)))
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from curation.report import build_report

    print(build_report(args.release, Path(args.output)))
    return EXIT_OK


def cmd_train_classifier(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from curation.classifier import load_recipe, train

    data_root = Path(args.data_root or os.environ.get("TWCURATE_REAL_DATA") or "../shared/data/real")
    card = train(load_recipe(Path(args.recipe)), data_root, Path(args.output), recipe_path=args.recipe)
    print(f"{card.name}: {card.model_file} (sha256 {card.sha256[:12]}), threshold {card.threshold} chosen on dev")
    for name, m in card.metrics.items():
        if "precision" in m:
            print(f"  {name}: precision {m['precision']:.3f} recall {m['recall']:.3f} F1 {m['f1']:.3f} ({m['rows']} rows)")
        else:
            print(f"  {name}: {m}")
    print(f"-> {Path(args.output) / (card.name + '.json')} (use it as steps.spam.model_path, steps.toxicity.model_path, "
          f"steps.quality_model.model_path or steps.script.region_model_path)")
    return EXIT_OK


def cmd_decont_index(args: argparse.Namespace) -> int:
    from pathlib import Path

    from filters.decontamination import EvalIndex

    sources = {}
    for spec in args.eval:
        name, sep, path = spec.partition("=")
        name, path = (name, Path(path)) if sep else (Path(spec).stem, Path(spec))
        if not path.is_file():
            raise UsageError(f"decont-index: {path}: evaluation file not found")
        if name in sources:
            raise UsageError(f"decont-index: evaluation set name {name!r} given twice (name them: NAME=PATH)")
        sources[name] = path
    try:
        index = EvalIndex.build(sources, n=args.ngram, sample=args.sample)
    except ValueError as e:
        raise CurateError(str(e)) from None
    out = index.save(Path(args.output))
    d = index.describe()
    print(f"{out}: {d['items']} items of {', '.join(d['sets'])}, {d['hashes']} hashes of {d['n']}-grams "
          f"(1 in {d['sample']} kept), {out.stat().st_size:,} bytes")
    return EXIT_OK


def cmd_exclude(args: argparse.Namespace) -> int:
    from pathlib import Path

    from curation.exclude import run_exclude

    print(run_exclude(Path(args.release), Path(args.ids) if args.ids else None, Path(args.urls) if args.urls else None,
                      args.reason, version=args.version, force=args.force, token_range=args.token_range,
                      export=Path(args.export) if args.export else None))
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from manifests.export import ExportError, export

    try:
        m = export(args.release, args.out, args.format, tokenizer=args.tokenizer, eos=args.eos, force=args.force,
                   tool_version=__version__)
    except ExportError as e:
        raise CurateError(str(e)) from None
    t = m.totals
    same = ("= the manifest's tokens + one EOS per document" if m.manifest_tokenizer_matches else
            f"(tokenizer {m.tokenizer.name} is not the one the manifest counted with: not compared)")
    print(f"exported {t['documents']:,} documents in {t['files']} {m.format} file(s): {t['tokens']:,} tokens "
          f"{same}; blend in {m.blend}", file=sys.stderr)
    print(args.out)
    return EXIT_OK


def cmd_locate(args: argparse.Namespace) -> int:
    from manifests.export import ExportError, locate, parse_range

    try:
        start, end = parse_range(args.token_range)
        found = locate(args.export, start, end, prefix=args.file)
    except ExportError as e:
        raise CurateError(str(e)) from None
    rows = found.select(["global_start", "start", "tokens", "file", "doc", "id", "url", "release"]).to_pylist()
    if args.json:
        print_json(rows)
        return EXIT_OK
    print(f"{len(rows)} document(s) overlap tokens {start}:{end}{f' of {args.file}' if args.file else ''}")
    for r in rows:
        print(f"{r['global_start']:>14,} +{r['tokens']:<8,} {r['file']}#{r['doc']}  {r['id']}  {r['url'] or ''}")
    return EXIT_OK


def cmd_synth(args: argparse.Namespace) -> int:
    from curation.config import load_synth_job
    from curation.synth_job import run_synth

    import manifests

    path = run_synth(load_synth_job(args.job), force=args.force, refresh_cache=args.refresh_cache, strict=args.strict)
    return published(path, manifests.load(path).alerts)


def cmd_label_quality(args: argparse.Namespace) -> int:
    from curation.config import load_label_job
    from curation.label_quality import run_label_quality

    import manifests

    path = run_label_quality(load_label_job(args.job), force=args.force, strict=args.strict)
    return published(path, manifests.load(path).alerts)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="curate", description="Curate Taiwan Traditional-Chinese text into versioned CPT/SFT releases.")
    parser.add_argument("--version", action="version", version=f"twcurate {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show datatrove's progress logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, func, **kwargs) -> argparse.ArgumentParser:
        """A subcommand that `main` runs with `func(args)`."""
        parser = sub.add_parser(name, **kwargs)
        parser.set_defaults(func=func)
        return parser

    run = command("run", cmd_run, help="run a CPT curation job and publish a release",
                  description="Read every source of JOB, normalize and filter, write Parquet shards, rejects, stats and "
                              "manifest.json to <output>/<name>/<version>/. Prints the release path as its last line.")
    run.add_argument("job", help="job config (YAML)")
    run.add_argument("--force", action="store_true", help="replace an existing release of the same version")
    run.add_argument("--resume", action="store_true", help="continue an interrupted run, skipping finished tasks")
    run.add_argument("--strict", action="store_true", help="any alert (a source read nothing, a step dropped nearly all) "
                                                           "fails the run before publishing (exit 1); without it the "
                                                           "release is published and the exit code is 5")
    run.add_argument("--since", metavar="RELEASE", help="incremental: read only input files RELEASE did not record, dedup "
                                                           "against it, and carry its shards into the new release")

    ann = command("annotate", cmd_annotate, help="label documents with every enabled filter, dropping nothing",
                  description="Run every enabled filter of the job config (or the defaults) in label-only mode over a "
                              "JSONL file and write each document with an `annotations` object: lang, lang_score, "
                              "script, hant_ratio, region, ..., plus kept and drop_reason for what `curate run` "
                              "would decide. Text is written as the pipeline would release it (normalized).")
    ann.add_argument("input", help="JSONL with a text field (and id if present)")
    ann.add_argument("-o", "--output", required=True, help="output JSONL")
    ann.add_argument("--config", help="job config whose `steps` to use (default: built-in defaults)")
    ann.add_argument("--text-field", default="text", help="field holding the text (default: text)")
    ann.add_argument("--id-field", default=None, help="field holding the id (default: id if present, else line number)")

    sy = command("synth", cmd_synth, aliases=["sft"], help="import, generate, judge, gate and release SFT data (also: curate sft)",
                 description="Run the tasks of JOB (import of existing data; self_instruct, paraphrase, translate, "
                             "doc_qa, follow_up with an LLM; the optional judge) against an "
                             "OpenAI-compatible server (llm.base_url: local starts the bundled llama.cpp server), parse "
                             "and repair JSON replies, apply the quality gates and publish an SFT release. Responses are "
                             "cached on disk: a rerun makes no repeated requests.")
    sy.add_argument("job")
    sy.add_argument("--force", action="store_true", help="replace an existing release of the same version")
    sy.add_argument("--refresh-cache", action="store_true", help="ask the server again even where a reply is cached")
    sy.add_argument("--strict", action="store_true", help="0 records kept or half the requests failed: fail before "
                                                          "publishing (exit 1); without it the release is published, exit 5")

    lq = command("label-quality", cmd_label_quality, help="rate a sample of a CPT release 0-5 with an LLM (quality labels)",
                 description="Send a seeded sample of JOB's CPT release to the configured OpenAI-compatible LLM with a "
                             "Traditional-Chinese rubric (0-5: value as zh-TW pretraining text), parse and repair the "
                             "JSON replies and publish the ratings as a labels release (train/dev/test parts) for "
                             "`curate train-classifier`. Responses are cached: a killed or repeated run sends only "
                             "the requests not yet answered.")
    lq.add_argument("job")
    lq.add_argument("--force", action="store_true", help="replace an existing release of the same version")
    lq.add_argument("--strict", action="store_true", help="any alert (nothing labeled, half the requests failed) fails the "
                                                          "run before publishing (exit 1); without it the exit code is 5")

    st = command("stats", cmd_stats, help="funnel, drop reasons and score distributions of a release",
                 description="Per source: documents after each step; dropped documents by step, reason and source; "
                             "quantiles of the annotation scores. --compare OTHER adds the change of every drop rate. "
                             "An SFT release: records kept per split, category and source, every gate's records in "
                             "and dropped by reason and source, failures and judge scores.")
    st.add_argument("release")
    st.add_argument("--compare", metavar="OTHER_RELEASE")
    st.add_argument("--costs", action="store_true", help="where the run that published the release spent its time: seconds "
                                                          "and milliseconds per input document per stage and step (from its run log)")
    fmt = st.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="all tables as JSON")
    fmt.add_argument("--csv", action="store_true", help="the step x source x reason table (or the comparison) as CSV")

    ex = command("exclude", cmd_exclude, help="publish a new version of a CPT release without named documents (takedowns)",
                 description="A new version of RELEASE without the documents whose ids (<source>/<id>, one per line) "
                             "or URLs are listed, or whose tokens overlap a token range of an export of it: untouched shards hard-linked, the exclusion and its reason in the "
                             "manifest's lineage, the lists kept in the release so incremental runs from it keep "
                             "those documents out. Prints the new release's path.")
    ex.add_argument("release")
    ex.add_argument("--ids", metavar="FILE", help="document ids to remove, one per line")
    ex.add_argument("--urls", metavar="FILE", help="URLs to remove, one per line")
    ex.add_argument("--token-range", metavar="A:B", help="remove the documents whose tokens (EOS included) overlap tokens A "
                                                        "up to B of an export of RELEASE (give --export): a loss spike")
    ex.add_argument("--export", metavar="DIR", help="the `curate export` of RELEASE that --token-range counts in")
    ex.add_argument("--reason", required=True, help="why, recorded in the manifest (e.g. 'takedown 2026-12-07: personal data')")
    ex.add_argument("--version", default="auto", help="the new version (default: the next patch version)")
    ex.add_argument("--force", action="store_true", help="replace an existing release of that version")

    ins = command("inspect", cmd_inspect, help="sample dropped (or kept) documents with their annotations",
                  description="Print a repeatable sample of documents a step dropped, with annotations and shortened text; "
                              "a document with removed segments is shown line by line, each removed line marked "
                              "[removed step:reason] in place. On an SFT release: records a gate rejected, with the "
                              "evidence it quoted and every turn, or that failed to be made (--step failures).")
    ins.add_argument("release")
    ins.add_argument("--step", help="step name, e.g. language, script, dedup; SFT: a gate (refusal, length, ...) or failures")
    ins.add_argument("--reason", help="drop reason, e.g. other_language, script_hans; SFT: refusal, too_short, llm_error, ...")
    ins.add_argument("--source", help="source name")
    ins.add_argument("--task", help="SFT: task kind (import, self_instruct, paraphrase, ...)")
    ins.add_argument("--kept", action="store_true", help="sample kept documents instead")
    ins.add_argument("-n", type=int, default=20, help="how many (default 20)")
    ins.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    ins.add_argument("--width", type=int, default=160, help="characters of text to show (default 160; per line for edited documents)")
    ins.add_argument("--max-lines", type=int, default=40, help="lines shown of an edited document, removed ones marked (default 40)")

    rep = command("report", cmd_report, help="write a self-contained HTML report of a release",
                  description="Funnel chart, per-source drop reasons, score histograms, example snippets of the top drop "
                              "reasons and, when the release has a parent, the comparison. Works offline (plotly.js embedded).")
    rep.add_argument("release")
    rep.add_argument("-o", "--output", required=True, help="HTML file to write")

    pl = command("plan", cmd_plan, help="validate a job and estimate documents, tokens, disk, memory and time before running it",
                 description="Check the config and paths, read a sample of every source with the real readers, run "
                             "the real filter steps over it here, and scale to the whole input: documents, characters "
                             "and tokens expected, disk per stage, peak memory per task, time per stage for the "
                             "configured tasks and workers. Warns where a setting will not fit.")
    pl.add_argument("job")
    pl.add_argument("--sample-mb", type=float, default=8.0, help="input read per source for the sample (default 8 MB)")
    pl.add_argument("--json", action="store_true")

    cl = command("clean", cmd_clean, help="remove the work folders of a job's stopped runs (killed, failed, disk full)",
                 description="A run writes into <output>/.work/<name>/<version>/ and keeps it when it stops early, "
                             "for --resume. `curate clean JOB` removes those no running process holds.")
    cl.add_argument("job")
    cl.add_argument("--dry-run", action="store_true", help="only list what would be removed")

    di = command("decont-index", cmd_decont_index, help="build a decontamination index (hashes only) from evaluation sets",
                 description="Index the n-grams of evaluation sets (JSONL, JSON or Parquet; every string field, "
                             "lists included) for the decontaminate step: hashes only, so an index of a licensed "
                             "set can be shared without its text. Each file is one evaluation set, named by its "
                             "file stem or NAME=PATH.")
    di.add_argument("eval", nargs="+", metavar="[NAME=]PATH")
    di.add_argument("-o", "--output", required=True, help="index file to write (.npz)")
    di.add_argument("--ngram", type=int, default=13, help="tokens per n-gram: a Han character or a Latin word (default 13)")
    di.add_argument("--sample", type=int, default=4, help="keep 1 in SAMPLE n-grams per item, a power of 2 (default 4)")

    tc = command("train-classifier", cmd_train_classifier, help="train a fastText classifier (spam, toxicity, quality) from a recipe",
                 description="Train the fastText classifier a RECIPE (YAML) describes: labeled sets (JSONL files, "
                             "labels releases from `curate label-quality`, or sources of CPT releases) and their "
                             "train/dev/test parts, hyperparameters, seed, threshold rule. Writes NAME.bin (or .ftz) "
                             "and its model card NAME.json to -o, with precision/recall/F1 on the recipe's test sets. "
                             "The shipped models' recipes are filters/models/*.recipe.yaml.")
    tc.add_argument("recipe")
    tc.add_argument("-o", "--output", required=True, help="directory for the model and its card")
    tc.add_argument("--data-root", help="where the recipe's relative set paths start "
                                        "(default $TWCURATE_REAL_DATA, else ../shared/data/real)")

    xp = command("export", cmd_export, help="write a release or mixture as token files for Megatron-LM/NeMo or datatrove/nanotron",
                 description="Tokenize every document of RELEASE (or of a mixture's chosen documents) into "
                             "document-bounded token files with one EOS token after each document: Megatron-LM / "
                             "NeMo indexed datasets (.bin + .idx) or datatrove's tokenized files (.ds, .ds.index, "
                             ".ds.metadata). Each document's count is checked against the manifest's: exported tokens "
                             "= manifest tokens + documents. Writes export.json (tokenizer, files, totals), the blend "
                             "(data-path.txt for --data-path, weights.json for datatrove folders) and index/*.parquet "
                             "(where each document's tokens start, with id and URL) for `curate locate`. Prints DIR.")
    xp.add_argument("release", help="release directory, or a mixture (mixture.json's directory)")
    xp.add_argument("--format", required=True, choices=["megatron", "datatrove"])
    xp.add_argument("--out", required=True, metavar="DIR", help="export directory (written beside, then renamed into place)")
    xp.add_argument("--tokenizer", metavar="SPEC", help="qwen2.5, qwen3.6 or a tokenizer.json (default: the manifest's)")
    xp.add_argument("--eos", metavar="TOKEN", help="token ending each document (default <|endoftext|>, or the eos_token of "
                                                   "the tokenizer_config.json beside a tokenizer.json)")
    xp.add_argument("--force", action="store_true", help="replace an existing DIR")

    lc = command("locate", cmd_locate, help="name the documents behind a token range of an export (a loss spike)",
                 description="List the documents whose tokens (EOS included) overlap tokens A up to B of EXPORT: global "
                             "offsets over its token files in sorted order (datatrove's folder order), or offsets in "
                             "one token file with --file PREFIX. Feed the ids to `curate exclude --ids`, or give the "
                             "range to `curate exclude --token-range A:B --export EXPORT`.")
    lc.add_argument("export")
    lc.add_argument("--token-range", required=True, metavar="A:B")
    lc.add_argument("--file", metavar="PREFIX", help="offsets inside this token file (e.g. data/news/000_00000)")
    lc.add_argument("--json", action="store_true")

    mx = command("mix", cmd_mix, help="pin several releases into one token-budget mixture for training",
                 description="Read MIX.yaml: releases (CPT or SFT) with per-source epochs, token targets, weights of "
                             "total_tokens, or caps. Verifies and pins each release by content hash and writes "
                             "<output>/<name>/<version>/mixture.json: per component the shards, available and contributed "
                             "tokens and documents. manifests.to_dataset(MIXTURE) loads it. Prints the mixture path last.")
    mx.add_argument("mix")
    mx.add_argument("--force", action="store_true", help="replace an existing mixture version")

    man = command("manifest", cmd_manifest, help="show, verify or diff release manifests and mixtures",
                  description="show PATH: summary of a release or mixture; verify PATH: re-hash every shard and every "
                              "other file: index, clusters, stats, rejects, exports; count documents, characters and tokens "
                              "again per shard, per source and in total, recompute mixture weights and the content hash, and "
                              "check licenses, weights and config against the manifest's description hash (exit 1 and a list "
                              "of what differs, with the value in the manifest and the value recomputed); "
                              "for a mixture: every pinned release against its pin and its own manifest, and the mixture's "
                              "own numbers recomputed; a PATH that is not a release or a broken manifest: exit 1, one line; "
                              "diff OLD NEW: documents, tokens, sources and filter rates that changed. "
                              "PATH is a release or mixture directory, or its manifest.json / mixture.json.")
    man.add_argument("action", choices=["show", "verify", "diff"])
    man.add_argument("paths", nargs="+", metavar="PATH")
    man.add_argument("--json", action="store_true", help="machine-readable output (show, diff)")
    man.add_argument("--content-hash", help="verify: also require this content hash (a pin), recomputed from the shards")
    return parser


# the commands that read a release's (or an export's) files on disk, and the arguments that name one
READS_LOCAL = {"stats": ("release", "compare"), "inspect": ("release",), "report": ("release",), "export": ("release",),
               "exclude": ("release", "export"), "locate": ("export",)}


def refuse_urls(args: argparse.Namespace) -> None:
    """A URL where a command reads a local folder: one line saying how to get a local copy (not "<cwd>/s3:/...: not a
    release")."""
    from manifests import storage

    for name in READS_LOCAL.get(args.command, ()):
        value = getattr(args, name, None)
        if value and storage.is_url(value):
            what = "exports" if name == "export" else "releases"
            raise UsageError(f"{value}: curate {args.command} reads local {what}; copy it down first "
                             f"(aws s3 cp --recursive {value} DIR)")


def main(argv: list[str] | None = None) -> int:
    # SIGTERM, SIGINT and SIGHUP end a run with an `interrupted` event, its lock removed and exit 128 + the signal
    # (curation/runlog.py); every other way a run ends is logged here or by the run itself
    previous = runlog.install_stop_handlers()
    try:
        args = build_parser().parse_args(argv)
        runlog.begin_command(args.command)
        refuse_urls(args)
        datatrove_logs_on_stderr(args.verbose)
        return args.func(args)
    except (CurateError, LocalServerError) as e:
        runlog.end_failed(e)
        print(f"curate: error: {e}", file=sys.stderr)
        return getattr(e, "exit_code", EXIT_DATA)  # the local server's errors are run failures
    except KeyboardInterrupt as e:
        runlog.end_failed(e)  # logged as `interrupted` (SIGINT)
        print(f"curate: interrupted by SIGINT; {runlog.ACTIVE.hint}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `curate manifest diff --json | head`: the reader closed the pipe; stop quietly, as other Unix tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except (FileNotFoundError, ValueError) as e:
        runlog.end_failed(e)
        print(f"curate: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:
        # a full or read-only disk, a missing permission: one line naming the path (the file being written when the
        # error itself names none) and the errno; the work folder stays for `--resume`
        runlog.end_failed(e)
        print(f"curate: error: {os_error_line(e, runlog.ACTIVE.work)}", file=sys.stderr)
        return EXIT_IO
    except Exception as e:  # a bug: its traceback as before, and the run log still ends
        runlog.end_failed(e)
        raise
    finally:
        runlog.restore_handlers(previous)


if __name__ == "__main__":
    sys.exit(main())
