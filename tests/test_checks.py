"""helpers.checks: student-facing messages, the exact-type rules, and the shortcut guards."""
import math
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

import helpers.layers
from helpers import checks
from helpers.checks import CheckFailed, ShortcutUsed
from helpers.layers import conv2d_im2col as im2col_bound_before
from helpers.layers import conv2d_im2col as im2col_alias


def failure(fn, *args, **kwargs) -> str:
    """The message of the CheckFailed that ``fn`` must raise."""
    with pytest.raises(CheckFailed) as info:
        fn(*args, **kwargs)
    return str(info.value)


@pytest.fixture
def x():
    torch.manual_seed(0)
    return torch.randn(2, 4, 6, 6)


# --- check_int -----------------------------------------------------------------------------

def test_check_int_passes_on_the_right_int():
    assert checks.check_int("n", 3, 3) is None


def test_check_int_wrong_value_names_got_and_expected():
    msg = failure(checks.check_int, "out_size", 5, 7)
    assert "out_size" in msg and "got 5" in msg and "expected 7" in msg


def test_check_int_reveal_false_hides_the_expected_value():
    msg = failure(checks.check_int, "out_size", 5, 7321, reveal=False)
    assert "got 5" in msg
    assert "7321" not in msg and "expected" not in msg


@pytest.mark.parametrize("got", [True, 3.0, np.int64(3), "3", None, torch.tensor(3)],
                         ids=["bool", "float", "numpy-int64", "str", "None", "tensor"])
def test_check_int_refuses_anything_but_an_exact_int(got):
    msg = failure(checks.check_int, "n", got, 3)
    assert "expected an int" in msg and type(got).__name__ in msg


def test_check_int_refuses_bool_even_when_it_equals_the_answer():
    msg = failure(checks.check_int, "flag", True, 1)
    assert "expected an int, got bool True" in msg


def test_check_int_float_refusal_suggests_int_or_floor_division():
    msg = failure(checks.check_int, "n", 3.0, 3)
    assert "got float 3.0" in msg and "int(...)" in msg and "//" in msg


def test_check_int_names_the_mistake_the_answer_matches():
    mistakes = {"you forgot the padding": 4, "you forgot the +1": 6}
    msg = failure(checks.check_int, "out", 6, 7, mistakes)
    assert msg.splitlines()[0].endswith(": you forgot the +1")
    assert "padding" not in msg


def test_check_int_names_no_mistake_when_none_matches():
    msg = failure(checks.check_int, "out", 9, 7, {"you forgot the +1": 6})
    assert "forgot" not in msg


def test_check_int_names_the_mistake_also_when_not_revealing():
    msg = failure(checks.check_int, "out", 6, 7, {"you forgot the +1": 6}, reveal=False)
    assert "you forgot the +1" in msg and "7" not in msg


def test_likely_mistake_requires_the_same_type():
    assert checks.likely_mistake(6, {"off by one": 6.0}) == ""
    assert checks.likely_mistake(6, {"off by one": 6}) == ": off by one"
    assert checks.likely_mistake(6, None) == ""


# --- check_ints ----------------------------------------------------------------------------

@pytest.mark.parametrize("got", [(3, 8, 8), [3, 8, 8]], ids=["tuple", "list"])
def test_check_ints_accepts_tuple_or_list_of_ints(got):
    assert checks.check_ints("shape", got, (3, 8, 8)) is None


def test_check_ints_wrong_value_names_got_and_expected():
    msg = failure(checks.check_ints, "shape", (3, 8, 7), (3, 8, 8))
    assert "got (3, 8, 7)" in msg and "expected (3, 8, 8)" in msg


def test_check_ints_reveal_false_hides_the_expected_value():
    msg = failure(checks.check_ints, "shape", (3, 8, 7), (3, 8, 8), reveal=False)
    assert "(3, 8, 8)" not in msg and "not right" in msg


@pytest.mark.parametrize("got", [(3, 8.0, 8), (3, True, 8), (3, np.int64(8), 8), 388, "388"],
                         ids=["float-item", "bool-item", "numpy-item", "int", "str"])
def test_check_ints_refuses_non_int_items_or_non_sequences(got):
    assert "expected a tuple of ints" in failure(checks.check_ints, "shape", got, (3, 8, 8))


def test_check_ints_wrong_length_fails():
    assert "got (3, 8)" in failure(checks.check_ints, "shape", (3, 8), (3, 8, 8))


