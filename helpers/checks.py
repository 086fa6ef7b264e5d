"""Self-check helpers the notebooks' tests use: clear messages, exact types, no shortcuts.

Every public check says what was expected, what came back, and the likely mistake.
The same functions back the hidden tests, which call them with ``reveal=False`` so that a
failure message never carries the expected value.
"""
from __future__ import annotations

import contextlib
import inspect
import sys
import threading
import types
from typing import Callable, Iterable, Mapping

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

HIDDEN_NOTE = "(Hidden tests with other inputs run when your notebook is graded.)"


class CheckFailed(AssertionError):
    """A wrong answer: the message is written for the student.

    ``mistake`` names the likely mistake ('' when none is known), without any value: the class
    report counts it across students, hidden tests included.
    """

    mistake: str = ""


class ShortcutUsed(CheckFailed):
    """The answer called the library routine the question asks you to implement."""


def _fail(message: str, reveal: bool = False, hint: str = "") -> None:
    # A public check (reveal=True) reminds the student that passing it is not the whole grade.
    # ``hint`` is ": <likely mistake>"; its first clause is the mistake's name.
    error = CheckFailed(f"{message}{hint}\n{HIDDEN_NOTE}" if reveal else message + hint)
    error.mistake = hint.removeprefix(": ").split(": ")[0].strip()
    raise error


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
        _fail(f"{name}: got {got}" + (f", expected {expected}" if reveal else ", which is not right"),
              reveal, likely_mistake(got, mistakes))


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
        _fail(f"{name}: got {got:g}" + (f", expected {expected:g}" if reveal else ", which is not right"),
              reveal, hint)


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
        _fail(f"{name}: values differ from the reference (max difference {diff:.3g})", reveal, hint)


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
    default value (a weight of 1, a running variance of 1) can hide a mistake.

    Every floating-point entry of the state is overwritten, so the module's own initialisation is
    wasted work: build a large reference on the meta device (``with helpers.runtime.meta_device():``)
    and it is materialised here, with the same values as a module built on the CPU. Torchvision's VGG16
    spends 1.3 s initialising the 124 M parameters of a classifier that a test of its features
    then throws away."""
    if any(t.is_meta for t in module.state_dict().values()):
        module.to_empty(device="cpu")
        with torch.no_grad():
            for key, t in module.state_dict().items():
                if key.endswith("num_batches_tracked"):  # uninitialised memory after to_empty
                    t.zero_()
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
    _fail(f"{what}: the reference block's weights do not load into yours with strict=True{detail}",
          reveal, _block_mistake(ours, theirs, missing, extra, wrong))


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
    import pkgutil

    found = list(extra)
    try:
        library = importlib.import_module("helpers.models")
    except ImportError:  # an older helpers without the module: nothing of it to forbid
        return tuple(found)
    # the package and each family's file (helpers/models/resnet.py ...), private builders included
    modules = [library] + [importlib.import_module(info.name) for info in
                           pkgutil.iter_modules(getattr(library, "__path__", []), "helpers.models.")]
    seen: set[int] = set()
    for module in modules:
        for _, obj in inspect.getmembers(module):
            where = getattr(obj, "__module__", None) or ""
            if id(obj) in seen or not (where == "helpers.models" or where.startswith("helpers.models.")):
                continue
            seen.add(id(obj))
            if inspect.isfunction(obj):
                found.append(obj)
            elif inspect.isclass(obj):
                found += [f for f in vars(obj).values() if inspect.isfunction(f)]
    return tuple(found)



# aten operators behind the library routines students re-implement, by the name a question uses.
# "conv" also lists the private entry points that compute a convolution (slow_conv3d on a depth-1
# input, the dilated kernels, the weight gradient of convolution_backward), so that no spelling of
# a convolution reaches the answer. "grouped_conv" is the same operators, refused only when a call
# runs more than one group (see SHORTCUT_WHEN): ordinary convolutions stay allowed.
SHORTCUT_OPS: dict[str, tuple[str, ...]] = {
    "conv": ("convolution", "_convolution", "_convolution_mode", "conv1d", "conv2d", "conv3d", "conv_tbc",
             "mkldnn_convolution", "cudnn_convolution", "cudnn_convolution_relu", "cudnn_convolution_add_relu",
             "miopen_convolution", "miopen_depthwise_convolution", "convolution_overrideable",
             "_slow_conv2d_forward", "_slow_conv2d_backward", "thnn_conv2d", "slow_conv3d", "slow_conv3d_forward",
             "slow_conv_dilated2d", "slow_conv_dilated3d", "_conv_depthwise2d", "conv_depthwise3d",
             "_nnpack_spatial_convolution", "convolution_backward", "convolution_backward_overrideable",
             "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "slow_conv_transpose2d",
             "slow_conv_transpose3d", "cudnn_convolution_transpose", "miopen_convolution_transpose",
             "mkldnn_convolution_transpose", "_mps_convolution", "_mps_convolution_transpose"),
    "deform_conv": ("deform_conv2d", "_deform_conv2d_backward"),
    "grid_sample": ("grid_sampler_2d", "grid_sampler", "cudnn_grid_sampler", "grid_sampler_2d_backward",
                    "roi_align", "ps_roi_align"),
    "interpolate": ("upsample_nearest2d", "upsample_bilinear2d", "_upsample_nearest_exact2d",
                    "_upsample_bilinear2d_aa", "upsample_bicubic2d", "upsample_nearest1d", "upsample_linear1d",
                    "upsample_nearest3d", "upsample_trilinear3d", "_upsample_nearest_exact1d",
                    "_upsample_nearest_exact3d", "_upsample_bicubic2d_aa"),
    "norm": ("native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
             "_native_batch_norm_legit_functional", "batch_norm", "_batch_norm_impl_index",
             "_batch_norm_with_update", "_batch_norm_no_update", "cudnn_batch_norm", "miopen_batch_norm",
             "native_layer_norm", "layer_norm", "native_group_norm", "group_norm", "instance_norm",
             "batch_norm_update_stats", "batch_norm_stats", "batch_norm_elemt", "_fused_rms_norm", "rms_norm"),
    "dropout": ("native_dropout", "dropout", "feature_dropout", "alpha_dropout", "feature_alpha_dropout",
                "fused_dropout", "_fused_dropout"),
}
SHORTCUT_OPS["grouped_conv"] = SHORTCUT_OPS["conv"]

_DEPTHWISE_OPS = ("_conv_depthwise2d", "conv_depthwise3d", "miopen_depthwise_convolution")  # no groups argument


def _grouped(func, args: tuple, kwargs: dict) -> str:
    """What a convolution call runs when it has more than one group ('' for an ordinary one): its
    ``groups`` argument, found by name in the operator's schema, or a depthwise kernel."""
    name = func.overloadpacket.__name__
    if name in _DEPTHWISE_OPS:
        return f"a depthwise convolution (aten.{name})"
    for i, argument in enumerate(func._schema.arguments):
        if argument.name == "groups":
            groups = args[i] if i < len(args) else kwargs.get("groups", 1)
            return f"a grouped convolution (aten.{name} with groups={groups})" if groups != 1 else ""
    return ""


