"""The judge outside the kernel: the protocol carries plain data only, and the judge gives the
same marks as otter's in-kernel run (the Gradescope zip, nbgrader) on the masters and every mutant."""
from __future__ import annotations

import math
import os
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import course
from autograder import judge, protocol
from autograder.master import raw_directive

UNITS = ("01_layers", "02_blocks", "03_architectures", "04_efficiency")


def _no_handles(value, sub):
    raise protocol.ProtocolError(f"{type(value).__name__} is not plain data")


def roundtrip(value):
    buffers: list[bytes] = []
    tree = protocol.encode(value, buffers, other=_no_handles)
    return protocol.decode(tree, buffers, handle=lambda t: pytest.fail("no handle expected"))


# --- the protocol ------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    None, True, 0, -3, 2 ** 80, 1.5, "text", b"\x00\x01", (1, (2, 3)), [1, [2.0]], {"a": 1, (1, 2): "b"},
    {1, 2}, frozenset({"x"}), torch.Size([2, 3]), np.int64(4), np.float32(0.5), np.bool_(True),
])
def test_plain_values_keep_their_exact_type(value):
    got = roundtrip(value)
    assert type(got) is type(value) and got == value


def test_non_finite_floats_cross():
    got = roundtrip([math.inf, -math.inf, math.nan])
    assert got[:2] == [math.inf, -math.inf] and math.isnan(got[2])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.int64, torch.bool,
                                   torch.complex64, torch.uint8])
def test_tensors_cross_as_raw_bytes(dtype):
    t = (torch.arange(24) % 5).to(dtype).reshape(2, 3, 4)
    got = roundtrip(t)
    assert type(got) is torch.Tensor and got.dtype == dtype and torch.equal(got, t)


def test_parameters_meta_and_empty_tensors_cross():
    p = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    meta = torch.empty(4, 5, device="meta")
    got_p, got_meta, got_empty = roundtrip([p, meta, torch.empty(0, 3)])
    assert type(got_p) is torch.nn.Parameter and torch.equal(got_p.detach(), p.detach())
    assert got_meta.device.type == "meta" and got_meta.shape == (4, 5)
    assert got_empty.shape == (0, 3)


