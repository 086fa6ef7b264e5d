"""Self-check helpers the notebooks' tests use: clear messages, exact types, no shortcuts.

Every public check says what was expected, what came back, and the likely mistake.
The same functions back the hidden tests, which call them with ``reveal=False`` so that a
failure message never carries the expected value.
"""
from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterable, Mapping

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

HIDDEN_NOTE = "(Hidden tests with other inputs run when your notebook is graded.)"


class CheckFailed(AssertionError):
    """A wrong answer: the message is written for the student."""


class ShortcutUsed(CheckFailed):
    """The answer called the library routine the question asks you to implement."""


def _fail(message: str, reveal: bool = False) -> None:
    # A public check (reveal=True) reminds the student that passing it is not the whole grade.
    raise CheckFailed(f"{message}\n{HIDDEN_NOTE}" if reveal else message)


def likely_mistake(got, mistakes: Mapping[str, object] | None) -> str:
    """Name the first plausible mistake whose answer equals ``got``."""
    for reason, wrong in (mistakes or {}).items():
        try:
            if type(wrong) is type(got) and wrong == got:
                return f": {reason}"
        except Exception:  # noqa: BLE001 - a strange answer has no named mistake
            pass
    return ""


def check_int(name: str, got, expected: int, mistakes: Mapping[str, object] | None = None,
              *, reveal: bool = True) -> None:
    """``got`` must be an ``int`` (exactly) equal to ``expected``."""
    if type(got) is not int:
        _fail(f"{name}: expected an int, got {type(got).__name__} {got!r}"
              + (" (use int(...) or // for whole numbers)" if isinstance(got, float) else ""))
    if got != expected:
        _fail(f"{name}: got {got}" + (f", expected {expected}" if reveal else ", which is not right")
              + likely_mistake(got, mistakes), reveal)


def check_ints(name: str, got, expected: tuple, *, reveal: bool = True) -> None:
    """A tuple of ints, e.g. a shape ``(C, H, W)``."""
    if type(got) not in (tuple, list) or any(type(v) is not int for v in got):
        _fail(f"{name}: expected a tuple of ints, got {got!r}")
    if tuple(got) != tuple(expected):
        _fail(f"{name}: got {tuple(got)}" + (f", expected {tuple(expected)}" if reveal else ", which is not right"),
              reveal)


def check_number(name: str, got, expected: float, *, rel: float = 1e-6, abs_: float = 1e-9,
                 mistakes: Mapping[str, object] | None = None, reveal: bool = True) -> None:
    """A real number (int or float, not bool) within a tolerance of ``expected``."""
    if isinstance(got, bool) or type(got) not in (int, float):
        _fail(f"{name}: expected a number, got {type(got).__name__} {got!r}")
    # Written as "not close" so that a NaN answer fails (``nan > tol`` is False); ``==`` lets inf match inf.
    if not (got == expected or abs(got - expected) <= max(abs_, rel * abs(expected))):
        hint = ""
        for reason, wrong in (mistakes or {}).items():
            if got == wrong or abs(got - wrong) <= max(abs_, rel * abs(wrong)):
                hint = f": {reason}"
                break
        _fail(f"{name}: got {got:g}" + (f", expected {expected:g}" if reveal else ", which is not right") + hint,
              reveal)


def as_tensor(name: str, got) -> torch.Tensor:
    """A private copy of the student's tensor (never compare an object the student made)."""
    if not isinstance(got, torch.Tensor):
        _fail(f"{name}: expected a torch.Tensor, got {type(got).__name__}")
    return torch.as_tensor(got).detach().clone()


def check_tensor(name: str, got, expected: torch.Tensor, *, atol: float = 1e-6, rtol: float = 1e-5,
                 mistakes: Mapping[str, torch.Tensor] | None = None, reveal: bool = True) -> None:
    """Same shape, and values equal to ``expected`` within tolerance; names the likely mistake."""
    got = as_tensor(name, got)
    expected = torch.as_tensor(expected).detach()
    if tuple(got.shape) != tuple(expected.shape):
        _fail(f"{name}: got shape {tuple(got.shape)}"
              + (f", expected {tuple(expected.shape)}" if reveal else ", which is not the right shape"), reveal)
    got64, exp64 = got.to(torch.float64).cpu(), expected.to(torch.float64).cpu()
    if not torch.allclose(got64, exp64, atol=atol, rtol=rtol, equal_nan=False):
        diff = (got64 - exp64).abs().max().item()
        hint = ""
        for reason, wrong in (mistakes or {}).items():
            wrong = torch.as_tensor(wrong).to(torch.float64).cpu()
            if wrong.shape == got64.shape and torch.allclose(got64, wrong, atol=atol, rtol=rtol):
                hint = f": {reason}"
                break
        _fail(f"{name}: values differ from the reference (max difference {diff:.3g})" + hint, reveal)