# --- check_number --------------------------------------------------------------------------

@pytest.mark.parametrize("got", [0.1 + 0.2, 0.3, 0.3 * (1 + 5e-7)], ids=["fp-sum", "exact", "within-rel"])
def test_check_number_passes_within_tolerance(got):
    assert checks.check_number("p", got, 0.3) is None


def test_check_number_accepts_an_int_for_a_float_answer():
    assert checks.check_number("total", 12, 12.0) is None


def test_check_number_fails_outside_the_relative_tolerance():
    msg = failure(checks.check_number, "p", 0.3 * (1 + 1e-5), 0.3)
    assert "got 0.3" in msg and "expected 0.3" in msg


def test_check_number_tolerances_are_configurable():
    checks.check_number("p", 1.05, 1.0, rel=0.1)
    checks.check_number("z", 1e-4, 0.0, abs_=1e-3)
    failure(checks.check_number, "z", 1e-4, 0.0)  # default abs_ 1e-9


def test_check_number_reveal_false_hides_the_expected_value():
    msg = failure(checks.check_number, "p", 0.25, 0.6180339, reveal=False)
    assert "0.25" in msg and "0.618" not in msg and "not right" in msg


@pytest.mark.parametrize("got", [True, False, "0.3", None, torch.tensor(0.3), [0.3]],
                         ids=["True", "False", "str", "None", "tensor", "list"])
def test_check_number_refuses_bools_strings_and_containers(got):
    assert "expected a number" in failure(checks.check_number, "p", got, 0.3)


def test_check_number_refuses_bool_even_when_it_equals_the_answer():
    assert "got bool True" in failure(checks.check_number, "p", True, 1.0)


def test_check_number_names_the_mistake_the_answer_matches():
    mistakes = {"you used the variance, not the std": 4.0, "you divided by n-1": 2.2360679}
    msg = failure(checks.check_number, "std", 2.2360679, 2.0, mistakes=mistakes)
    assert msg.splitlines()[0].endswith(": you divided by n-1")
    assert "forgot" not in failure(checks.check_number, "std", 7.0, 2.0, mistakes=mistakes)


@pytest.mark.parametrize("got", [math.nan, math.inf, -math.inf])
def test_check_number_fails_on_nan_and_infinity(got):
    failure(checks.check_number, "loss", got, 1.0)


def test_check_number_infinity_matches_an_infinite_answer():
    checks.check_number("log(0)", -math.inf, -math.inf)


# --- as_tensor / check_tensor --------------------------------------------------------------

def test_as_tensor_returns_a_private_copy():
    student = torch.arange(4.0, requires_grad=True)
    copy = checks.as_tensor("y", student)
    with torch.no_grad():
        student.mul_(100)
    assert torch.equal(copy, torch.arange(4.0))
    assert not copy.requires_grad
    assert copy.data_ptr() != student.data_ptr()


@pytest.mark.parametrize("got", [[1.0, 2.0], np.ones(3), 1.0, None], ids=["list", "ndarray", "float", "None"])
def test_as_tensor_refuses_a_non_tensor(got):
    msg = failure(checks.as_tensor, "y", got)
    assert "expected a torch.Tensor" in msg and type(got).__name__ in msg


def test_check_tensor_passes_on_close_values_any_float_dtype():
    ref = torch.linspace(0, 1, 12).reshape(3, 4)
    checks.check_tensor("y", ref.double() + 1e-8, ref)


def test_check_tensor_shape_mismatch_names_both_shapes():
    msg = failure(checks.check_tensor, "y", torch.zeros(2, 3), torch.zeros(3, 2))
    assert "got shape (2, 3)" in msg and "expected (3, 2)" in msg


def test_check_tensor_reveal_false_hides_the_expected_shape():
    msg = failure(checks.check_tensor, "y", torch.zeros(2, 3), torch.zeros(7, 5), reveal=False)
    assert "(2, 3)" in msg and "(7, 5)" not in msg and "not the right shape" in msg


def test_check_tensor_value_mismatch_reports_the_max_difference():
    expected = torch.zeros(2, 3)
    got = expected.clone()
    got[1, 2] = 0.25
    got[0, 0] = -0.125
    msg = failure(checks.check_tensor, "y", got, expected)
    assert "values differ" in msg and "max difference 0.25" in msg