def test_a_tensor_subclass_arrives_as_a_plain_tensor():
    class Liar(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            if func is torch.allclose:
                return True
            return super().__torch_function__(func, types, args, kwargs or {})

    liar = torch.zeros(3).as_subclass(Liar)
    got = roundtrip(liar)
    assert type(got) is torch.Tensor and not torch.allclose(got, torch.ones(3))


def test_numpy_arrays_cross_and_object_arrays_do_not():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert np.array_equal(roundtrip(a), a) and roundtrip(a).dtype == np.float32
    with pytest.raises(protocol.ProtocolError):
        roundtrip(np.array([object()], dtype=object))


def test_other_objects_need_a_handle():
    with pytest.raises(protocol.ProtocolError, match="not plain data"):
        roundtrip([lambda: 1])


def test_the_judge_never_imports_what_a_message_names():
    tree = {"t": "import", "module": "os", "qualname": "system"}
    with pytest.raises(protocol.ProtocolError, match="unknown tag"):
        protocol.decode(tree, [], handle=lambda t: None)
    with pytest.raises(protocol.ProtocolError, match="not a module the protocol imports"):
        protocol.decode(tree, [], handle=lambda t: None, allow_import=True)


def test_library_classes_cross_by_name_and_student_ones_do_not():
    from torchvision.models import resnet

    assert protocol.import_ref(resnet.BasicBlock) == {"t": "import", "module": "torchvision.models.resnet",
                                                      "qualname": "BasicBlock"}

    class Mine:
        pass

    assert protocol.import_ref(Mine) is None


def test_caps_refuse_oversized_messages(monkeypatch):
    monkeypatch.setattr(protocol, "MAX_BYTES", 1000)
    with pytest.raises(protocol.ProtocolError, match="MiB"):
        roundtrip(torch.zeros(1000, dtype=torch.float64))
    monkeypatch.setattr(protocol, "MAX_DEPTH", 5)
    nested: list = []
    for _ in range(10):
        nested = [nested]
    with pytest.raises(protocol.ProtocolError, match="nested"):
        roundtrip(nested)


def test_malformed_tensors_are_refused():
    with pytest.raises(protocol.ProtocolError, match="bytes"):
        protocol.decode({"t": "tensor", "dtype": "float64", "shape": [4], "b": 0}, [b"\x00" * 8],
                        handle=lambda t: None)
    with pytest.raises(protocol.ProtocolError, match="dtype"):
        protocol.decode({"t": "tensor", "dtype": "Tensor", "shape": [1], "b": 0}, [b"\x00"], handle=lambda t: None)


def test_failure_messages_are_capped():
    message = judge.failure_message(ValueError("x" * 5000))
    assert len(message) <= judge.MESSAGE_CHARS and message.startswith("ValueError: xxx")


# --- the judge against a live kernel -----------------------------------------------------------

class Kernel:
    """A kernel with the agent started, driven like the worker drives it."""

    def __init__(self, cwd: Path) -> None:
        from jupyter_client.manager import AsyncKernelManager

        from autograder.kernel import GradingKernelManager

        self.km: AsyncKernelManager = GradingKernelManager(kernel_name="python3")
        env = dict(os.environ, CNN_COURSE_FAST="1", MPLBACKEND="Agg", OMP_NUM_THREADS="1")
        judge.drive(self.km.start_kernel(cwd=str(cwd), env=env))
        self.kc = self.km.client()
        self.kc.start_channels()
        judge.drive(self.kc.wait_for_ready(timeout=120))
        self.channel = judge.Channel(self.kc, self.km, deadline=math.inf)
        judge.start_agent(self.channel)
        judge.drive(self.channel.open())
        self.remote = judge.Remote(self.channel, judge.drive)

    def run(self, code: str) -> dict:
        reply = judge.drive(self.kc.execute(code, store_history=False, reply=True, timeout=600))
        return reply["content"]

    def judge(self, tests: list[tuple[str, str]], seconds: float = 600) -> dict[str, bool]:
        self.channel.deadline = time.monotonic() + seconds
        return {o.name: o.passed for o in judge.judge_tests(self.remote, tests)}

    def close(self) -> None:
        self.kc.stop_channels()
        judge.drive(self.km.shutdown_kernel(now=True))


RESTORE = """
def __course_restore(saved):
    names = globals()
    for name in [k for k in names if k not in saved]:
        del names[name]
    names.update(saved)
__course_restore(globals().pop("__course_saved"))
"""


def master_code(unit: str) -> list[str]:
    m = course.master(unit)
    test_cells = {t.cell_index for q in m.questions for t in q.tests}
    return [c.source for i, c in enumerate(m.nb.cells)
            if c.cell_type == "code" and i not in test_cells and raw_directive(c) is None]


def kernel_marked(tests_dir: Path) -> set[str]:
    return set().union(*(judge.kernel_cases(p.read_text()) for p in tests_dir.glob("*.py")))


def judged(results: dict[str, bool], marked: set[str]) -> dict[str, bool]:
    return {k: v for k, v in results.items() if k not in marked}


def unit_mutants(unit: str) -> dict[str, tuple[str, str]]:
    import importlib

    return importlib.import_module(f"test_{unit}").MUTANTS


@pytest.mark.slow(reason="builds each unit's otter autograder, runs its master in a kernel and judges every mutant")
@pytest.mark.parametrize("unit", UNITS)
def test_judge_and_in_kernel_run_give_the_same_marks_on_the_master_and_every_mutant(unit, tmp_path):
    tests_dir = course.build_tests_dir(unit, tmp_path / "otter")
    files = course.test_files(tests_dir)
    sources = {q: p.read_text() for q, p in files.items()}
    marked = kernel_marked(tests_dir)
    env = course.solution_namespace(course.master(unit))
    kernel = Kernel(tmp_path)
    try:
        for code in master_code(unit):
            kernel.run(code)
        # the master: the same cases pass (all of them, when the master is sound)
        in_kernel = {case: ok for p in files.values() for case, ok in course.run_question(p, dict(env)).items()}
        assert kernel.judge(list(sources.items())) == judged(in_kernel, marked)
        differences = {}
        for name, (question, code) in unit_mutants(unit).items():
            expected = judged(course.mutant_results(env, tests_dir, question, code), marked)
            kernel.run("__course_saved = dict(globals())")
            kernel.run(textwrap.dedent(code))
            got = kernel.judge([(question, sources[question])])
            kernel.run(RESTORE)
            differ = {case: (got.get(case), expected.get(case)) for case in set(got) | set(expected)
                      if got.get(case) != expected.get(case)}
            if differ:
                differences[name] = differ  # case -> (judge, in-kernel)
        assert differences == {}
    finally:
        kernel.close()


def test_kernel_cases_lists_the_marked_tests():
    source = textwrap.dedent('''
        from otter.test_files import test_case
        name = "q"
        points = [1, 1]
        @test_case(points=None, hidden=False)
        def test_a(x):
            """judge: kernel. It passes a judge-side callback to the student's function."""
        @test_case(points=None, hidden=True)
        def test_b(x):
            pass
    ''')
    assert judge.kernel_cases(source) == {"test_a"}


def test_masters_say_which_cases_run_in_the_kernel(tmp_path):
    """The list the README points to: every case a master marks ``judge: kernel``, with its reason."""
    marked = {}
    for unit in UNITS:
        for q in course.master(unit).questions:
            for t in q.tests:
                if judge.kernel_cases(t.body):
                    marked[f"{unit}/{q.name}/{t.function}"] = t.body
    for where, body in marked.items():
        doc = body.split('"""')[1]
        assert len(doc.strip()) > len(judge.KERNEL_MARK) + 10, f"{where} says judge: kernel without a reason"
    assert set(marked) == set(KERNEL_CASES)


# Cases that cannot run through the protocol (each master says why next to the test).
KERNEL_CASES: tuple[str, ...] = (
    "01_layers/q8_ensemble/test_thinned_ensemble_of_a_linear_layer",
    "01_layers/q8_ensemble/test_thinned_ensemble_members_differ_and_mode_kept",
    "02_blocks/q6_se/test_squeeze_excitation_inside_mbconv",
    "03_architectures/q1_cost_split/test_cost_split_vgg16",
    "03_architectures/q1_cost_split/test_cost_split_other_networks",
    "03_architectures/q3_costs/test_to_v1_resnet50",
    "03_architectures/q3_costs/test_to_v1_other_networks",
    "03_architectures/q5_plan/test_efficientnet_plan_builds_b3",
    "03_architectures/q7_global/test_global_networks",
    "04_efficiency/q1_stages/test_stage_costs_resnet18",
    "04_efficiency/q1_stages/test_stage_costs_other_networks",
    "04_efficiency/q3_measure/test_measure_on_a_simulated_gpu",
    "04_efficiency/q3_measure/test_measure_excludes_warmup_work",
    "04_efficiency/q3_measure/test_measure_synchronises_every_timed_call",
    "04_efficiency/q5_param_bytes/test_parameter_bytes_float32",
    "04_efficiency/q5_param_bytes/test_parameter_bytes_mixed_dtypes",
    "04_efficiency/q7_fold/test_fold_batchnorm_no_conv_bias",
    "04_efficiency/q7_fold/test_fold_batchnorm_with_conv_bias_and_strides",
    "04_efficiency/q7_fold/test_fold_batchnorm_leaves_its_inputs_alone",
)
