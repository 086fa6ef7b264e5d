"""Generate the demo class in ``autograder/demo/submissions/`` from the masters, reproducibly.

Each student shows one thing the grader must handle: a perfect notebook, typical partial answers,
the untouched release, wrong but running code, an exception in one answer, an infinite loop, a
kernel crash, an unreadable file, a Colab-renamed file, deleted check cells, two candidates for one
unit, and no notebook at all.

The expected grades (``expected_grades.csv``) are computed here without the grader: the answers
are run in-process, cell by cell, and otter's own test files (from the release build) score them;
the statuses follow from how each notebook was built. A notebook whose kernel dies earns what
the cells before the crash earn (the grader re-runs only those). ``tests/test_grade.py`` grades
the class with both backends and compares.

    python -m autograder.demo.make_demo
"""
from __future__ import annotations

import contextlib
import copy
import csv
import io
import os
import re
import shutil
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder import config
from autograder.master import Master, read_master

HERE = Path(__file__).resolve().parent
SUBMISSIONS = HERE / "submissions"
EXPECTED = HERE / "expected_grades.csv"
CHECK = re.compile(r"\s*grader\.check\(\s*[\"'](\w+)[\"']\s*\)\s*")

@dataclass(frozen=True)
class UnitDemo:
    """What the demo students do in one unit (the rest of each notebook stays right)."""

    blank: frozenset[str]  # questions the partial student left blank
    wrong: dict[str, str]  # question -> a plausible wrong answer that runs
    exception: dict[str, str]  # question -> an answer that raises
    loop: str  # the question whose answer loops forever
    crash: str  # the question whose answer kills the kernel
    deleted_checks: frozenset[str]  # check cells one student deleted