def test_check_tensor_value_mismatch_with_nan_fails():
    got = torch.zeros(3)
    got[0] = math.nan
    failure(checks.check_tensor, "y", got, torch.zeros(3))


def test_check_tensor_names_the_mistake_the_answer_matches():
    expected = torch.arange(6.0).reshape(2, 3)
    mistakes = {"you transposed the kernel": expected.flip(1), "you forgot the bias": expected - 1}
    msg = failure(checks.check_tensor, "y", expected - 1, expected, mistakes=mistakes)
    assert msg.splitlines()[0].endswith(": you forgot the bias") and "transposed" not in msg
    assert "forgot" not in failure(checks.check_tensor, "y", expected * 3, expected, mistakes=mistakes)


def test_check_tensor_mistake_of_another_shape_is_ignored():
    expected = torch.zeros(2, 3)
    msg = failure(checks.check_tensor, "y", torch.ones(2, 3), expected,
                  mistakes={"wrong shape mistake": torch.ones(3, 2)})
    assert "wrong shape mistake" not in msg


def test_check_tensor_refuses_a_non_tensor():
    assert "expected a torch.Tensor" in failure(checks.check_tensor, "y", [0.0, 0.0], torch.zeros(2))


# --- cmp -----------------------------------------------------------------------------------

def test_cmp_exact_match_prints_true_true_and_zero(capsys):
    a = torch.arange(5.0)
    assert checks.cmp("same", a, a.clone()) is True
    line = capsys.readouterr().out.strip()
    assert line.startswith("same")
    assert "exact: True" in line and "approximate: True" in line and "maxdiff: 0.00e+00" in line


def test_cmp_approximate_match_is_not_exact(capsys):
    a = torch.arange(5.0, dtype=torch.float64)
    assert checks.cmp("close", a, a + 1e-7) is True
    line = capsys.readouterr().out
    assert "exact: False" in line and "approximate: True" in line and "maxdiff: 1.00e-07" in line


def test_cmp_mismatch_returns_false_with_max_difference(capsys):
    assert checks.cmp("far", torch.zeros(3), torch.tensor([0.0, 0.5, -2.0])) is False
    line = capsys.readouterr().out
    assert "exact: False" in line and "approximate: False" in line and "maxdiff: 2.00e+00" in line


def test_cmp_shape_mismatch_returns_false(capsys):
    assert checks.cmp("shape", torch.zeros(2, 3), torch.zeros(3, 2)) is False
    assert "shapes differ: (2, 3) vs (3, 2)" in capsys.readouterr().out


# --- no_shortcuts: library operators -------------------------------------------------------

CONV_SHORTCUTS = {
    "F.conv2d": lambda x: F.conv2d(x, torch.randn(3, 4, 3, 3)),
    "nn.Conv2d": lambda x: nn.Conv2d(4, 3, 3)(x),
    "torch.conv2d": lambda x: torch.conv2d(x, torch.randn(3, 4, 3, 3)),
    "F.conv_transpose2d": lambda x: F.conv_transpose2d(x, torch.randn(4, 3, 3, 3)),
}
SHORTCUTS = [("conv", name, fn) for name, fn in CONV_SHORTCUTS.items()] + [
    ("interpolate", "F.interpolate", lambda x: F.interpolate(x, scale_factor=2)),
    ("interpolate", "F.interpolate bilinear", lambda x: F.interpolate(x, scale_factor=2, mode="bilinear")),
    ("interpolate", "nn.Upsample", lambda x: nn.Upsample(scale_factor=2, mode="bilinear")(x)),
    ("deform_conv", "torchvision.ops.deform_conv2d",
     lambda x: torchvision.ops.deform_conv2d(x, torch.zeros(2, 18, 4, 4), torch.randn(3, 4, 3, 3))),
    ("grid_sample", "F.grid_sample", lambda x: F.grid_sample(x, torch.zeros(2, 3, 3, 2), align_corners=False)),
    ("norm", "nn.BatchNorm2d train", lambda x: nn.BatchNorm2d(4)(x)),
    ("norm", "nn.BatchNorm2d eval", lambda x: nn.BatchNorm2d(4).eval()(x)),
    ("norm", "F.layer_norm", lambda x: F.layer_norm(x, (6,))),
    ("norm", "nn.GroupNorm", lambda x: nn.GroupNorm(2, 4)(x)),
    ("norm", "F.instance_norm", lambda x: F.instance_norm(x)),
    ("dropout", "F.dropout", lambda x: F.dropout(x, 0.5, training=True)),
    ("dropout", "F.dropout default", lambda x: F.dropout(x)),
    ("dropout", "nn.Dropout train", lambda x: nn.Dropout(0.5).train()(x)),
    ("dropout", "F.dropout2d", lambda x: F.dropout2d(x, 0.5, True)),
    ("dropout", "torch.dropout", lambda x: torch.dropout(x, 0.5, True)),
]


