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
    gr.add_argument("--sandbox", choices=("auto", "require", "off"), default="auto",
                    help="auto: each kernel in bubblewrap where it works, else warn loudly and use the "
                         "process-group sandbox; require: refuse to grade without bubblewrap; off: never use it")
    gr.add_argument("--students", help="regrade only these comma-separated student folders, merging into OUT")
    gr.add_argument("--questions", help="regrade only these comma-separated questions: each notebook runs whole again, only their "
                         "tests run, and their scores merge into OUT (which must hold an earlier grading)")
    gr.add_argument("--export", choices=("canvas", "moodle"), help="also write OUT/<lms>.csv (needs --roster)")
    gr.add_argument("--roster", type=Path, help="CSV with columns folder,lms_id[,name,sis_user_id,sis_login_id,section]")
    gr.add_argument("--feedback-zip", action="store_true", help="also write OUT/feedback-zips/<student>.zip")
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
        if args.export and args.roster is None:
            parser.error(f"--export {args.export} needs --roster FILE (folder name -> LMS id)")
        grade(args.submissions, args.out, backend=args.backend, jobs=args.jobs, units=units,
              limits=limits, progress=not args.quiet,
              students=args.students.split(",") if args.students else None,
              questions=args.questions.split(",") if args.questions else None,
              sandbox=args.sandbox)
        print(f"reports written to {args.out}/ (open {args.out}/index.html first)")
        if args.export or args.feedback_zip:
            from autograder.export import export_grades, feedback_zips

            if args.export:
                print(f"{args.export} gradebook: {export_grades(args.out, args.export, args.roster)}")
            if args.feedback_zip:
                print(f"feedback zips: {len(feedback_zips(args.out))} in {args.out}/feedback-zips/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
