"""The ``cxresearch`` command: validate a study, make demo data, render and run reports."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cxresearch.errors import InputError


def _validate(args: argparse.Namespace) -> int:
    from cxresearch.study import load_study

    try:
        study = load_study(args.study, on_error="exclude")
    except InputError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    report = study.report
    print(f"Study: {study.name} ({args.study})")
    if study.event_log is not None:
        print(f"Event log: {study.event_log.count():,} events, "
              f"{study.event_log.cases():,} cases")
    print(report)
    bad = len(report.errors) + report.excluded_rows
    print("OK" if bad == 0 else f"FAILED: {bad} problems")
    return 0 if bad == 0 else 1


def _demo_data(args: argparse.Namespace) -> int:
    from cxresearch.datasets import make_study, write_study

    study = make_study(args.respondents, args.seed)
    path = write_study(study, Path(args.out))
    print(f"Wrote a synthetic study of {args.respondents:,} respondents (seed {args.seed}) "
          f"to {path}")
    return 0


def _params(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"cxresearch: -p expects name=value, got {pair!r}")
        out[name.strip()] = value
    return out


def _report(args: argparse.Namespace) -> int:
    from cxresearch.reports import ReportError, check_parameters, execute

    given = _params(args.param)
    if args.study:
        given["study"] = str(Path(args.study).resolve())
    try:
        params = check_parameters(args.notebook, given, from_text=True)
        outcome = execute(args.notebook, params, args.out, name=args.name,
                          show_code=args.show_code, use_cache=not args.no_cache)
    except ReportError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    if outcome.status != "ok":
        print(f"FAILED: {outcome.name}: {outcome.error}", file=sys.stderr)
        return 1
    print(f"Wrote {Path(args.out) / outcome.html} ({outcome.seconds:.0f} s)")
    return 0


def _run(args: argparse.Namespace) -> int:
    from cxresearch.reports import ReportError, run

    try:
        outcomes = run(args.config, use_cache=not args.no_cache, workers=args.workers,
                       out=args.out, show_code=args.show_code)
    except ReportError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    failed = [o for o in outcomes if o.status != "ok"]
    out = Path(args.out) if args.out else None
    print(f"{len(outcomes) - len(failed)} of {len(outcomes)} reports ok; index: "
          f"{(out or Path(args.config).parent / 'reports') / 'index.html'}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cxresearch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check a study folder and print the validation report")
    p.add_argument("study")
    p.set_defaults(func=_validate)

    p = sub.add_parser("demo-data", help="write a synthetic study with known ground truth")
    p.add_argument("--respondents", type=int, default=1500)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--out", required=True)
    p.set_defaults(func=_demo_data)

    p = sub.add_parser("report", help="execute one notebook and render it to HTML")
    p.add_argument("notebook")
    p.add_argument("--study", help="study folder (the notebook's `study` parameter)")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--out", default="reports")
    p.add_argument("--name", help="report name (default: the notebook's)")
    p.add_argument("--show-code", action="store_true", help="keep code cells in the HTML")
    p.add_argument("--no-cache", action="store_true", help="refit models, ignore the fit cache")
    p.set_defaults(func=_report)

    p = sub.add_parser("run", help="run every report of a reports.yml and write the index")
    p.add_argument("config")
    p.add_argument("--out", help="output folder (default: the file's `out`)")
    p.add_argument("--workers", type=int, help="reports run at once (default: the file's)")
    p.add_argument("--show-code", action="store_true")
    p.add_argument("--no-cache", action="store_true")
    p.set_defaults(func=_run)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