def cmp(name: str, mine: torch.Tensor, reference: torch.Tensor) -> bool:
    """Print whether two tensors are exactly equal, approximately equal, and their max difference."""
    mine, reference = torch.as_tensor(mine).detach(), torch.as_tensor(reference).detach()
    if mine.shape != reference.shape:
        print(f"{name:24s} | shapes differ: {tuple(mine.shape)} vs {tuple(reference.shape)}")
        return False
    exact = bool(torch.equal(mine, reference))
    approx = bool(torch.allclose(mine.double(), reference.double(), atol=1e-5, rtol=1e-4))
    maxdiff = (mine.double() - reference.double()).abs().max().item() if mine.numel() else 0.0
    print(f"{name:24s} | exact: {str(exact):5s} | approximate: {str(approx):5s} | maxdiff: {maxdiff:.2e}")
    return approx


# --- blocks: the reference's weights in the student's module --------------------------------

def randomized(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """``module`` in float64 and eval mode with random weights and batch-norm statistics, so that no
    default value (a weight of 1, a running variance of 1) can hide a mistake."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, t in module.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) + 0.5 if key.endswith("running_var")
                        else 0.5 * torch.randn(t.shape, generator=g))
    return module.double().eval()


def _block_mistake(ours: dict, theirs: dict, missing: list, extra: list, wrong: list) -> str:
    """The likely mistake behind a state_dict that does not load (unit 02's blocks)."""
    def conv_layers(keys):  # the children of an inverted residual's `conv` that hold parameters
        return {k.split(".conv.")[-1].split(".")[0] for k in ("." + k for k in keys) if ".conv." in k}

    if missing and all("downsample" in k.split(".") for k in missing):
        return (": projection shortcut missing: the block changes channels or resolution, so its shortcut "
                "needs `downsample` (a 1x1 conv with the block's stride, then batch norm)")
    if extra and all("downsample" in k.split(".") for k in extra):
        return (": projection where none is needed: with stride 1 and as many channels out as in, "
                "the shortcut is the identity (no parameters)")
    if any(k.endswith(".bias") and k[:-5] + ".weight" in ours and ours[k[:-5] + ".weight"].ndim == 4 for k in extra):
        return ": a convolution has a bias, but a batch norm follows it, so it has none (bias=False)"
    if len(conv_layers(ours)) > len(conv_layers(theirs)):
        return ": `conv` has a layer too many: with expand_ratio == 1 there is no expansion convolution"
    if 0 < len(conv_layers(ours)) < len(conv_layers(theirs)):
        return ": `conv` lacks a layer: with expand_ratio != 1 the block starts with a 1x1 expansion (ConvNormAct)"
    if any(theirs[k].ndim == 4 and theirs[k].shape[1] == 1 and ours[k].shape[1] != 1
           and ours[k].shape[2:] == theirs[k].shape[2:] for k in wrong):
        return ": groups forgotten: a depthwise convolution has groups = channels, its weight is (C, 1, k, k)"
    return ""


def _state_diff(ours: dict, theirs: dict) -> tuple[list[str], list[str], list[str]]:
    """Keys of two state_dicts: (missing from ours, unexpected in ours, present in both with other shapes)."""
    missing, extra = sorted(set(theirs) - set(ours)), sorted(set(ours) - set(theirs))
    wrong = [k for k in theirs if k in ours and tuple(ours[k].shape) != tuple(theirs[k].shape)]
    return missing, extra, wrong


def load_reference_weights(mine, ref: torch.nn.Module, what: str, reveal: bool = True) -> torch.nn.Module:
    """Load ``ref``'s weights into the student's module with ``strict=True`` (float64, eval mode), or
    fail naming the likely mistake; with ``reveal=False`` the reference's names and shapes stay hidden."""
    if not isinstance(mine, torch.nn.Module):
        _fail(f"{what}: expected an nn.Module, got {type(mine).__name__}")
    mine = mine.double().eval()
    theirs, ours = ref.state_dict(), mine.state_dict()
    missing, extra, wrong = _state_diff(ours, theirs)
    if not (missing or extra or wrong):
        mine.load_state_dict(theirs, strict=True)
        return mine
    if reveal:
        shapes = ", ".join(f"{k} (yours {tuple(ours[k].shape)}, reference {tuple(theirs[k].shape)})" for k in wrong)
        detail = f" (missing: {missing}; unexpected: {extra}; shapes differ: {shapes or 'none'})"
    else:
        detail = " (parameter names or shapes differ)"
    _fail(f"{what}: the reference block's weights do not load into yours with strict=True{detail}"
          + _block_mistake(ours, theirs, missing, extra, wrong), reveal)


def check_same_tree(what: str, mine, ref: torch.nn.Module) -> None:
    """The student's module has ``ref``'s parameter and buffer names with the same shapes (both may
    live on the meta device, so whole networks are compared without memory); the message counts the
    differences without naming them."""
    if not isinstance(mine, torch.nn.Module):
        _fail(f"{what}: expected an nn.Module, got {type(mine).__name__}")
    missing, extra, wrong = _state_diff(mine.state_dict(), ref.state_dict())
    if missing or extra or wrong:
        _fail(f"{what}: its weights are not torchvision's ({len(missing)} missing, {len(extra)} unexpected, "
              f"{len(wrong)} with another shape)")


# --- shortcuts -----------------------------------------------------------------------------

def model_shortcuts(*extra: Callable) -> tuple[Callable, ...]:
    """Every function and method defined in :mod:`helpers.models` (the reference networks), plus
    ``extra`` (torchvision's builders a question forbids): pass as ``run_student(...,
    functions=...)`` so that building the network by calling the library scores 0."""
    import importlib
    import inspect

    found = list(extra)
    try:
        library = importlib.import_module("helpers.models")
    except ImportError:  # an older helpers without the module: nothing of it to forbid
        return tuple(found)
    for _, obj in inspect.getmembers(library):
        if getattr(obj, "__module__", None) != "helpers.models":
            continue
        if inspect.isfunction(obj):
            found.append(obj)
        elif inspect.isclass(obj):
            found += [f for f in vars(obj).values() if inspect.isfunction(f)]
    return tuple(found)



# aten operators behind the library routines students re-implement, by the name a question uses.
SHORTCUT_OPS: dict[str, tuple[str, ...]] = {
    "conv": ("convolution", "_convolution", "conv2d", "mkldnn_convolution", "cudnn_convolution",
             "_slow_conv2d_forward", "thnn_conv2d", "conv_transpose2d", "slow_conv_transpose2d",
             "cudnn_convolution_transpose", "miopen_convolution"),
    "deform_conv": ("deform_conv2d",),
    "grid_sample": ("grid_sampler_2d", "grid_sampler", "cudnn_grid_sampler"),
    "interpolate": ("upsample_nearest2d", "upsample_bilinear2d", "_upsample_nearest_exact2d",
                    "_upsample_bilinear2d_aa", "upsample_bicubic2d"),
    "norm": ("native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
             "batch_norm", "cudnn_batch_norm", "miopen_batch_norm", "native_layer_norm", "layer_norm",
             "native_group_norm", "group_norm", "instance_norm"),
    "dropout": ("native_dropout", "dropout", "feature_dropout"),
}


# Library entry points whose CPU path decomposes into basic operators *before* a dispatch mode
# sees them, so SHORTCUT_OPS cannot catch them there: aten::dropout only calls native_dropout for
# CUDA/XPU inputs, and on CPU it is bernoulli_ + mul. They are caught one level up, as Python calls,
# when their training flag is on: function -> default of that flag (positional index 2, keyword
# ``training`` or ``train``).
_SHORTCUT_FUNCTIONS: dict[str, dict[Callable, bool]] = {
    "dropout": {
        F.dropout: True, F.dropout1d: True, F.dropout2d: True, F.dropout3d: True,
        F.alpha_dropout: False, F.feature_alpha_dropout: False,
        torch.dropout: True, torch.dropout_: True, torch.feature_dropout: True,
        torch.feature_dropout_: True, torch.alpha_dropout: True, torch.alpha_dropout_: True,
        torch.feature_alpha_dropout: True, torch.feature_alpha_dropout_: True,
    },
}


def _shortcut_message(name: str, what: str) -> str:
    return (f"your code calls {name} ({what}), the routine this question asks "
            "you to implement: write it with basic tensor operations instead")


class _ForbidFunctions(TorchFunctionMode):
    def __init__(self, functions: dict[Callable, bool], what: str):
        super().__init__()
        self.functions, self.what = functions, what

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        try:
            default = self.functions.get(func)
        except TypeError:  # an unhashable callable is no shortcut
            default = None
        if default is not None:
            training = args[2] if len(args) > 2 else kwargs.get("training", kwargs.get("train", default))
            if training:
                raise ShortcutUsed(_shortcut_message(getattr(func, "__name__", str(func)), self.what))
        return func(*args, **kwargs)


class _Forbid(TorchDispatchMode):
    def __init__(self, ops: set[str], what: str):
        super().__init__()
        self.ops, self.what = ops, what

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # No torch.compile runs under this guard: skipping the wrapper that disables dynamo
        # saves importing torch._dynamo (~1.5 s) in every graded notebook.
        return False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__ if hasattr(func, "overloadpacket") else str(func)
        if name in self.ops:
            raise ShortcutUsed(_shortcut_message(name, self.what))
        return func(*args, **(kwargs or {}))


_TRIPPED: list[str] = []  # references called while a tripwire was in place


def _trip():
    """Called by a tripwire (see :func:`no_shortcuts`): record the reference's name and refuse."""
    name = sys._getframe(1).f_code.co_name
    _TRIPPED.append(name)
    raise ShortcutUsed(f"your code calls the course's reference {name}: write your own")


def _tripwire(*args, **kwargs):
    # Runs with the reference function's globals: it may use builtins only.
    return __import__("helpers.checks", fromlist=["_trip"])._trip()


@contextlib.contextmanager
def _tripwires(functions: Iterable[Callable]):
    """Swap each function's code for a tripwire, so any call to it - however it was imported,
    aliased or stored - fails, at no cost to the code that does not call it."""
    saved = []
    try:
        for f in functions:
            code = getattr(f, "__code__", None)
            if code is None or code.co_freevars:
                continue
            saved.append((f, code, f.__defaults__, f.__kwdefaults__))
            f.__code__ = _tripwire.__code__.replace(co_name=code.co_name)
            f.__defaults__, f.__kwdefaults__ = None, None
        yield
    finally:
        for f, code, defaults, kwdefaults in saved:
            f.__code__, f.__defaults__, f.__kwdefaults__ = code, defaults, kwdefaults


@contextlib.contextmanager
def no_shortcuts(*groups: str, functions: Iterable[Callable] = ()):
    """Run a student's implementation with the library shortcut disabled.

    ``groups`` name entries of :data:`SHORTCUT_OPS` (``"conv"``, ``"interpolate"``, ...): any call
    that reaches those operators - ``F.conv2d``, ``nn.Conv2d``, ``torch.conv2d`` alike - raises
    :class:`ShortcutUsed`. ``functions`` are Python functions (the ``helpers`` references): while
    the block runs their code is swapped for a tripwire, so calling them however they were
    imported raises :class:`ShortcutUsed`, also after the block if the student's code caught it.
    """
    ops = {op for g in groups for op in SHORTCUT_OPS[g]}
    python_level = {f: d for g in groups for f, d in _SHORTCUT_FUNCTIONS.get(g, {}).items()}
    what = ", ".join(groups) or "library routine"
    del _TRIPPED[:]
    with contextlib.ExitStack() as modes:
        modes.enter_context(_tripwires(functions))
        if python_level:  # only when needed: a function mode sees every torch call
            modes.enter_context(_ForbidFunctions(python_level, what))
        modes.enter_context(_Forbid(ops, what))
        yield
    if _TRIPPED:
        name = _TRIPPED[0]
        del _TRIPPED[:]
        raise ShortcutUsed(f"your code calls the course's reference {name}: write your own")


def run_student(fn: Callable, *args, forbid: tuple[str, ...] = (), functions: Iterable[Callable] = (),
                name: str | None = None, **kwargs):
    """Call a student's function with shortcuts disabled; turn a crash into a clear failure.

    ``forbid`` names :data:`SHORTCUT_OPS` groups, ``functions`` the references (see :func:`no_shortcuts`);
    other keyword arguments go to ``fn``.
    """
    label = name or getattr(fn, "__name__", "your function")
    if not callable(fn):
        _fail(f"{label} is not a function (did you run its cell?)")
    try:
        with no_shortcuts(*forbid, functions=functions):
            return fn(*args, **kwargs)
    except CheckFailed:
        raise
    except NotImplementedError:
        _fail(f"{label} is not implemented yet")
    except Exception as e:  # noqa: BLE001 - report, don't crash the grader
        _fail(f"{label} raised {type(e).__name__}: {e}")