DEMOS: dict[str, UnitDemo] = {
    "01_layers": UnitDemo(
        blank=frozenset({"q4_bilinear", "q4_deform", "q6_loops", "q6_im2col", "q7_transposed",
                         "q8_running", "q8_dropout"}),
        wrong={
            "q1_formula": """
                def my_conv_output_size(size, kernel_size, stride=1, padding=0):
                    return (size - kernel_size + padding) // stride + 1  # padding on one side only
            """,
            "q5_cost": """
                def conv_params(c_in, c_out, kernel_size, groups=1, bias=True):
                    return c_in * kernel_size * kernel_size * c_out + (c_out if bias else 0)  # groups ignored

                def conv_macs(c_in, c_out, kernel_size, h_out, w_out, groups=1):
                    return c_in * kernel_size * kernel_size * h_out * w_out * c_out

                def separable_ratio(c_out, kernel_size):
                    return 1 / kernel_size ** 2  # the pointwise part forgotten
            """,
            "q7_upsample": """
                def upsample_nearest_mine(x, scale):
                    return x.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)

                def upsample_bilinear_mine(x, scale, align_corners=False):
                    return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=not align_corners)
            """,
        },
        exception={
            "q2_numbers": """
                rf_three_3x3 = 7
                rf_two_strided = 7 // 0
                jump_two_strided = 4
            """,
            "q6_im2col": """
                def conv2d_im2col(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
                    cols = F.unfold(x, weight.shape[-2:], dilation=dilation, padding=padding, stride=stride)
                    return weight.view(weight.shape[0], -1) @ cols.transpose(1, 2)  # shapes do not match
            """,
        },
        loop="q4_deform",
        crash="q3_dilation",
        deleted_checks=frozenset({"q2_recurrence", "q6_loops"}),
    ),
    "02_blocks": UnitDemo(
        blank=frozenset({"q4_grouped", "q4_branches", "q4_count", "q5_block", "q6_inverted_residual",
                         "q6_se", "q7_rf"}),
        wrong={
            "q1_vgg_params": """
                def stack_params(channels, kernel_size, num_layers, bias=False):
                    return num_layers * (channels * channels * kernel_size * kernel_size + channels)  # bias always
            """,
            "q3_costs": """
                macs_basic_256 = 2 * 256 * 9 * 256 * 56 * 56
                macs_bottleneck_256 = (256 * 64 + 64 * 9 * 64 + 64 * 256) * 56 * 56
                macs_v1 = 256 * 128 * 56 * 56 + (128 * 9 * 128 + 128 * 512 + 256 * 512) * 28 * 28  # v1 and v1.5 swapped
                macs_v1_5 = (256 * 128 + 128 * 9 * 128 + 128 * 512 + 256 * 512) * 28 * 28
            """,
            "q5_ratio": """
                def separable_macs(c_in, c_out, kernel_size, h_out, w_out):
                    return (kernel_size * kernel_size * c_in + c_in * c_out) * h_out * w_out

                def separable_ratio(c_out, kernel_size):
                    return 1 / kernel_size ** 2  # the pointwise part forgotten
            """,
        },
        exception={
            "q2_numbers": """
                out_channels_3a = 64 + 128 + 32 + 32
                naive_out_channels = 64 + 128 + 32 + 192
                naive_macs = naive_branch_macs * 28 * 28  # a name never defined
            """,
            "q4_grouped": """
                def grouped_conv_by_groups(x, weight, groups, padding=0):
                    return F.conv2d(x, weight, padding=padding)  # weight has C_in/G input channels: raises
            """,
        },
        loop="q5_block",
        crash="q2_costs",
        deleted_checks=frozenset({"q1_vgg_numbers", "q3_bottleneck"}),
    ),
    "03_architectures": UnitDemo(
        blank=frozenset({"q1_alexnet", "q2_paper_vs_torchvision", "q5_plan", "q6_block", "q6_numbers",
                         "q7_rf", "q7_global"}),
        wrong={
            "q3_costs": """
                resnet_params = {name: helpers.count_params(on_meta(my_resnet, name)) for name in RESNET_STAGES}


                def to_v1(net):
                    return net  # the stride left on the 3x3: still v1.5
            """,
            "q4_mobilenet": """
                class MyMobileNetV2(nn.Module):
                    def __init__(self, width_mult=1.0, num_classes=1000, dropout=0.2):
                        super().__init__()
                        in_channels, last = int(32 * width_mult), int(1280 * max(1.0, width_mult))  # not rounded to 8
                        layers = [ConvNormAct(3, in_channels, stride=2, activation_layer=nn.ReLU6)]
                        for t, c, n, s in MOBILENET_V2_SETTINGS:
                            for i in range(n):
                                layers.append(tv_mobilenetv2.InvertedResidual(in_channels, int(c * width_mult),
                                                                              s if i == 0 else 1, expand_ratio=t))
                                in_channels = int(c * width_mult)
                        layers.append(ConvNormAct(in_channels, last, kernel_size=1, activation_layer=nn.ReLU6))
                        self.features = nn.Sequential(*layers)
                        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, num_classes))

                    def forward(self, x):
                        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))
            """,
            "q5_compound": """
                def compound_scaling(phi, alpha=1.2, beta=1.1, gamma=1.15):
                    return alpha * phi, beta * phi, gamma * phi  # products instead of powers

                flops_growth = 1.2 * 1.1 * 1.15  # width and resolution not squared
            """,
        },
        exception={
            "q1_cost_split": """
                def cost_split(net, input_size):
                    weights = sum(m.weight.numel() for m in net.modules())  # a ReLU has no weight: AttributeError
                    return {"conv_params": weights, "fc_params": 0, "conv_macs": 0, "fc_macs": 0}
            """,
            "q2_inception_stack": """
                def inception_channels(table, in_channels=192):
                    return [(in_channels, sum(row)) for row in table[0]]  # a dict has no key 0: KeyError
            """,
        },
        loop="q7_pareto",
        crash="q4_parts",
        deleted_checks=frozenset({"q1_vgg_layers", "q4_mobilenet"}),
    ),
    "04_efficiency": UnitDemo(
        blank=frozenset({"q4_intensity", "q5_batch", "q6_scaling", "q7_fold", "q7_speedup"}),
        wrong={
            "q1_flops": """
                conv_out = 16 * 32 * 32  # elements the convolution writes
                small_macs = 2 * (conv_out * 3 * 3 * 3 + 16 * 16 * 16 * 10)  # FLOPs counted as MACs
                small_flops = small_macs
                small_ptflops = small_macs + conv_out + 10
                small_ptflops_default = small_ptflops  # ptflops' functional double count forgotten
            """,
            "q3_measure": """
                def measure(fn, warmup, repeats, sync, clock=time.perf_counter):
                    for _ in range(warmup):
                        fn()
                    times = []
                    for _ in range(repeats):
                        start = clock()
                        fn()
                        times.append(clock() - start)  # no sync: on a GPU this times the launch only
                    return statistics.median(times)
            """,
            "q7_fold": """
                def fold_batchnorm(conv, bn):
                    folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                                       padding=conv.padding, dilation=conv.dilation, groups=conv.groups, bias=True,
                                       dtype=conv.weight.dtype, device=conv.weight.device)
                    with torch.no_grad():
                        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
                        folded.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
                        folded.bias.copy_((bias - bn.running_mean) * scale)  # batch norm's beta forgotten
                    return folded
            """,
        },
        exception={
            "q1_stages": """
                def stage_costs(model, input_size, stages):
                    macs = macs_by_module(model, input_size)
                    return {name: (helpers.count_params(model.get_submodule(name)), macs[name]) for name in stages}

                resnet50 = tvm.resnet50()
                resnet50_stages = ["conv1", "layer1", "layer2", "layer3", "layer4", "fc"]
                costs50 = stage_costs(resnet50, (224, 224), resnet50_stages)  # no channels in input_size: raises
                layer4_param_share = costs50["layer4"][0] / helpers.count_params(resnet50)
                layer4_mac_share = costs50["layer4"][1] / helpers.count_macs(resnet50, (3, 224, 224))
            """,
            "q6_scaling": """
                def predicted_macs(phi, b0_macs, alpha=1.2, beta=1.1, gamma=1.15):
                    return b0_macs * compound_factor ** phi  # a name never defined

                def choose_phi(budget_macs, b0_macs, alpha=1.2, beta=1.1, gamma=1.15):
                    phi = 0
                    while predicted_macs(phi + 1, b0_macs, alpha, beta, gamma) <= budget_macs:
                        phi += 1
                    return phi
            """,
        },
        loop="q5_batch",
        crash="q4_intensity",
        deleted_checks=frozenset({"q2_pareto", "q7_speedup"}),
    ),
}
# It sleeps rather than spins: the cell limit is on wall time, and a spinning loop would only take a core
# from the rest of a grading run (tests/test_grade_safety.py grades loops that spin and ignore interrupts).
INFINITE_LOOP = "import time\nwhile True:  # waiting for an answer that never comes\n    time.sleep(1)\n"
CRASH = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)  # the kernel dies\n"