@pytest.mark.parametrize("group,name,shortcut", SHORTCUTS, ids=[f"{g}:{n}" for g, n, _ in SHORTCUTS])
def test_no_shortcuts_blocks_the_library_routine(x, group, name, shortcut):
    with pytest.raises(ShortcutUsed) as info:
        with checks.no_shortcuts(group):
            shortcut(x)
    assert "basic tensor operations written by you" in str(info.value)
    shortcut(x)  # works again once the block is left


def test_shortcut_used_is_a_check_failed():
    assert issubclass(ShortcutUsed, CheckFailed) and issubclass(CheckFailed, AssertionError)


def test_no_shortcuts_conv_still_allows_unfold_and_matmul(x):
    w = torch.randn(3, 4, 3, 3)
    with checks.no_shortcuts("conv"):
        cols = F.unfold(x, 3)                                   # (N, C*k*k, L)
        y = (w.reshape(3, -1) @ cols).reshape(2, 3, 4, 4)
    torch.testing.assert_close(y, F.conv2d(x, w), atol=1e-5, rtol=1e-5)


def test_no_shortcuts_conv_allows_the_course_im2col_reference(x):
    w = torch.randn(3, 4, 3, 3)
    with checks.no_shortcuts("conv"):
        y = helpers.layers.conv2d_im2col(x, w, padding=1)
    torch.testing.assert_close(y, F.conv2d(x, w, padding=1), atol=1e-5, rtol=1e-5)


def test_no_shortcuts_dropout_allows_a_hand_written_mask_not_the_library_even_in_eval_mode(x):
    with checks.no_shortcuts("dropout"):
        mask = (torch.rand_like(x) > 0.5).to(x.dtype)
        y = x * mask / 0.5
    assert y.shape == x.shape
    for library_dropout in (lambda: nn.Dropout(0.5).eval()(x), lambda: F.dropout(x, 0.5, training=False)):
        with pytest.raises(ShortcutUsed, match="dropout"), checks.no_shortcuts("dropout"):
            library_dropout()


def test_no_shortcuts_group_only_blocks_its_own_routines(x):
    with checks.no_shortcuts("norm"):
        F.conv2d(x, torch.randn(3, 4, 3, 3))
        F.interpolate(x, scale_factor=2)
        x.norm()  # a vector norm is not a normalisation layer


GROUPED_CONVS = {
    "F.conv2d": lambda x: F.conv2d(x, torch.randn(6, 2, 3, 3), groups=2),
    "nn.Conv2d depthwise": lambda x: nn.Conv2d(4, 4, 3, groups=4)(x),
    "torch.conv2d, groups by position": lambda x: torch.conv2d(x, torch.randn(6, 2, 3, 3), None, 1, 0, 1, 2),
    "F.conv_transpose2d": lambda x: F.conv_transpose2d(x, torch.randn(4, 1, 3, 3), groups=4),
}


@pytest.mark.parametrize("name", list(GROUPED_CONVS))
def test_no_shortcuts_grouped_conv_refuses_a_convolution_of_more_than_one_group(x, name):
    with pytest.raises(ShortcutUsed) as info:
        with checks.no_shortcuts("grouped_conv"):
            GROUPED_CONVS[name](x)
    message = str(info.value)
    assert "\n" not in message and "groups=" in message and "groups > 1" in message, message


def test_no_shortcuts_grouped_conv_allows_one_ordinary_convolution_per_group(x):
    w = torch.randn(6, 2, 3, 3)
    with checks.no_shortcuts("grouped_conv"):
        y = torch.cat([F.conv2d(xg, wg, padding=1) for xg, wg in zip(x.chunk(2, dim=1), w.chunk(2, dim=0))], dim=1)
        nn.Conv2d(4, 3, 3, groups=1)(x)
    torch.testing.assert_close(y, F.conv2d(x, w, padding=1, groups=2))


