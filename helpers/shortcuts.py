"""What answering each graded question may not call: one declaration per question, read by the
public checks, the hidden tests, the grader's integrity scan and the suite's shortcut students.

Two halves, each kept next to what it protects:

* every ``helpers`` reference routine names the questions it would answer, with
  ``@answers("01_layers/q1_formula")`` on its definition;
* :data:`DECLARATIONS` says, per question, what kind of answer it wants and which torch /
  torchvision routines and operator groups (:data:`helpers.checks.SHORTCUT_OPS`) compute it.

:func:`forbidden` joins both halves for one question; ``checks.run_student(fn, ..., question=...)``
runs a student's answer under it. A question without a declaration has no grade:
``forbidden`` raises :class:`KeyError` for it, and the suite fails.

Kinds of question, and what the guard does for each:

``formula``        the answer is arithmetic on numbers: no tensor operation may run at all;
``implementation`` a layer from primitives: only the aten operators of ``allowed`` (an entry of
                   :data:`ALLOWED_OPS`) may run, plus the refused groups and routines;
``module``         an ``nn.Module`` built from parts: the reference blocks' code may not run;
``tool``           the question is about using the course's counting tools: nothing is refused;
``by hand``        a number or table typed in a cell, which nothing can intercept at grading time:
                   the integrity scan flags an answer cell that calls a routine listed here
                   (``python -m autograder grade`` writes it to integrity.csv). Where the question
                   also asks for the small function of the configuration that gives the number
                   (graded on configurations the student has not seen), that function runs as a
                   ``formula``'s does.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import logging
from dataclasses import dataclass
from typing import Callable, TypeVar

T = TypeVar("T")

KINDS = ("formula", "implementation", "module", "tool", "by hand")

# question -> the helpers routines (functions or classes) that compute its answer, filled by @answers.
_ANSWERS: dict[str, list[Callable]] = {}

# Modules whose decorators must have run before the registry is read.
_LIBRARY = ("helpers.shapes", "helpers.layers", "helpers.counting", "helpers.receptive", "helpers.bench",
            "helpers.blocks", "helpers.summary")


def answers(*questions: str) -> Callable[[T], T]:
    """Declare that the decorated reference routine computes the answer of ``questions``
    (``"unit/question"``); the routine itself is returned unchanged."""
    for q in questions:
        if "/" not in q:
            raise ValueError(f"answers(): {q!r} is not 'unit/question'")

    def register(routine: T) -> T:
        for q in questions:
            _ANSWERS.setdefault(q, []).append(routine)
        return routine
    return register


@dataclass(frozen=True)
class Declaration:
    """What one question may not call (see the module docstring for ``kind``)."""

    kind: str
    ops: tuple[str, ...] = ()        # SHORTCUT_OPS groups whose operators are refused
    allowed: str | None = None       # ALLOWED_OPS entry: the only aten operators that may run
    library: tuple[str, ...] = ()    # dotted names of torch/torchvision/helpers callables refused
    modules: tuple[str, ...] = ()    # modules all of whose routines are refused (the reference networks)
    note: str = ""                   # for "tool" and "by hand": what the student must do

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Declaration(kind={self.kind!r}): kind must be one of {KINDS}")


CONV = ("conv",)
_TV_RESNET = ("torchvision.models.resnet.BasicBlock.forward", "torchvision.models.resnet.Bottleneck.forward")
_TV_MBCONV = ("torchvision.models.mobilenetv2.InvertedResidual.forward",
              "torchvision.models.efficientnet.MBConv.forward")
_TV_SE = ("torchvision.ops.misc.SqueezeExcitation.forward", "torchvision.ops.misc.SqueezeExcitation._scale")
_RF_TOOLS = "the receptive-field tools (receptive_field, receptive_fields_by_module, empirical_receptive_field)"
_COUNT_TOOLS = "count_params, count_macs, macs_by_module, summary or a forward pass"

# question -> declaration. The helpers routines come from @answers on their definitions.
DECLARATIONS: dict[str, Declaration] = {
    # --- 01_layers ---
    "01_layers/q1_formula": Declaration("formula"),
    "01_layers/q1_shapes": Declaration("by hand", note="trace the shapes with the formula, not summary() or a forward pass"),
    "01_layers/q2_recurrence": Declaration("formula"),
    "01_layers/q2_numbers": Declaration("by hand", note=f"apply the recurrence yourself, not {_RF_TOOLS}"),
    "01_layers/q2_center": Declaration("formula", library=("helpers.receptive.closed_form.receptive_field",),
                                       note=f"apply the recurrence yourself, not {_RF_TOOLS}"),
    "01_layers/q3_dilation": Declaration("formula", note="the numbers by hand, not conv_output_size or receptive_field"),
    "01_layers/q4_bilinear": Declaration("implementation", ops=("grid_sample", "interpolate", "deform_conv") + CONV,
                                         library=("torchvision.ops.roi_align", "torchvision.ops.ps_roi_align")),
    "01_layers/q4_deform": Declaration("implementation", ops=CONV + ("deform_conv", "grid_sample", "interpolate"),
                                       library=("torchvision.ops.deform_conv2d", "torchvision.ops.DeformConv2d.forward")),
    "01_layers/q5_cost": Declaration("formula", note=f"count by hand, not with {_COUNT_TOOLS}"),
    "01_layers/q5_pointwise": Declaration("by hand", note=f"count by hand, not with {_COUNT_TOOLS}"),
    "01_layers/q5_other": Declaration("formula", library=("helpers.shapes.conv_output_size",),
                                      note="the output-size formula on every axis, not a forward pass"),
    "01_layers/q6_loops": Declaration("implementation", ops=CONV, allowed="loops"),
    "01_layers/q6_im2col": Declaration("implementation", ops=CONV, allowed="im2col"),
    "01_layers/q7_upsample": Declaration("implementation", ops=("interpolate", "grid_sample") + CONV),
    "01_layers/q7_table": Declaration("by hand", note="compute the table entry yourself, not with F.interpolate"),
    "01_layers/q7_transposed": Declaration("implementation", ops=CONV),
    "01_layers/q8_norms": Declaration("implementation", ops=("norm",)),
    "01_layers/q8_running": Declaration("implementation", ops=("norm",)),
    "01_layers/q8_dropout": Declaration("implementation", ops=("dropout",)),
    "01_layers/q8_ensemble": Declaration("tool", note="run the network itself in training mode and average"),
    # --- 02_blocks ---
    "02_blocks/q1_vgg_params": Declaration("formula"),
    "02_blocks/q1_vgg_numbers": Declaration("by hand", note=f"by hand, not with count_params or {_RF_TOOLS}"),
    "02_blocks/q2_numbers": Declaration("by hand", note=f"count by hand, not with {_COUNT_TOOLS}"),
    "02_blocks/q2_costs": Declaration("formula"),
    "02_blocks/q2_torchvision": Declaration("by hand", note="from the two kernel sizes, not count_params on the networks"),
    "02_blocks/q3_basic_block": Declaration("module", library=_TV_RESNET),
    "02_blocks/q3_bottleneck": Declaration("module", library=_TV_RESNET),
    "02_blocks/q3_costs": Declaration("by hand", note=f"count by hand, not with {_COUNT_TOOLS}"),
    "02_blocks/q4_grouped": Declaration("implementation", ops=("grouped_conv",)),
    "02_blocks/q4_branches": Declaration("implementation", ops=("grouped_conv",)),
    "02_blocks/q4_count": Declaration("formula"),
    "02_blocks/q5_ratio": Declaration("formula"),
    "02_blocks/q5_block": Declaration("module"),
    "02_blocks/q6_inverted_residual": Declaration("module", library=_TV_MBCONV),
    "02_blocks/q6_se": Declaration("module", library=_TV_SE),
    "02_blocks/q6_global": Declaration("by hand", note=f"reason it out, not with {_RF_TOOLS}"),
    "02_blocks/q7_rf": Declaration("by hand", note=f"reason it out, not with {_RF_TOOLS}"),
    # --- 03_architectures ---
    "03_architectures/q0_lenet": Declaration("by hand", note="from the layer descriptions, not count_params on helpers.models.lenet5"),
    "03_architectures/q1_vgg_layers": Declaration("module", modules=("helpers.models",),
                                                  library=("torchvision.models.vgg.make_layers", "torchvision.models.vgg._vgg")),
    "03_architectures/q1_cost_split": Declaration("tool", note="the question is to use macs_by_module and count_params"),
    "03_architectures/q1_vgg_stages": Declaration("by hand", note=f"9 * C_in * C_out * H * W per convolution by hand, not with {_COUNT_TOOLS}"),
    "03_architectures/q1_alexnet": Declaration("by hand", note="with the output-size formula by hand, not conv_output_size or summary()"),
    "03_architectures/q2_inception_stack": Declaration("formula"),
    "03_architectures/q2_paper_vs_torchvision": Declaration("by hand", note="from the table, not count_params on the networks"),
    "03_architectures/q3_stages": Declaration("by hand", note="copy the paper's table, not the builders in helpers.models or torchvision"),
    "03_architectures/q3_resnet": Declaration("module", modules=("helpers.models",),
                                              library=("torchvision.models.resnet._resnet", "torchvision.models.resnet.ResNet._make_layer",
                                                       "torchvision.models.resnet.ResNet._forward_impl")),
    "03_architectures/q3_costs": Declaration("tool", note="resnet_params uses count_params on your MyResNet; to_v1 edits strides"),
    "03_architectures/q4_mobilenet": Declaration("module", modules=("helpers.models",),
                                                 library=("torchvision.models.mobilenetv2.MobileNetV2",)),
    "03_architectures/q4_parts": Declaration("tool", note="count_params on the parts of your MyMobileNetV2"),
    "03_architectures/q5_compound": Declaration("formula"),
    "03_architectures/q5_plan": Declaration("implementation", modules=("helpers.models",),
                                            library=("torchvision.models.efficientnet._efficientnet_conf",)),
    "03_architectures/q6_block": Declaration("module", modules=("helpers.models",),
                                             library=("torchvision.models.convnext.CNBlock",)),
    "03_architectures/q6_numbers": Declaration("by hand", note="the widths from the paper, the stage sizes by hand: not helpers.models, torchvision's builders or a forward pass"),
    "03_architectures/q7_rf": Declaration("formula"),
    "03_architectures/q7_global": Declaration("by hand", note=f"reason it out, not with {_RF_TOOLS}"),
    "03_architectures/q7_pareto": Declaration("formula"),
    "03_architectures/q8_residual": Declaration("module", library=_TV_RESNET),
    "03_architectures/q8_claim": Declaration("tool", note="read the training curves the notebook recorded"),
    # --- 04_efficiency ---
    "04_efficiency/q1_stages": Declaration("tool", note="the question is to use macs_by_module and count_params"),
    "04_efficiency/q1_flops": Declaration("by hand", note="count by hand, not with count_macs, fvcore, ptflops or thop"),
    "04_efficiency/q2_pareto": Declaration("formula"),
    "04_efficiency/q3_measure": Declaration("implementation", library=("torch.utils.benchmark.Timer.timeit",
                                                                      "torch.utils.benchmark.Timer.blocked_autorange")),
    "04_efficiency/q4_intensity": Declaration("formula"),
    "04_efficiency/q5_param_bytes": Declaration("implementation"),
    "04_efficiency/q5_batch": Declaration("formula"),
    "04_efficiency/q6_scaling": Declaration("formula"),
    "04_efficiency/q7_fold": Declaration("implementation", ops=("norm",),
                                         library=("torch.nn.utils.fusion.fuse_conv_bn_eval",
                                                  "torch.nn.utils.fusion.fuse_conv_bn_weights")),
    "04_efficiency/q7_speedup": Declaration("formula"),
}


def declaration(question: str) -> Declaration:
    """The declaration of ``question`` (``"unit/question"``); KeyError names a missing one."""
    try:
        return DECLARATIONS[question]
    except KeyError:
        raise KeyError(f"question {question!r} has no shortcut declaration in helpers.shortcuts.DECLARATIONS: "
                       "add one (what answering it may not call) before grading it") from None


def _quiet_import(name: str):
    """``importlib.import_module``, without the log lines some torch modules write at import
    (``torch.utils.benchmark`` brings ``cpp_extension``, which warns on stderr when CUDA_HOME exists
    without a CUDA runtime): nbgrader scores a test cell that writes to stderr 0."""
    logger = logging.getLogger("torch")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        return importlib.import_module(name)
    finally:
        logger.setLevel(level)


def _resolve(dotted: str):
    """``"torchvision.models.resnet.ResNet._make_layer"`` -> the object: the longest importable module
    prefix that has the rest as attributes (``torchvision.ops.roi_align`` is the function)."""
    parts = dotted.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = _quiet_import(".".join(parts[:i]))
            for name in parts[i:]:
                obj = getattr(obj, name)
            return obj
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"cannot resolve {dotted!r}")


def _functions_of(routine) -> list[Callable]:
    """A function itself; a class's own methods (``forward`` and helpers, not ``__init__``, so that
    building a reference block to compare with stays possible)."""
    if inspect.isclass(routine):
        return [f for name, f in vars(routine).items() if inspect.isfunction(f) and name != "__init__"]
    return [routine]


def _module_functions(module_name: str) -> list[Callable]:
    """Every function and method defined in ``module_name`` and its submodules (a package)."""
    module = importlib.import_module(module_name)
    modules = [module]
    if hasattr(module, "__path__"):
        import pkgutil
        modules += [importlib.import_module(f"{module_name}.{m.name}") for m in pkgutil.iter_modules(module.__path__)]
    found: list[Callable] = []
    for mod in modules:
        for _, obj in inspect.getmembers(mod):
            if not str(getattr(obj, "__module__", "")).startswith(module_name):
                continue
            if inspect.isfunction(obj):
                found.append(obj)
            elif inspect.isclass(obj):
                found += [f for f in vars(obj).values() if inspect.isfunction(f)]
    return found


def routines(question: str) -> list[Callable]:
    """The helpers routines declared with ``@answers(question)`` (functions or classes)."""
    for name in _LIBRARY:
        importlib.import_module(name)
    return list(_ANSWERS.get(question, []))


@dataclass(frozen=True)
class Forbidden:
    """Everything the guard needs for one question, derived from its declaration."""

    question: str
    kind: str
    ops: tuple[str, ...]
    allowed: str | None
    functions: tuple[Callable, ...]   # Python functions whose code is swapped for a tripwire
    names: tuple[str, ...]            # their dotted names, for messages and the integrity scan


@functools.lru_cache(maxsize=None)
def forbidden(question: str) -> Forbidden:
    """Join ``question``'s declaration and the routines that declare they answer it."""
    decl = declaration(question)
    library = [_resolve(d) for d in decl.library]
    objs = routines(question) + library
    functions: list[Callable] = []
    for obj in objs:
        functions += _functions_of(obj)
    # A library class named in the declaration (torchvision's own network) may not even be built:
    # a structure-only test would otherwise pass with it.
    functions += [obj.__init__ for obj in library if inspect.isclass(obj) and inspect.isfunction(obj.__init__)]
    for module_name in decl.modules:
        functions += _module_functions(module_name)
    unique = list(dict.fromkeys(functions))
    names = tuple(dict.fromkeys(f"{getattr(o, '__module__', '?')}.{getattr(o, '__qualname__', o)}" for o in objs))
    allowed = decl.allowed if decl.kind == "implementation" else None
    if decl.kind in ("formula", "by hand"):
        allowed = "none"  # arithmetic on numbers: no tensor operation at all
    return Forbidden(question, decl.kind, decl.ops, allowed, tuple(unique), names + decl.modules)


def forbidden_names(question: str) -> set[str]:
    """Short names the answer cells of ``question`` may not call (for the integrity scan): the
    declared routines' own names and those of their dotted library entries."""
    decl = declaration(question)
    names = {getattr(r, "__name__", "") for r in routines(question)}
    names |= {d.rsplit(".", 1)[-1] for d in decl.library}
    return {n for n in names if n and not n.startswith("_") and n not in {"forward", "__init__"}}