@dataclass
class Student:
    name: str
    status: str
    files: dict[str, str] = field(default_factory=dict)  # file name -> text
    skip_cells: set[int] = field(default_factory=set)  # cells known not to finish (for the expected score)
    stop_at: int | None = None  # the cell that kills the kernel: only the cells before it earn credit


def solution_answers(master: Master) -> list[str]:
    """The master's answers, in order, as a student would type them (markers removed)."""
    answers = []
    for q in master.questions:
        for i in q.solution_cells:
            lines = [line for line in master.nb.cells[i].source.splitlines()
                     if not re.match(r"\s*# (BEGIN|END) SOLUTION", line)]
            answers.append("\n".join(re.sub(r"\s*# SOLUTION\s*$", "", line) for line in lines).strip() + "\n")
    return answers


class Release:
    """The student notebook of a unit, with its answer cells located and named by question."""

    def __init__(self, unit: str):
        self.unit = unit
        self.master = read_master(config.SOLUTIONS / f"{unit}.ipynb")
        self.nb = nbformat.read(config.NOTEBOOKS / f"{unit}.ipynb", as_version=4)
        self.answer_cells = [i for i, c in enumerate(self.nb.cells)
                             if "otter_answer_cell" in c.metadata.get("tags", [])]
        self.solutions = dict(zip(self.answer_cells, solution_answers(self.master), strict=True))
        # An answer cell belongs to the question whose check cell comes next.
        self.question_of: dict[int, str] = {}
        pending: list[int] = []
        for i, cell in enumerate(self.nb.cells):
            if i in self.solutions:
                pending.append(i)
            m = CHECK.fullmatch(cell.source) if cell.cell_type == "code" else None
            if m:
                self.question_of.update({j: m.group(1) for j in pending})
                pending = []

    def cell_of(self, question: str) -> int:
        return next(i for i, q in self.question_of.items() if q == question)

    def filled(self, overrides: dict[str, str] | None = None, keep_blank: set[str] = frozenset()):
        """The release with every answer filled in, except ``keep_blank`` questions; ``overrides``
        replace a question's answer."""
        nb = copy.deepcopy(self.nb)
        for i, answer in self.solutions.items():
            question = self.question_of.get(i)
            if question in keep_blank:
                continue
            nb.cells[i].source = textwrap.dedent((overrides or {}).get(question, answer)).strip() + "\n"
        return nb