def test_no_shortcuts_conv_refuses_what_grouped_conv_lets_through(x):
    """A group that always refuses an operator wins over one that refuses it for some calls."""
    for groups in (("conv", "grouped_conv"), ("grouped_conv", "conv")):
        with pytest.raises(ShortcutUsed, match="calls convolution"), checks.no_shortcuts(*groups):
            F.conv2d(x, torch.randn(3, 4, 3, 3))


def test_no_shortcuts_several_groups_at_once(x):
    with pytest.raises(ShortcutUsed, match="interpolate, grid_sample"):
        with checks.no_shortcuts("interpolate", "grid_sample"):
            F.grid_sample(x, torch.zeros(2, 3, 3, 2), align_corners=False)


def test_a_refusal_the_answer_catches_still_refuses(x):
    with pytest.raises(ShortcutUsed, match="convolution"):
        with checks.no_shortcuts("conv"):
            try:
                F.conv2d(x, torch.randn(3, 4, 3, 3))
            except Exception:  # noqa: BLE001 - the student's attempt to hide the refusal
                pass


def test_no_shortcuts_mode_is_removed_when_the_body_raised(x):
    with pytest.raises(ZeroDivisionError):
        with checks.no_shortcuts("conv", "dropout"):
            1 / 0
    F.conv2d(x, torch.randn(3, 4, 3, 3))
    F.dropout(x, 0.5, training=True)


def test_no_shortcuts_mode_is_removed_after_a_shortcut_was_caught(x):
    with pytest.raises(ShortcutUsed):
        with checks.no_shortcuts("conv"):
            F.conv2d(x, torch.randn(3, 4, 3, 3))
    F.conv2d(x, torch.randn(3, 4, 3, 3))
    nn.Conv2d(4, 3, 3)(x)


def test_no_shortcuts_unknown_group_is_an_error():
    with pytest.raises(KeyError):
        with checks.no_shortcuts("no-such-group"):
            pass


# --- no_shortcuts: course reference functions ----------------------------------------------

REFERENCE_CALLS = {
    "module attribute": lambda x, w: helpers.layers.conv2d_im2col(x, w),
    "from-import bound before": lambda x, w: im2col_bound_before(x, w),
    "alias": lambda x, w: im2col_alias(x, w),
    "local rebinding": lambda x, w: (lambda f: f(x, w))(getattr(helpers.layers, "conv2d_im2col")),
}


@pytest.mark.parametrize("how", list(REFERENCE_CALLS))
def test_no_shortcuts_detects_the_reference_however_imported(x, how):
    w = torch.randn(3, 4, 3, 3)
    with pytest.raises(ShortcutUsed, match="conv2d_im2col"):
        with checks.no_shortcuts(functions=(helpers.layers.conv2d_im2col,)):
            REFERENCE_CALLS[how](x, w)


def test_no_shortcuts_reference_detection_survives_a_caught_exception(x):
    reached_end = []
    with pytest.raises(ShortcutUsed, match="course's reference conv2d_im2col"):
        with checks.no_shortcuts(functions=(helpers.layers.conv2d_im2col,)):
            try:  # a student's broad except must not hide the shortcut
                helpers.layers.conv2d_im2col(x, torch.randn(3, 4, 3, 3))
            except Exception:
                pass
            reached_end.append(True)
    assert reached_end == [True]


def test_no_shortcuts_puts_the_reference_back(x):
    w = torch.randn(3, 4, 3, 3)
    with pytest.raises(ShortcutUsed):
        with checks.no_shortcuts(functions=(helpers.layers.conv2d_im2col,)):
            helpers.layers.conv2d_im2col(x, w)
    torch.testing.assert_close(helpers.layers.conv2d_im2col(x, w, padding=1), F.conv2d(x, w, padding=1))


def test_no_shortcuts_allows_an_unrelated_function(x):
    w = torch.randn(3, 4, 3, 3)
    with checks.no_shortcuts(functions=(helpers.layers.conv2d_im2col,)):
        y = helpers.layers.conv2d_naive(x, w)
    assert y.shape == (2, 3, 4, 4)


def test_no_shortcuts_leaves_the_profiler_alone(x):
    def previous(frame, event, arg):
        pass

    old = sys.getprofile()
    sys.setprofile(previous)
    try:
        with pytest.raises(ShortcutUsed):
            with checks.no_shortcuts(functions=(helpers.layers.conv2d_im2col,)):
                helpers.layers.conv2d_im2col(x, torch.randn(3, 4, 3, 3))
        restored = sys.getprofile()
    finally:
        sys.setprofile(old)
    assert restored is previous