# Groups whose operators are refused only for some calls: group -> a test on the call
# ``(func, args, kwargs)`` that names what it runs ('' lets it through).
SHORTCUT_WHEN: dict[str, Callable[[object, tuple, dict], str]] = {"grouped_conv": _grouped}

# How a refusal names a group, where its key is not plain words.
_GROUP_WORDS = {"grouped_conv": "convolution with groups > 1"}

# Implementation questions allow only the operators of one entry here (the aten names a dispatch
# mode sees), with one line saying what that means; any other operator - a library convolution, a
# private entry point, a patch extractor where loops are asked for - refuses the answer.
_CREATE = ("empty", "empty_like", "empty_strided", "zeros", "zeros_like", "ones", "ones_like", "full", "full_like",
           "new_zeros", "new_ones", "new_empty", "new_full", "new_empty_strided", "arange", "scalar_tensor",
           "lift_fresh", "lift_fresh_copy", "_to_copy", "to", "clone", "copy_", "detach", "alias", "fill_", "zero_",
           "_local_scalar_dense", "item", "is_nonzero", "result_type", "_has_compatible_shallow_copy_type")
_VIEWS = ("view", "_unsafe_view", "reshape", "select", "slice", "index", "index_put_", "index_put", "unsqueeze",
          "squeeze", "permute", "transpose", "t", "expand", "contiguous", "flatten", "unflatten", "split",
          "split_with_sizes", "chunk", "narrow", "stack", "cat", "unbind", "constant_pad_nd", "pad", "flip",
          "movedim", "numpy_T", "setitem", "select_scatter", "slice_scatter", "copy", "_reshape_alias", "expand_as",
          "masked_fill", "masked_fill_", "where", "clamp", "clamp_min", "clamp_max", "floor", "ceil", "round",
          "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_not", "bitwise_and")
