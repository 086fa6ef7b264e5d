"""The course's benchmarks: how fast are the helpers next to the obvious way of getting the same answer?

Run by ``make bench`` (``.venv/bin/python tests/benchmarks/run.py``); not collected
by pytest. Each *section* times a few operations and prints one row per operation::

    name | ours | baseline | ratio

where ``ours`` is the helper, ``baseline`` the reference it replaces (a real
forward pass, a gradient measurement...) and ``ratio = ours / baseline`` (below 1:
the helper is faster). Times are the median of a few repeats after a warm-up.

Adding a section (other units do): write a function that returns a list of
:class:`Row` and decorate it with ``@section("name", "one-line description")``.
``--only NAME`` runs one section.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

# Run as a script from anywhere: make the repository root importable (helpers/).
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@dataclass
class Row:
    """One timed comparison: seconds for ours and for the baseline (None when not run)."""

    name: str
    ours: float | None
    baseline: float | None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.ours is None or not self.baseline:
            return None
        return self.ours / self.baseline


@dataclass
class Section:
    name: str
    description: str
    run: Callable[[int], list[Row]]  # takes the number of repeats


SECTIONS: dict[str, Section] = {}


def section(name: str, description: str) -> Callable[[Callable[[int], list[Row]]], Callable[[int], list[Row]]]:
    """Register a benchmark section under ``name`` (in definition order)."""

    def register(fn: Callable[[int], list[Row]]) -> Callable[[int], list[Row]]:
        SECTIONS[name] = Section(name, description, fn)
        return fn

    return register


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs, after ``warmup`` untimed ones.

    The warm-up absorbs one-off costs (operator caches, lazy imports, allocator
    growth); the median ignores the odd run slowed by a neighbour on a shared CPU.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _fmt_seconds(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def print_rows(rows: list[Row]) -> None:
    """The section's table: ``name | ours | baseline | ratio``, then any notes."""
    cells = [("name", "ours", "baseline", "ratio")] + [
        (r.name, _fmt_seconds(r.ours), _fmt_seconds(r.baseline), "-" if r.ratio is None else f"{r.ratio:.3f}")
        for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    for i, c in enumerate(cells):
        print(" | ".join([c[0].ljust(widths[0])] + [x.rjust(w) for x, w in zip(c[1:], widths[1:])]))
        if i == 0:
            print("-+-".join("-" * w for w in widths))
    for r in rows:
        if r.note:
            print(f"  {r.name}: {r.note}")


# --------------------------------------------------------------------------- #
# Section: helpers (counting, receptive field, summary)
# --------------------------------------------------------------------------- #
TARGET_S = 1.0  # the helpers' promise: each answers for resnet152 at 224 in under a second


def _target(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"target < {TARGET_S:.0f} s: {'met' if seconds < TARGET_S else 'NOT MET'}"


@section("helpers", f"count_macs / receptive_field / summary on resnet152 at (3, 224, 224); target < {TARGET_S:.0f} s")
def bench_helpers(repeats: int) -> list[Row]:
    import torch
    import torchvision.models as tvm
    from torch.utils.flop_counter import FlopCounterMode

    from helpers.counting import count_macs
    from helpers.summary import summary

    torch.manual_seed(0)
    size = (3, 224, 224)
    model = tvm.resnet152().eval()
    x = torch.randn(1, *size)
    rows = []

    def flop_counter() -> None:
        with FlopCounterMode(display=False), torch.no_grad():
            model(x)

    # The slow baselines (several seconds each on 2 cores) get fewer repeats: the
    # section stays well inside its two-minute budget and a ratio this far from 1
    # does not need more precision.
    slow = max(1, repeats // 2)
    ours = median_seconds(lambda: count_macs(model, size), repeats)
    rows.append(Row("count_macs (meta) vs FlopCounterMode (real forward)", ours,
                    median_seconds(flop_counter, slow), _target(ours)))

    try:  # helpers.receptive is its own unit: benchmark it when it is there
        from helpers.receptive import empirical_receptive_field, receptive_field
    except ImportError as err:
        rows.append(Row("receptive_field vs empirical_receptive_field", None, None, f"skipped: {err}"))
    else:
        ours = median_seconds(lambda: receptive_field(model, size), repeats)
        baseline = median_seconds(lambda: empirical_receptive_field(model, size), slow)
        rows.append(Row("receptive_field vs empirical_receptive_field", ours, baseline, _target(ours)))

    def forward() -> None:
        with torch.no_grad():
            model(x)

    ours = median_seconds(lambda: str(summary(model, size)), repeats)
    rows.append(Row("summary (meta, + text) vs a plain real forward", ours, median_seconds(forward, repeats),
                    _target(ours)))
    return rows


# --------------------------------------------------------------------------- #
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=list(SECTIONS), metavar="SECTION",
                        help=f"run one section: {', '.join(SECTIONS)}")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (median taken)")
    args = parser.parse_args(argv)

    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    for s in SECTIONS.values():
        if args.only and s.name != args.only:
            continue
        print(f"\n== {s.name}: {s.description}")
        start = time.perf_counter()
        print_rows(s.run(args.repeats))
        print(f"({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