def test_run_student_returns_the_functions_value():
    assert checks.run_student(lambda a, b: a * b, 6, 7) == 42


def test_run_student_passes_keyword_arguments_through_including_groups():
    def student(x, *, groups=1, stride=1, name_of_thing="n"):
        return (x, groups, stride, name_of_thing)

    got = checks.run_student(student, 1, groups=4, stride=2, name_of_thing="m", forbid=("conv",))
    assert got == (1, 4, 2, "m")


def test_run_student_groups_keyword_with_a_conv_shortcut_guard(x):
    w = torch.randn(4, 2, 3, 3)
    y = checks.run_student(helpers.layers.conv2d_im2col, x, w, groups=2, forbid=("conv",))
    torch.testing.assert_close(y, F.conv2d(x, w, groups=2), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("fn", [None, 3, "conv2d"], ids=["None", "int", "str"])
def test_run_student_non_callable_says_it_is_not_a_function(fn):
    msg = failure(checks.run_student, fn, 1, name="my_conv")
    assert "my_conv is not a function" in msg


def test_run_student_not_implemented_says_so():
    def my_conv(x):
        raise NotImplementedError

    assert failure(checks.run_student, my_conv, 1) == "my_conv is not implemented yet"


def test_run_student_other_exception_names_its_type_and_message():
    def my_conv(x):
        return x["missing"]

    msg = failure(checks.run_student, my_conv, {})
    assert msg == "my_conv raised KeyError: 'missing'"


def test_run_student_students_own_assert_becomes_a_check_failure():
    def my_conv(x):
        assert x > 0, "x must be positive"

    msg = failure(checks.run_student, my_conv, -1)
    assert "raised AssertionError: x must be positive" in msg


def test_run_student_library_shortcut_surfaces_as_shortcut_used(x):
    def my_conv(x, w):
        return F.conv2d(x, w)

    with pytest.raises(ShortcutUsed, match="convolution"):
        checks.run_student(my_conv, x, torch.randn(3, 4, 3, 3), forbid=("conv",))
    F.conv2d(x, torch.randn(3, 4, 3, 3))


def test_run_student_dropout_shortcut_surfaces_as_shortcut_used(x):
    def my_dropout(x, p=0.5, training=True):
        return F.dropout(x, p, training)

    with pytest.raises(ShortcutUsed, match="dropout"):
        checks.run_student(my_dropout, x, forbid=("dropout",))
    with pytest.raises(ShortcutUsed, match="dropout"):
        checks.run_student(my_dropout, x, training=False, forbid=("dropout",))


def test_run_student_reference_call_surfaces_as_shortcut_used(x):
    def my_conv(x, w):
        return im2col_alias(x, w)

    with pytest.raises(ShortcutUsed, match="conv2d_im2col"):
        checks.run_student(my_conv, x, torch.randn(3, 4, 3, 3), forbid=("conv",),
                           functions=(helpers.layers.conv2d_im2col,))


def test_run_student_uses_the_given_name_in_messages():
    def f():
        raise ValueError("bad")

    assert failure(checks.run_student, f, name="conv2d_loops") == "conv2d_loops raised ValueError: bad"


def test_public_failures_say_hidden_tests_run_at_grading_and_hidden_ones_do_not():
    with pytest.raises(checks.CheckFailed) as public:
        checks.check_int("answer", 3, 4)
    assert checks.HIDDEN_NOTE in str(public.value)
    with pytest.raises(checks.CheckFailed) as hidden:
        checks.check_int("answer", 3, 4, reveal=False)
    assert checks.HIDDEN_NOTE not in str(hidden.value) and "4" not in str(hidden.value)


# --- loading a reference block's weights into the student's module ------------------------------

def _my_basic_block(projection: bool, bias: bool = False) -> nn.Module:
    """A hand-made basic block with torchvision's parameter names."""
    block = nn.Module()
    block.conv1 = nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=bias)
    block.bn1 = nn.BatchNorm2d(32)
    block.conv2 = nn.Conv2d(32, 32, 3, padding=1, bias=False)
    block.bn2 = nn.BatchNorm2d(32)
    if projection:
        block.downsample = nn.Sequential(nn.Conv2d(16, 32, 1, stride=2, bias=False), nn.BatchNorm2d(32))
    return block