_ARITH = ("add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "neg", "sum", "mean", "addcmul", "addcmul_",
          "rsub", "pow", "sqrt", "rsqrt", "abs", "max", "min", "amax", "amin", "exp", "sign", "dot", "vdot",
          "floor_divide", "remainder", "fmod", "frac", "trunc", "to_dtype")
_PRODUCTS = ("mm", "bmm", "matmul", "einsum", "tensordot", "mv", "addmm", "baddbmm", "linear", "sum_to_size")
ALLOWED_OPS: dict[str, tuple[str, frozenset[str]]] = {
    "none": ("plain arithmetic on numbers (no tensor operation at all)", frozenset()),
    "loops": ("explicit loops over output positions with indexing, products and sums "
              "(no unfold/im2col or strided patch views, no library convolution)",
              frozenset(_CREATE + _VIEWS + _ARITH + _PRODUCTS)),
    "im2col": ("patches unfolded into columns and one matrix product (F.unfold or slicing, then @/matmul/einsum; "
               "no library convolution)",
               frozenset(_CREATE + _VIEWS + _ARITH + _PRODUCTS + ("im2col", "unfold", "as_strided", "expand_copy",
                                                                  "_unsafe_index", "repeat", "repeat_interleave"))),
}


# Library entry points whose CPU path decomposes into basic operators *before* a dispatch mode
# sees them, so SHORTCUT_OPS cannot catch them there: aten::dropout only calls native_dropout for
# CUDA/XPU inputs, and on CPU it is bernoulli_ + mul. They are caught one level up, as Python calls,
# whatever their training flag (function -> that flag's default, kept for reference).
_SHORTCUT_FUNCTIONS: dict[str, dict[Callable, bool]] = {
    "dropout": {
        F.dropout: True, F.dropout1d: True, F.dropout2d: True, F.dropout3d: True,
        F.alpha_dropout: False, F.feature_alpha_dropout: False,
        torch.dropout: True, torch.dropout_: True, torch.feature_dropout: True,
        torch.feature_dropout_: True, torch.alpha_dropout: True, torch.alpha_dropout_: True,
        torch.feature_alpha_dropout: True, torch.feature_alpha_dropout_: True,
    },
}

