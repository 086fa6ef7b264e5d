"""Command line: ``python -m autograder release`` | ``python -m autograder grade ...``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    rel = sub.add_parser("release", help="regenerate notebooks/ and the otter and nbgrader builds")
    rel.add_argument("--units", help="comma-separated unit ids (default: every master in solutions/)")
    rel.add_argument("--no-nbgrader", action="store_true", help="skip the nbgrader course")
    gr = sub.add_parser("grade", help="grade SUBMISSIONS/<student>/<unit>.ipynb into OUT")
    gr.add_argument("submissions", type=Path)
    gr.add_argument("--out", type=Path, default=Path("grades"))
    gr.add_argument("--backend", choices=("otter", "nbgrader"), default="otter")
    gr.add_argument("--jobs", type=int, default=None, help="parallel jobs (default: CPU count)")
    gr.add_argument("--timeout", type=float, default=None,
                    help="wall-clock seconds per notebook (default 300; each cell gets at most this too)")
    gr.add_argument("--units", help="comma-separated unit ids (default: every released unit)")
    gr.add_argument("--quiet", action="store_true", help="no progress bar or table")
    args = parser.parse_args(argv)

    if args.command == "release":
        from autograder.release import release

        units = args.units.split(",") if args.units else None
        built = release(units, nbgrader=not args.no_nbgrader)
        print(f"released: {', '.join(built) if built else 'nothing (no masters in solutions/)'}")
    if args.command == "grade":
        from autograder.grade import grade
        from autograder.sandbox import Limits

        limits = Limits()
        if args.timeout is not None:
            if args.timeout <= 0:
                parser.error(f"--timeout must be positive, got {args.timeout}")
            limits.wall_seconds = args.timeout
            limits.cell_seconds = min(limits.cell_seconds, args.timeout)
        if args.jobs is not None and args.jobs < 1:
            parser.error(f"--jobs must be at least 1, got {args.jobs}")
        units = args.units.split(",") if args.units else None
        grade(args.submissions, args.out, backend=args.backend, jobs=args.jobs, units=units,
              limits=limits, progress=not args.quiet)
        print(f"reports written to {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
