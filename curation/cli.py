"""`curate`: the command line. Exit codes: 0 ok, 1 data/verification failure, 2 bad config/usage,
3 locked, 4 interrupted."""

from __future__ import annotations

import argparse
import sys

from curation import __version__
from curation.errors import EXIT_DATA, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, CurateError, UsageError


def _quiet_datatrove(verbose: bool) -> None:
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="INFO" if verbose else "WARNING")


def cmd_run(args: argparse.Namespace) -> int:
    from curation.config import load_job
    from curation.pipeline import run_job

    job = load_job(args.job)
    path = run_job(job, force=args.force, resume=args.resume, quiet=not args.verbose)
    print(path)
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
    import json

    import manifests
    from manifests.diff import format_diff, format_show

    if args.action == "show":
        m = manifests.load(args.paths[0])
        print(m.model_dump_json(indent=2) if args.json else format_show(m))
        return EXIT_OK
    if args.action == "verify":
        problems = manifests.verify(args.paths[0])
        if problems:
            print(f"{args.paths[0]}: {len(problems)} problem(s):")
            for p in problems:
                print(f"  {p}")
            return EXIT_DATA
        m = manifests.load(args.paths[0])
        print(f"{args.paths[0]}: ok, {len(m.shards)} shards match ({m.content_hash[:16]}…)")
        return EXIT_OK
    if len(args.paths) != 2:
        raise UsageError("manifest diff needs OLD and NEW")
    d = manifests.diff(manifests.load(args.paths[0]), manifests.load(args.paths[1]))
    print(json.dumps(d, ensure_ascii=False, indent=2) if args.json else format_diff(d))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="curate", description="Curate Taiwan Traditional-Chinese text into versioned CPT/SFT releases.")
    parser.add_argument("--version", action="version", version=f"twcurate {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show datatrove's progress logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="run a CPT curation job and publish a release",
                         description="Read every source of JOB, normalize and filter, write Parquet shards, rejects, stats and "
                                     "manifest.json to <output>/<name>/<version>/. Prints the release path as its last line.")
    run.add_argument("job", help="job config (YAML)")
    run.add_argument("--force", action="store_true", help="replace an existing release of the same version")
    run.add_argument("--resume", action="store_true", help="continue an interrupted run, skipping finished tasks")
    run.set_defaults(func=cmd_run)

    ann = sub.add_parser("annotate", help="label documents with every enabled filter, dropping nothing",
                         description="Run every enabled filter of the job config (or the defaults) in label-only mode over a "
                                     "JSONL file and write each document with an `annotations` object: lang, lang_score, "
                                     "script, hant_ratio, region, ..., plus kept and drop_reason for what `curate run` "
                                     "would decide. Text is written as the pipeline would release it (normalized).")
    ann.add_argument("input", help="JSONL with a text field (and id if present)")
    ann.add_argument("-o", "--output", required=True, help="output JSONL")
    ann.add_argument("--config", help="job config whose `steps` to use (default: built-in defaults)")
    ann.add_argument("--text-field", default="text", help="field holding the text (default: text)")
    ann.add_argument("--id-field", default=None, help="field holding the id (default: id if present, else line number)")
    ann.set_defaults(func=cmd_annotate)
    man = sub.add_parser("manifest", help="show, verify or diff release manifests",
                         description="show PATH: summary of a release; verify PATH: re-hash every shard (exit 1 and a list "
                                     "of what differs); diff OLD NEW: documents, tokens, sources and filter rates that changed. "
                                     "PATH is a release directory or its manifest.json.")
    man.add_argument("action", choices=["show", "verify", "diff"])
    man.add_argument("paths", nargs="+", metavar="PATH")
    man.add_argument("--json", action="store_true", help="machine-readable output (show, diff)")
    man.set_defaults(func=cmd_manifest)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _quiet_datatrove(args.verbose)
    try:
        return args.func(args)
    except CurateError as e:
        print(f"curate: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("curate: interrupted; rerun with --resume to continue", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (FileNotFoundError, ValueError) as e:
        print(f"curate: error: {e}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