# Names whose use in an answer's code reaches under the guard: private torch entry points and the
# switches that turn dispatch modes off. Found in the code objects the answer runs (see _static_refusal).
PRIVATE_NAMES = frozenset({
    "_C", "_nn", "_VariableFunctions", "_ops", "aten", "_python_dispatch", "_disable_current_modes",
    "_DisableTorchDispatch", "DisableTorchFunction", "DisableTorchFunctionSubclass", "_DisableFuncTorch",
    "_pop_torch_dispatch_stack", "_pop_torch_function_stack", "_set_torch_function_state",
    "_dispatch_tls_set_dispatch_key_excluded", "_ExcludeDispatchKeyGuard", "_unset_dispatch_mode",
    "_set_dispatch_mode", "_pop_mode", "_pop_mode_temporarily", "_len_torch_dispatch_stack",
})
_PRIVATE_MODULES = ("torch._C", "torch._ops", "torch.utils._python_dispatch", "torch._dispatch", "torch._prims",
                    "torch._refs", "torch._decomp")


def _shortcut_message(name: str, what: str) -> str:
    """One line: what the answer used, and what the question allows."""
    return f"your code calls {name}, which computes what this question asks; this question allows {what}"


def _allows(groups: Iterable[str]) -> str:
    named = ", ".join(_GROUP_WORDS.get(g, g) for g in groups)
    return f"basic tensor operations written by you (not the library's {named})"


def _refused_ops(groups: Iterable[str]) -> dict[str, Callable | None]:
    """aten operator -> None (always refused) or the SHORTCUT_WHEN test that decides per call;
    a group that refuses an operator always wins over one that refuses it sometimes."""
    ops: dict[str, Callable | None] = {}
    for g in groups:
        when = SHORTCUT_WHEN.get(g)
        for op in SHORTCUT_OPS[g]:
            ops[op] = None if when is None or (op in ops and ops[op] is None) else when
    return ops


class _Guard:
    """What one guarded call refuses, shared by every thread the answer starts."""

    def __init__(self, ops: dict[str, Callable | None], what: str, allowed: tuple[str, frozenset[str]] | None):
        self.ops, self.what, self.allowed = ops, what, allowed
        self.refusals: list[str] = []  # the first one is reported, whichever thread it came from
        self.local = threading.local()

    def refuse(self, message: str) -> None:
        self.refusals.append(message)
        raise ShortcutUsed(message)


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
            # Refused in eval mode too: there the library's dropout answers "identity" for the
            # student, and a question that asks for dropout asks for that branch as well.
            raise ShortcutUsed(_shortcut_message(getattr(func, "__name__", str(func)), self.what))
        return func(*args, **kwargs)


_PYTHON_KEY = torch._C.DispatchKey.Python


class _Watch(TorchFunctionMode):
    """Sees every torch call of the answer and refuses it when the dispatch guard below was switched
    off (``torch._C._DisableTorchDispatch``, ``_disable_current_modes``): the operators would run unseen."""

    def __init__(self, guard: _Guard, forbid: "_Forbid"):
        super().__init__()
        self.guard, self.forbid = guard, forbid

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if not getattr(self.guard.local, "inside", False):
            off = torch._C._dispatch_tls_is_dispatch_key_excluded(_PYTHON_KEY)
            if off or self.forbid not in torch.utils._python_dispatch._get_current_dispatch_mode_stack():
                self.guard.refuse(f"your code switches off the grader's operator check around "
                                  f"{getattr(func, '__name__', func)}: not allowed; this question allows {self.guard.what}")
        return func(*args, **(kwargs or {}))


class _Forbid(TorchDispatchMode):
    def __init__(self, guard: _Guard):
        super().__init__()
        self.guard = guard

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # No torch.compile runs under this guard: skipping the wrapper that disables dynamo
        # saves importing torch._dynamo (~1.5 s) in every graded notebook.
        return False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        guard = self.guard
        name = func.overloadpacket.__name__ if hasattr(func, "overloadpacket") else str(func)
        if name in guard.ops:
            when = guard.ops[name]
            used = name if when is None else when(func, args, kwargs or {})
            if used:
                guard.refuse(_shortcut_message(used, guard.what))
        if guard.allowed is not None and name not in guard.allowed[1]:
            guard.refuse(f"your code uses the operator aten.{name}; this question allows only {guard.allowed[0]}")
        if not torch._C._is_torch_function_enabled():
            guard.refuse(f"your code switches off torch function handling (at aten.{name}): not allowed; "
                         f"this question allows {guard.what}")
        guard.local.inside = True
        try:
            return func(*args, **(kwargs or {}))
        finally:
            guard.local.inside = False