def _reference() -> nn.Module:
    from torchvision.models.resnet import BasicBlock, conv1x1

    down = nn.Sequential(conv1x1(16, 32, 2), nn.BatchNorm2d(32))
    return checks.randomized(BasicBlock(16, 32, stride=2, downsample=down), seed=0)


def test_randomized_sets_float64_eval_and_random_statistics():
    ref = _reference()
    assert not ref.training and ref.conv1.weight.dtype == torch.float64
    assert not torch.equal(ref.bn1.running_var, torch.ones(32, dtype=torch.float64))
    assert (ref.bn1.running_var > 0).all()


def test_randomized_materialises_a_meta_module_with_the_values_of_a_cpu_one():
    from torchvision.models import vgg

    on_cpu = checks.randomized(vgg.vgg11_bn(weights=None).features, seed=3)
    with torch.device("meta"):
        on_meta = vgg.vgg11_bn(weights=None).features
    on_meta = checks.randomized(on_meta, seed=3)
    cpu_state, meta_state = on_cpu.state_dict(), on_meta.state_dict()
    assert cpu_state.keys() == meta_state.keys()
    for key, value in cpu_state.items():
        assert meta_state[key].device.type == "cpu" and torch.equal(meta_state[key], value), key
    x = torch.randn(1, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        assert torch.equal(on_meta(x), on_cpu(x))


def test_load_reference_weights_loads_a_matching_module():
    ref = _reference()
    mine = checks.load_reference_weights(_my_basic_block(projection=True), ref, "MyBasicBlock")
    assert torch.equal(mine.conv1.weight, ref.conv1.weight) and mine.conv1.weight.dtype == torch.float64


@pytest.mark.parametrize("module, mistake", [
    (_my_basic_block(projection=False), "projection shortcut missing"),
    (_my_basic_block(projection=True, bias=True), "has a bias"),
])
def test_load_reference_weights_names_the_likely_mistake(module, mistake):
    with pytest.raises(checks.CheckFailed, match=mistake) as err:
        checks.load_reference_weights(module, _reference(), "MyBasicBlock")
    assert "missing" in str(err.value) or "unexpected" in str(err.value)


def test_load_reference_weights_hides_names_when_hidden():
    with pytest.raises(checks.CheckFailed) as err:
        checks.load_reference_weights(_my_basic_block(projection=False), _reference(), "block", reveal=False)
    assert "downsample.0.weight" not in str(err.value) and checks.HIDDEN_NOTE not in str(err.value)


def test_load_reference_weights_refuses_a_non_module():
    with pytest.raises(checks.CheckFailed, match="expected an nn.Module"):
        checks.load_reference_weights(None, _reference(), "MyBasicBlock")


# --- whole networks: same tree, no library builders, one thread ------------------------------

def test_check_same_tree_accepts_torchvisions_tree_and_counts_differences():
    from torchvision.models import resnet18

    with torch.device("meta"):
        ref, same, other = resnet18(), resnet18(), resnet18(num_classes=10)
    checks.check_same_tree("net", same, ref)
    with pytest.raises(CheckFailed, match=r"net: its weights are not torchvision's \(0 missing, 0 unexpected, 2 with"):
        checks.check_same_tree("net", other, ref)
    del same.layer4[1]
    with pytest.raises(CheckFailed, match=r"\(12 missing, 0 unexpected"):
        checks.check_same_tree("net", same, ref)
    with pytest.raises(CheckFailed, match="expected an nn.Module, got list"):
        checks.check_same_tree("net", [], ref)


def test_model_shortcuts_trip_every_reference_builder_and_the_extras():
    from torchvision.models import resnet as tv

    from helpers import models

    forbidden = checks.model_shortcuts(tv._resnet)
    assert tv._resnet in forbidden
    assert models.resnet50 in forbidden and models.build in forbidden
    assert any(f.__qualname__.endswith("ResNet.__init__") for f in forbidden)

    def builds_it():
        return models.resnet18(num_classes=10)

    with pytest.raises(ShortcutUsed):
        checks.run_student(builds_it, functions=forbidden)
    assert isinstance(builds_it(), nn.Module)  # the tripwires are gone afterwards


def test_one_thread_restores_the_thread_count_even_after_an_error():
    from helpers.runtime import one_thread

    before = torch.get_num_threads()
    with pytest.raises(RuntimeError):
        with one_thread():
            assert torch.get_num_threads() == 1
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before