def text(nb) -> str:
    return nbformat.writes(nb) + "\n"


def students(unit: str) -> list[Student]:
    """The class's notebooks for ``unit`` (each unit has a :data:`DEMOS` entry)."""
    if unit not in DEMOS:
        raise KeyError(f"no demo students for {unit}: add a UnitDemo for it to DEMOS in {__file__}")
    demo, r = DEMOS[unit], Release(unit)
    name = f"{unit}.ipynb"
    perfect = r.filled()

    partial = r.filled(keep_blank=demo.blank)
    for cell in partial.cells:  # saved outputs that claim success: never trusted, the notebook is re-run
        if cell.cell_type == "code" and CHECK.fullmatch(cell.source):
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="All tests passed!\n")]
            cell.execution_count = 1

    loop = r.filled()
    loop_cell = r.cell_of(demo.loop)
    loop.cells[loop_cell].source = INFINITE_LOOP
    crash = r.filled()
    crash.cells[r.cell_of(demo.crash)].source += CRASH
    deleted = r.filled()
    deleted.cells = [c for c in deleted.cells
                     if not (c.cell_type == "code" and CHECK.fullmatch(c.source)
                             and CHECK.fullmatch(c.source).group(1) in demo.deleted_checks)]
    broken = text(perfect)

    return [
        Student("ada", "ok", {name: text(perfect)}),
        Student("ben", "ok", {name: text(partial)}),
        Student("cleo", "ok", {name: text(r.nb)}),
        Student("dev", "ok", {name: text(r.filled(overrides=demo.wrong))}),
        Student("eve", "ok", {name: text(r.filled(overrides=demo.exception))}),
        Student("finn", "timeout", {name: text(loop)}, skip_cells={loop_cell}),
        Student("gus", "crashed", {name: text(crash)}, stop_at=r.cell_of(demo.crash)),
        Student("hana", "unreadable", {name: broken[: len(broken) // 2]}),
        Student("ivan", "ok", {f"Copy of {name}": text(perfect)}),
        Student("jo", "ok", {name: text(deleted)}),
        Student("kim", "ambiguous", {name: text(perfect), f"{unit} (1).ipynb": text(partial)}),
        Student("lee", "missing", {"notes.txt": "I could not get the notebook to open.\n"}),
    ]


def executed_cells(student: Student) -> tuple[tuple[int, str], ...]:
    """``(index, source)`` of the code cells whose outcome scores the student's notebook."""
    (text_,) = [t for f, t in student.files.items() if f.endswith(".ipynb")]
    cells = []
    for i, cell in enumerate(nbformat.reads(text_, as_version=4).cells):
        if student.stop_at is not None and i >= student.stop_at:
            break  # credit for what ran: the grader re-runs only the cells before the crash
        if (cell.cell_type != "code" or i in student.skip_cells or CHECK.fullmatch(cell.source)
                or "course-setup" in cell.metadata.get("tags", [])):
            continue
        cells.append((i, cell.source))
    return tuple(cells)


@dataclass(frozen=True)
class CaseRun:
    """One test case run in-process on a student's code: what the grader should report for it."""

    question: str
    case: str
    hidden: bool
    points: float
    passed: bool
    mistake: str  # the mistake the failing check named ('' when it names none)


def run_in_process(student: Student, tests_dir: Path) -> list[CaseRun]:
    """Run the student's code cells in-process (errors and all), then every case of otter's test
    files in ``tests_dir``, as otter's own runner calls them."""
    from otter.test_files.exception_test import ExceptionTestFile

    env: dict = {"__name__": "__main__"}
    runs = []
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        exec("import helpers", env)  # noqa: S102 - the set-up cell, without the Colab installs
        for i, source in executed_cells(student):
            try:
                exec(compile(source, f"{student.name}[{i}]", "exec"), env)  # noqa: S102
            except Exception:  # noqa: BLE001 - the notebook goes on after an error, as when graded
                pass
        for path in sorted(tests_dir.glob("*.py")):
            tf = ExceptionTestFile.from_file(str(path))
            for tc in tf.test_cases:
                passed, mistake = True, ""
                try:
                    tc.body.call_func(env)
                except Exception as e:  # noqa: BLE001 - as otter's ExceptionTestFile.run
                    passed, mistake = False, getattr(e, "mistake", "")
                runs.append(CaseRun(tf.name, tc.body.test_func.__name__, bool(tc.hidden), float(tc.points), passed,
                                    mistake if isinstance(mistake, str) else ""))
    import matplotlib.pyplot as plt
    plt.close("all")
    return runs


def expected_score(student: Student, unit: str, tests_dir: Path,
                   seen: dict[tuple[str, ...], float] | None = None) -> float:
    """What the student's notebook earns: :func:`run_in_process`'s passing cases.

    ``seen`` maps code already scored to its score: a notebook with the same code cells (a renamed
    copy, deleted check cells) scores the same without running again."""
    if student.status not in ("ok", "timeout", "crashed"):
        return 0.0
    code = tuple(source for _, source in executed_cells(student))
    if seen is not None and code in seen:
        return seen[code]
    score = sum(run.points for run in run_in_process(student, tests_dir) if run.passed)
    if seen is not None:
        seen[code] = score
    return score


def main(submissions: Path = SUBMISSIONS, expected: Path = EXPECTED, units: list[str] | None = None) -> None:
    """Write the class into ``submissions`` and its expected grades into ``expected``."""
    os.environ.setdefault("CNN_COURSE_FAST", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    from autograder.release import build_otter

    shutil.rmtree(submissions, ignore_errors=True)
    rows = []
    import tempfile
    for unit in units or config.released_units():
        with tempfile.TemporaryDirectory() as tmp:
            master = read_master(config.SOLUTIONS / f"{unit}.ipynb")
            build_otter(master, Path(tmp) / "build", Path(tmp) / "notebooks")
            tests_dir = Path(tmp) / "build" / "dist" / "autograder" / "tests"
            seen: dict[tuple[str, ...], float] = {}  # identical code scores once per unit
            for student in students(unit):
                folder = submissions / student.name
                folder.mkdir(parents=True, exist_ok=True)
                for file_name, content in student.files.items():
                    (folder / file_name).write_text(content, encoding="utf-8")
                score = expected_score(student, unit, tests_dir, seen)
                rows.append((student.name, unit, score, master.max_score, student.status))
    with open(expected, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["student", "unit", "score", "max_score", "status"])
        for student, unit, score, max_score, status in sorted(rows):
            w.writerow([student, unit, f"{score:g}", f"{max_score:g}", status])
    print(f"wrote {len(rows)} rows to {expected}")


if __name__ == "__main__":
    main()