_TRIPPED: list[str] = []  # references called while a tripwire was in place


def _trip():
    """Called by a tripwire (see :func:`no_shortcuts`): record the reference's name and refuse."""
    name = sys._getframe(1).f_code.co_name
    _TRIPPED.append(name)
    raise ShortcutUsed(f"your code calls the course's reference {name}; this question allows your own code")


def _tripwire(*args, **kwargs):
    # Runs with the reference function's globals: it may use builtins only.
    return __import__("helpers.checks", fromlist=["_trip"])._trip()


@contextlib.contextmanager
def _tripwires(functions: Iterable[Callable]):
    """Swap each function's code for a tripwire, so any call to it - however it was imported,
    aliased or stored - fails, at no cost to the code that does not call it."""
    saved = []
    # A function with free variables (a method using ``super()``, e.g. torchvision's
    # ``MobileNetV2.__init__``) cannot take the tripwire's code, which has none: a profile hook
    # watches for calls of those code objects instead, only while such functions are guarded.
    watched = set()
    previous = sys.getprofile()

    def watch(frame, event, arg):
        if event == "call" and frame.f_code in watched:
            _TRIPPED.append(frame.f_code.co_name)
            raise ShortcutUsed(f"your code calls the course's reference {frame.f_code.co_name}: write your own")

    try:
        for f in functions:
            code = getattr(f, "__code__", None)
            if code is None:
                continue
            if code.co_freevars:
                watched.add(code)
                continue
            saved.append((f, code, f.__defaults__, f.__kwdefaults__))
            f.__code__ = _tripwire.__code__.replace(co_name=code.co_name)
            f.__defaults__, f.__kwdefaults__ = None, None
        if watched:
            sys.setprofile(watch)
            threading.setprofile(watch)
        yield
    finally:
        if watched:
            sys.setprofile(previous)
            threading.setprofile(None)
        for f, code, defaults, kwdefaults in saved:
            f.__code__, f.__defaults__, f.__kwdefaults__ = code, defaults, kwdefaults


@contextlib.contextmanager
def _modes(guard: _Guard, python_level: dict[Callable, bool]):
    """The guard's modes on the current thread (dispatch modes are per thread)."""
    with contextlib.ExitStack() as modes:
        if python_level:  # only when needed: a function mode sees every torch call
            modes.enter_context(_ForbidFunctions(python_level, guard.what))
        forbid = _Forbid(guard)
        modes.enter_context(forbid)
        modes.enter_context(_Watch(guard, forbid))
        yield


@contextlib.contextmanager
def _every_thread(guard: _Guard, python_level: dict[Callable, bool]):
    """Threads the answer starts run under the same guard: ``threading.Thread`` (and so
    ``concurrent.futures``) start through ``threading._start_new_thread``, raw threads through
    ``_thread.start_new_thread``; both are wrapped while the answer runs."""
    import _thread

    def wrap(start):
        def start_new_thread(function, args=(), kwargs=None):
            def guarded(*a, **k):
                with _modes(guard, python_level):
                    return function(*a, **k)
            return start(guarded, args, kwargs or {})
        return start_new_thread

    saved = (threading._start_new_thread, _thread.start_new_thread)
    threading._start_new_thread, _thread.start_new_thread = wrap(saved[0]), wrap(saved[1])
    try:
        yield
    finally:
        threading._start_new_thread, _thread.start_new_thread = saved


@contextlib.contextmanager
def no_shortcuts(*groups: str, functions: Iterable[Callable] = (), allowed: str | None = None):
    """Run a student's implementation with the library shortcut disabled.

    ``groups`` name entries of :data:`SHORTCUT_OPS` (``"conv"``, ``"interpolate"``, ...): any call
    that reaches those operators - ``F.conv2d``, ``nn.Conv2d``, ``torch.conv2d`` alike - raises
    :class:`ShortcutUsed` (for a group of :data:`SHORTCUT_WHEN`, only the calls its test names:
    ``"grouped_conv"`` refuses a convolution with ``groups > 1``, not one with ``groups=1``). ``allowed`` names an entry of :data:`ALLOWED_OPS`: then every other
    operator is refused too. ``functions`` are Python functions (the ``helpers`` references): while
    the block runs their code is swapped for a tripwire, so calling them however they were
    imported raises :class:`ShortcutUsed`, also after the block if the student's code caught it.
    The same holds on every thread started inside the block; switching the check off refuses too.
    """
    ops = _refused_ops(groups)
    python_level = {f: d for g in groups for f, d in _SHORTCUT_FUNCTIONS.get(g, {}).items()}
    if allowed is not None and allowed not in ALLOWED_OPS:
        raise ValueError(f"no_shortcuts(allowed={allowed!r}): not one of {sorted(ALLOWED_OPS)}")
    guard = _Guard(ops, _allows(groups) if groups else "your own code", ALLOWED_OPS.get(allowed))
    if guard.allowed is not None:
        guard.what = guard.allowed[0]
    del _TRIPPED[:]
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(_tripwires(functions))
            stack.enter_context(_every_thread(guard, python_level))
            stack.enter_context(_modes(guard, python_level))
            yield
    except Exception:
        if guard.refusals:  # the answer failed because a thread of it was refused: say why
            raise ShortcutUsed(guard.refusals[0]) from None
        raise
    if guard.refusals:  # refused on another thread, or caught by the answer itself
        raise ShortcutUsed(guard.refusals[0])
    if _TRIPPED:
        name = _TRIPPED[0]
        del _TRIPPED[:]
        raise ShortcutUsed(f"your code calls the course's reference {name}; this question allows your own code")


# --- what the answer's code is made of (checked before it runs) -----------------------------

def _code_key(code: types.CodeType) -> tuple:
    """A code object without its names of locals, file and line numbers: equal for a function and a
    copy of it pasted under other local names (its docstring dropped)."""
    consts = tuple(_code_key(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts)
    if consts and code.co_consts and isinstance(code.co_consts[0], str):
        consts = consts[1:]
    return code.co_code, code.co_names, consts, code.co_argcount, code.co_kwonlyargcount


def _own_functions(obj, seen: set[int] | None = None, depth: int = 0) -> list[types.FunctionType]:
    """The Python functions an answer runs that are not the library's: ``obj`` itself (a function,
    a bound method, a class's methods, a module's class) and the functions its code reaches
    through globals, closures and defaults, a few levels deep."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 4:
        return []
    seen.add(id(obj))
    if isinstance(obj, types.MethodType):
        obj = obj.__func__
    if isinstance(obj, torch.nn.Module):
        obj = type(obj)
    if inspect.isclass(obj):
        if str(obj.__module__).startswith(("torch", "helpers", "builtins", "torchvision")):
            return []
        found = []
        for value in vars(obj).values():
            value = getattr(value, "__func__", value)
            if inspect.isfunction(value):
                found += _own_functions(value, seen, depth + 1)
        return found
    if not inspect.isfunction(obj):
        return []
    found = [obj]
    reached = [obj.__globals__.get(n) for n in _names(obj.__code__)]
    reached += [c.cell_contents for c in (obj.__closure__ or ()) if _has_contents(c)]
    reached += list(obj.__defaults__ or ())
    for value in reached:
        if inspect.isfunction(value) or inspect.isclass(value) or isinstance(value, types.MethodType):
            if not str(getattr(value, "__module__", "")).startswith(("torch", "helpers", "torchvision")):
                found += _own_functions(value, seen, depth + 1)
            elif inspect.isfunction(value):
                found.append(value)  # a library function: its code is compared, not followed
    return found


def _has_contents(cell) -> bool:
    try:
        cell.cell_contents
        return True
    except ValueError:
        return False


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _names(c)
    return names


def _is_private(value) -> bool:
    module = getattr(value, "__module__", None) or getattr(value, "__name__", "")
    if type(value).__name__ in ("OpOverload", "OpOverloadPacket", "_OpNamespace"):
        return True
    name = getattr(value, "__name__", "")
    return (str(module).startswith(_PRIVATE_MODULES) and (name.startswith("_") or name in PRIVATE_NAMES)) \
        or (isinstance(value, types.ModuleType) and value.__name__.startswith(_PRIVATE_MODULES))


def _static_refusal(fn, references: Iterable[Callable], allows: str) -> str | None:
    """Why ``fn`` may not run, from its code alone: it reuses a reference routine's code (the same
    code object, or the same bytecode under other names), or it names a private torch entry point
    (``torch._C``, ``torch.ops``, ``torch.utils._python_dispatch``) directly or through a global."""
    refs = {}
    for r in references:
        code = getattr(r, "__code__", None)
        if code is not None:
            refs[id(code)] = r
            refs[_code_key(code)] = r
    own = _own_functions(fn)
    for f in own:
        ref = refs.get(id(f.__code__)) or refs.get(_code_key(f.__code__))
        if ref is not None and ref is not f:
            return (f"your {f.__name__} reuses the code of the course's {ref.__module__}.{ref.__qualname__}: "
                    f"write your own; this question allows {allows}")
        if ref is f:
            continue
        if str(f.__module__).startswith(("torch", "helpers", "torchvision")):
            continue
        private = sorted(_names(f.__code__) & PRIVATE_NAMES)
        values = [f.__globals__.get(n) for n in _names(f.__code__)]
        values += [c.cell_contents for c in (f.__closure__ or ()) if _has_contents(c)]
        if not private:
            private = [getattr(v, "__name__", repr(v)) for v in values if v is not None and _is_private(v)]
        if private:
            return (f"your {f.__name__} uses a private torch entry point ({private[0]}): not allowed; "
                    f"this question allows {allows}")
    return None


def run_student(fn: Callable, *args, forbid: tuple[str, ...] = (), functions: Iterable[Callable] = (),
                name: str | None = None, question: str | None = None, **kwargs):
    """Call a student's function with shortcuts disabled; turn a crash into a clear failure.

    ``question`` (``"01_layers/q6_loops"``) derives everything from the question's declaration in
    :mod:`helpers.shortcuts`: the refused operator groups, the references (tripwired and compared
    with the answer's code), the allowed operators of implementation questions. ``forbid`` names
    more :data:`SHORTCUT_OPS` groups, ``functions`` more references (see :func:`no_shortcuts`);
    other keyword arguments go to ``fn``.
    """
    label = name or getattr(fn, "__name__", "your function")
    if not callable(fn):
        _fail(f"{label} is not a function (did you run its cell?)")
    allowed = None
    functions = tuple(functions)
    if question is not None:
        from helpers import shortcuts

        declared = shortcuts.forbidden(question)
        forbid, functions = tuple(dict.fromkeys(tuple(forbid) + declared.ops)), functions + declared.functions
        allowed = declared.allowed
    allows = ALLOWED_OPS[allowed][0] if allowed else "your own code (not the course's routines)"
    refusal = _static_refusal(fn, functions, allows)
    if refusal:
        raise ShortcutUsed(refusal)
    try:
        with no_shortcuts(*forbid, functions=functions, allowed=allowed):
            return fn(*args, **kwargs)
    except CheckFailed:
        raise
    except NotImplementedError:
        _fail(f"{label} is not implemented yet")
    except Exception as e:  # noqa: BLE001 - report, don't crash the grader
        _fail(f"{label} raised {type(e).__name__}: {e}")
