"""Shortcut students score 0: every question's declaration (helpers.shortcuts) is proven against
otter's own test files, run in-process like the mutants.

* generated students: each routine a question declares is used as the answer where its signature
  fits the answer's (a wrapper that calls it, or the class itself);
* hand-written students (:data:`HAND`) for the rest: torch routines under other names, the
  reference networks, and the ways around the guard (private operators, threads, switched-off
  dispatch, a reference's code object, im2col where loops are asked for);
* every test case that receives the replaced answer must fail; the honest solutions keep full
  marks (tests/test_0N_*.py);
* by-hand questions grade a typed number, so no call can be intercepted there: an answer cell that
  computes it with a ruled-out routine is flagged in integrity.csv instead (tests/test_integrity.py).
"""
from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path

import pytest

import course
from helpers import shortcuts

pytestmark = pytest.mark.slow("builds each unit's otter tests and runs every shortcut student against them")

UNITS = ("01_layers", "02_blocks", "03_architectures", "04_efficiency")

# The ways around the convolution guard that a student found (each scored full marks on q6_loops before).
ESCAPES_Q6_LOOPS: dict[str, str] = {
    "private slow_conv3d on a depth-1 input": """
        def conv2d_loops(x, weight, bias=None, stride=1, padding=0):
            out = torch._C._nn.slow_conv3d(x.unsqueeze(2), weight.unsqueeze(2), (1, *weight.shape[-2:]), bias,
                                           (1, stride, stride), (0, padding, padding))
            return out.squeeze(2)
    """,
    "private slow_conv_dilated2d": """
        def conv2d_loops(x, weight, bias=None, stride=1, padding=0):
            return torch._C._nn.slow_conv_dilated2d(x, weight, weight.shape[-2:], bias, (stride, stride),
                                                    (padding, padding), (1, 1))
    """,
    "convolution_backward used as a forward convolution": """
        def conv2d_loops(x, weight, bias=None, stride=1, padding=0):
            N, C, H, W = x.shape
            k = weight.shape[-1]
            H_out, W_out = (H + 2 * padding - k) // stride + 1, (W + 2 * padding - k) // stride + 1
            # the weight gradient of a convolution of x with grad_output g is the correlation of x and g
            out = x.new_zeros(N, weight.shape[0], H_out, W_out)
            for n in range(N):
                grad = torch.ops.aten.convolution_backward(
                    weight.transpose(0, 1).unsqueeze(0).new_zeros(1, 1, 1, 1), x[n:n + 1].transpose(0, 1),
                    weight.new_zeros(1, 1, 1, 1), None, (stride, stride), (padding, padding), (1, 1), False, (0, 0), 1,
                    (False, False, False))
                out[n] = torch.nn.functional.conv2d(x[n:n + 1], weight, bias, stride, padding)[0]
            return out
    """,
    "F.conv2d in a threading.Thread": """
        import threading
        def conv2d_loops(x, weight, bias=None, stride=1, padding=0):
            box = {}
            worker = threading.Thread(target=lambda: box.update(y=F.conv2d(x, weight, bias, stride, padding)))
            worker.start()
            worker.join()
            return box["y"]
    """,
    "F.conv2d in a raw _thread": """
        import _thread, time
        def conv2d_loops(x, weight, bias=None, stride=1, padding=0):
            box = {}
            def work():
                try:
                    box["y"] = F.conv2d(x, weight, bias, stride, padding)
                finally:
                    box["done"] = True
            _thread.start_new_thread(work, ())
            while "done" not in box:
                time.sleep(0.001)
            return box["y"]
    """,
    "F.conv2d with torch dispatch disabled": """
        def conv2d_loops(x, weight, bias=None, stride=1, padding=0):
            with torch._C._DisableTorchDispatch():
                return F.conv2d(x, weight, bias, stride, padding)
    """,
    "F.conv2d with the current modes disabled": """
        from torch.utils._python_dispatch import _disable_current_modes
        def conv2d_loops(x, weight, bias=None, stride=1, padding=0):
            with _disable_current_modes():
                return F.conv2d(x, weight, bias, stride, padding)
    """,
    "the modes switch captured under another name before grading": """
        _quiet = getattr(getattr(torch, "_" + "C"), "_DisableTorch" + "Dispatch")
        def conv2d_loops(x, weight, bias=None, stride=1, padding=0):
            with _quiet():
                return F.conv2d(x, weight, bias, stride, padding)
    """,
    "the reference rebuilt from its code object": """
        import types
        from helpers import layers as _layers
        conv2d_loops = types.FunctionType(_layers.conv2d_naive.__code__, _layers.conv2d_naive.__globals__,
                                          "conv2d_loops", _layers.conv2d_naive.__defaults__)
    """,
    "F.unfold and a matrix product where loops are asked for": """
        def conv2d_loops(x, weight, bias=None, stride=1, padding=0):
            N, C, H, W = x.shape
            C_out, _, kh, kw = weight.shape
            H_out, W_out = (H + 2 * padding - kh) // stride + 1, (W + 2 * padding - kw) // stride + 1
            cols = F.unfold(x, (kh, kw), padding=padding, stride=stride)
            out = (weight.reshape(C_out, -1) @ cols).view(N, C_out, H_out, W_out)
            return out if bias is None else out + bias.view(1, -1, 1, 1)
    """,
}

# question -> {name: code that replaces the answer} where no declared routine fits the answer's signature.
HAND: dict[str, dict[str, str]] = {
    "01_layers/q1_formula": {"an nn.Conv2d's output": """
        def my_conv_output_size(size, kernel_size, stride=1, padding=0):
            conv = torch.nn.Conv2d(1, 1, kernel_size, stride=stride, padding=padding)
            return conv(torch.zeros(1, 1, size, size)).shape[-1]
    """},
    "01_layers/q1_shapes": {"a forward pass on the meta device": """
        def shapes_for(size):
            with torch.device("meta"):
                net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.MaxPool2d(2),
                                          torch.nn.Conv2d(16, 32, 3, stride=2, padding=1), torch.nn.Conv2d(32, 64, 5))
                x, shapes = torch.empty(1, 3, size, size), []
                for layer in net:
                    x = layer(x)
                    shapes.append(tuple(x.shape[1:]))
            return shapes
    """, "the course's output-size formulas": """
        def shapes_for(size):
            h1 = helpers.conv_output_size(size, 3, padding=1)
            h2 = helpers.shapes.pool_output_size(h1, 2)
            h3 = helpers.conv_output_size(h2, 3, stride=2, padding=1)
            h4 = helpers.conv_output_size(h3, 5)
            return [(16, h1, h1), (16, h2, h2), (32, h3, h3), (64, h4, h4)]
    """},
    "01_layers/q2_recurrence": {"helpers.receptive_field on the layers": """
        def my_receptive_field(layers):
            rf = helpers.receptive_field(layers)
            return rf.size, rf.jump, rf.start if hasattr(rf, "start") else rf[2]
    """},
    "01_layers/q4_bilinear": {"grid_sample": """
        def my_bilinear_sample(img, y, x):
            H, W = img.shape
            grid = torch.tensor([[[[2 * x / (W - 1) - 1, 2 * y / (H - 1) - 1]]]], dtype=img.dtype)
            return F.grid_sample(img[None, None], grid, align_corners=True, padding_mode="zeros")[0, 0, 0, 0]
    """},
    "01_layers/q5_cost": {"count_params and count_macs on an nn.Conv2d": """
        def conv_params(c_in, c_out, kernel_size, groups=1, bias=True):
            return helpers.count_params(torch.nn.Conv2d(c_in, c_out, kernel_size, groups=groups, bias=bias))
        def conv_macs(c_in, c_out, kernel_size, h_out, w_out, groups=1):
            conv = torch.nn.Conv2d(c_in, c_out, kernel_size, groups=groups, padding=kernel_size // 2)
            return helpers.count_macs(conv, (c_in, h_out, w_out))
    """},
    "01_layers/q6_loops": ESCAPES_Q6_LOOPS,
    "01_layers/q6_im2col": {"F.conv2d": """
        def conv2d_im2col(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
            return F.conv2d(x, weight, bias, stride, padding, dilation, groups)
    """},
    "01_layers/q7_upsample": {"F.interpolate": """
        def upsample_nearest_mine(x, scale):
            return F.interpolate(x, scale_factor=scale, mode="nearest")
        def upsample_bilinear_mine(x, scale, align_corners=False):
            return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=align_corners)
    """},
    "01_layers/q7_transposed": {"conv_transpose2d": """
        def my_conv_transpose_output_size(size, kernel_size, stride=1, padding=0, output_padding=0):
            return helpers.conv_transpose_output_size(size, kernel_size, stride, padding, output_padding)
        def conv_transpose2d_scatter(x, weight, stride=1, padding=0):
            return F.conv_transpose2d(x, weight, stride=stride, padding=padding)
    """},
    "01_layers/q8_norms": {"F.batch_norm, F.layer_norm and F.group_norm": """
        def normalize_mine(x, dims, eps=1e-5):
            return F.layer_norm(x.movedim(tuple(dims), tuple(range(-len(dims), 0))),
                                [x.shape[d] for d in dims], eps=eps).movedim(tuple(range(-len(dims), 0)), tuple(dims))
        def group_norm_mine(x, num_groups, eps=1e-5):
            return F.group_norm(x, num_groups, eps=eps)
    """},
    "01_layers/q8_running": {"an nn.BatchNorm2d's update": """
        def bn_running_update(running_mean, running_var, x, momentum=0.1):
            bn = torch.nn.BatchNorm2d(x.shape[1], momentum=momentum).to(x.dtype)
            bn.running_mean.copy_(running_mean)
            bn.running_var.copy_(running_var)
            bn.train()(x)
            return bn.running_mean.clone(), bn.running_var.clone()
    """},
    "01_layers/q8_dropout": {"F.dropout": """
        def dropout_mine(x, p, training=True):
            return F.dropout(x, p, training)
    """},
    "02_blocks/q1_vgg_params": {"count_params on a stack": """
        def stack_params(channels, kernel_size, num_layers, bias=False):
            return helpers.count_params(torch.nn.Sequential(*[torch.nn.Conv2d(channels, channels, kernel_size, bias=bias)
                                                              for _ in range(num_layers)]))
    """},
    "02_blocks/q2_numbers": {"count_macs and a forward pass on the notebook's NaiveInception": """
        def naive_inception_costs(in_channels, ch1x1, ch3x3, ch5x5, size):
            naive = NaiveInception(in_channels, ch1x1, ch3x3, ch5x5)
            with torch.no_grad():
                channels = naive(torch.zeros(1, in_channels, size, size)).shape[1]
            return channels, helpers.count_macs(naive, (in_channels, size, size))
    """},
    "02_blocks/q2_costs": {"count_params and count_macs on torchvision's Inception block": """
        import torchvision.models.googlenet as _g
        def inception_costs(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, size, kernel5=5):
            block = _g.Inception(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)
            branches = [block.branch1, block.branch2, block.branch3, block.branch4]
            return [(helpers.count_params(b), helpers.count_macs(b, (in_channels, size, size))) for b in branches]
    """},
    "02_blocks/q3_costs": {"count_macs on the course's Bottleneck": """
        def bottleneck_macs(inplanes, planes, size, stride=1, stride_on_3x3=True):
            down = None
            if stride != 1 or inplanes != planes * 4:
                down = helpers.blocks.projection(inplanes, planes * 4, stride)
            block = helpers.blocks.Bottleneck(inplanes, planes, stride, down, stride_on_3x3=stride_on_3x3)
            return helpers.count_macs(block, (inplanes, size, size))
    """, "FlopCounterMode on the block built on the meta device": """
        from torch.utils.flop_counter import FlopCounterMode as _Counter
        def bottleneck_macs(inplanes, planes, size, stride=1, stride_on_3x3=True):
            with torch.device("meta"):
                block = tv_resnet.Bottleneck(inplanes, planes, stride, None if stride == 1 and inplanes == planes * 4
                                             else torch.nn.Sequential(conv1x1(inplanes, planes * 4, stride)))
                if not stride_on_3x3:
                    block.conv1.stride, block.conv2.stride = block.conv2.stride, block.conv1.stride
                with _Counter(display=False) as counter:
                    block(torch.empty(1, inplanes, size, size))
            return counter.get_total_flops() // 2
    """},
    "02_blocks/q4_grouped": {"one grouped F.conv2d": """
        def grouped_conv_by_groups(x, weight, groups, padding=0):
            return F.conv2d(x, weight, padding=padding, groups=groups)
    """, "a grouped nn.Conv2d holding the weight": """
        def grouped_conv_by_groups(x, weight, groups, padding=0):
            conv = torch.nn.Conv2d(x.shape[1], weight.shape[0], weight.shape[-1], padding=padding, groups=groups,
                                   bias=False).to(x.dtype)
            with torch.no_grad():
                conv.weight.copy_(weight)
            return conv(x)
    """, "the course's im2col with groups": """
        from helpers.layers import conv2d_im2col as _im2col
        def grouped_conv_by_groups(x, weight, groups, padding=0):
            return _im2col(x, weight, padding=padding, groups=groups)
    """},
    "02_blocks/q4_branches": {"one grouped convolution in the middle": """
        def resnext_as_branches(x, w1, w2, w3, groups):
            h = F.relu(F.conv2d(x, w1))
            h = F.relu(F.conv2d(h, w2.reshape(w1.shape[0], -1, *w2.shape[-2:]), padding=1, groups=groups))
            return F.conv2d(h, w3)
    """, "the course's im2col for the grouped middle": """
        def resnext_as_branches(x, w1, w2, w3, groups):
            h = F.relu(F.conv2d(x, w1))
            h = F.relu(helpers.layers.conv2d_im2col(h, w2, padding=1, groups=groups))
            return F.conv2d(h, w3)
    """},
    "02_blocks/q4_count": {"count_params on torchvision's Bottleneck": """
        import torchvision.models.resnet as _r
        def bottleneck_params(inplanes, planes, stride=1, groups=1, base_width=64):
            down = None
            if stride != 1 or inplanes != planes * 4:
                down = torch.nn.Sequential(_r.conv1x1(inplanes, planes * 4, stride), torch.nn.BatchNorm2d(planes * 4))
            return helpers.count_params(_r.Bottleneck(inplanes, planes, stride, down, groups, base_width))
    """},
    "02_blocks/q5_ratio": {"count_macs on the two blocks": """
        def separable_macs(c_in, c_out, kernel_size, h_out, w_out):
            net = torch.nn.Sequential(torch.nn.Conv2d(c_in, c_in, kernel_size, padding=kernel_size // 2, groups=c_in),
                                      torch.nn.Conv2d(c_in, c_out, 1))
            return helpers.count_macs(net, (c_in, h_out, w_out))
        def separable_ratio(c_out, kernel_size):
            return separable_macs(8, c_out, kernel_size, 4, 4) / helpers.count_macs(
                torch.nn.Conv2d(8, c_out, kernel_size, padding=kernel_size // 2), (8, 4, 4))
    """},
    "03_architectures/q1_vgg_layers": {"torchvision's make_layers": """
        import torchvision.models.vgg as _vgg
        def make_vgg_layers(cfg, batch_norm=False):
            return _vgg.make_layers(cfg, batch_norm)
    """},
    "03_architectures/q2_inception_stack": {"torchvision's GoogLeNet on the meta device": """
        def inception_channels(table, in_channels=192):
            import torchvision.models.googlenet as _g
            pairs = []
            for row in table.values():
                block = _g.Inception(in_channels, *row)
                out = block(torch.zeros(1, in_channels, 4, 4)).shape[1]
                pairs.append((in_channels, out))
                in_channels = out
            return pairs
    """},
    "03_architectures/q3_resnet": {"torchvision's ResNet": """
        import torchvision.models.resnet as _r
        def MyResNet(block, layers, num_classes=1000):
            return _r.ResNet(block, layers, num_classes=num_classes)
    """},
    "03_architectures/q4_mobilenet": {"torchvision's MobileNetV2": """
        import torchvision.models as _tvm
        def MyMobileNetV2(width_mult=1.0, num_classes=1000, dropout=0.2):
            return _tvm.mobilenet_v2(width_mult=width_mult, num_classes=num_classes, dropout=dropout)
    """},
    "03_architectures/q5_compound": {"tensor powers": """
        def compound_scaling(phi, alpha=1.2, beta=1.1, gamma=1.15):
            return tuple(float(v) for v in torch.tensor([alpha, beta, gamma], dtype=torch.float64) ** phi)
    """},
    "03_architectures/q5_plan": {"helpers.models' EfficientNet stages": """
        from helpers.models import efficientnet as _eff
        def efficientnet_plan(width_mult, depth_mult, stages=EFFICIENTNET_B0_STAGES):
            return _eff.efficientnet_stages(width_mult, depth_mult)
    """},
    "03_architectures/q6_block": {"torchvision's CNBlock": """
        import torchvision.models.convnext as _c
        def MyCNBlock(dim, layer_scale=1e-6):
            return _c.CNBlock(dim, layer_scale, 0.0)
    """},
    "03_architectures/q7_rf": {"helpers.receptive_field on the chain": """
        def chain_receptive_field(layers):
            return helpers.receptive_field([(k, s, 0) for k, s in layers]).size
    """},
    "03_architectures/q7_pareto": {"bench.pareto_front on the columns": """
        from helpers import bench as _bench
        def pareto_names(points):
            front = _bench.pareto_front([p[2] for p in points], [p[1] for p in points])
            return [points[i][0] for i in sorted(front, key=lambda i: points[i][2])]
    """},
    "03_architectures/q8_residual": {"torchvision's BasicBlock": """
        import torchvision.models.resnet as _r
        class MyResidualBlock(_r.BasicBlock):
            def __init__(self, channels):
                super().__init__(channels, channels)
                self.bn1 = self.bn2 = torch.nn.Identity()
    """},
    "04_efficiency/q1_flops": {"count_macs and FlopCounterMode on the network": """
        from torch.utils.flop_counter import FlopCounterMode as _Counter
        def small_counts(channels, size, num_classes=10):
            net = small_net(channels, size, num_classes)
            with _Counter(display=False) as counter, torch.no_grad():
                net(torch.zeros(1, 3, size, size))
            macs = helpers.count_macs(net, (3, size, size))
            extra = 5 * channels * size * size + num_classes
            return macs, counter.get_total_flops(), macs + extra, macs + extra + 2 * channels * size * size
    """},
    "04_efficiency/q3_measure": {"torch.utils.benchmark": """
        def measure(fn, warmup, repeats, sync, clock=time.perf_counter):
            import torch.utils.benchmark as _b
            return _b.Timer(stmt="fn()", globals={"fn": fn}).timeit(repeats).median
    """},
    "04_efficiency/q6_scaling": {"count_macs of the built networks": """
        def predicted_macs(phi, b0_macs, alpha=1.2, beta=1.1, gamma=1.15):
            return float(torch.tensor(alpha * beta ** 2 * gamma ** 2, dtype=torch.float64) ** phi * b0_macs)
    """},
    "04_efficiency/q7_fold": {"torch's fuse_conv_bn_eval": """
        from torch.nn.utils.fusion import fuse_conv_bn_eval as _fuse
        def fold_batchnorm(conv, bn):
            return _fuse(conv.eval(), bn.eval())
    """},
}


def _answers(unit: str, question) -> list[str]:
    """The notebook names a question's tests receive."""
    return sorted({a for t in question.tests for a in t.args})


def _fits(answer, routine) -> bool:
    """The routine takes the answer's required arguments in the same places, and its keywords."""
    def params(f):
        f = f.__init__ if inspect.isclass(f) else f
        return [p for p in inspect.signature(f).parameters.values() if p.name != "self"
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    try:
        a, r = params(answer), params(routine)
    except (TypeError, ValueError):
        return False
    required = lambda ps: [p for p in ps if p.default is p.empty]  # noqa: E731
    return len(required(a)) == len(required(r)) and all(p.name in {q.name for q in r} for p in a if p.default is not p.empty)


def _importable(routine) -> str:
    """Code that binds ``_shortcut`` to ``routine`` the way a student would import it."""
    if inspect.isclass(routine) or "." not in routine.__qualname__:
        return f"from {routine.__module__} import {routine.__qualname__} as _shortcut\n"
    owner, name = routine.__qualname__.rsplit(".", 1)
    return f"from {routine.__module__} import {owner} as _owner\n_shortcut = _owner.{name}\n"


def generated(unit: str, question, env: dict) -> dict[str, tuple[str, str]]:
    """name -> (answer replaced, code): each declared routine used as the answer where it fits."""
    key = f"{unit}/{question.name}"
    decl = shortcuts.declaration(key)
    routines = shortcuts.routines(key) + [shortcuts._resolve(d.rsplit(".", 1)[0] if d.endswith((".forward", "._scale"))
                                                            else d) for d in decl.library]
    out = {}
    for answer in _answers(unit, question):
        mine = env.get(answer)
        if not callable(mine):
            continue
        for routine in dict.fromkeys(routines):
            if inspect.isclass(mine) != inspect.isclass(routine) or not _fits(mine, routine):
                continue
            code = _importable(routine)
            code += (f"{answer} = _shortcut\n" if inspect.isclass(routine) else
                     f"def {answer}(*args, **kwargs):\n    return _shortcut(*args, **kwargs)\n")
            out[f"{answer} = {routine.__module__}.{routine.__qualname__}"] = (answer, code)
    return out


def shortcut_students(unit: str, env: dict) -> list[tuple[str, str, str | None, str]]:
    """(question, name, answer replaced or None for all, code) of every shortcut student of ``unit``."""
    students = []
    for q in course.master(unit).questions:
        key = f"{unit}/{q.name}"
        for name, (answer, code) in generated(unit, q, env).items():
            students.append((q.name, name, answer, code))
        for name, code in HAND.get(key, {}).items():
            students.append((q.name, name, None, textwrap.dedent(code)))
    return students


def _replaced(code: str) -> set[str]:
    """Top-level names a shortcut's code binds (its answers)."""
    names = set()
    for node in ast.parse(textwrap.dedent(code)).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def test_every_question_has_a_declaration():
    asked = {f"{u}/{q.name}" for u in UNITS for q in course.master(u).questions}
    assert sorted(asked - set(shortcuts.DECLARATIONS)) == [], "questions without a shortcut declaration"
    assert sorted(set(shortcuts.DECLARATIONS) - asked) == [], "declarations of questions that no longer exist"


def test_every_graded_call_names_its_question():
    """Each run_student call in a test cell passes question= its own question (no pasted lists)."""
    wrong = []
    for unit in UNITS:
        for q in course.master(unit).questions:
            for t in q.tests:
                for node in ast.walk(ast.parse(t.body)):
                    if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "run_student":
                        kw = {k.arg: k.value for k in node.keywords}
                        if ("forbid" in kw or "functions" in kw
                                or getattr(kw.get("question"), "value", None) != f"{unit}/{q.name}"):
                            wrong.append(f"{unit}/{q.name}:{t.function}")
    assert wrong == []


def test_every_question_that_grades_a_function_has_shortcut_students():
    """formula, implementation and module questions each have a shortcut student; tool and by-hand
    questions say in their declaration what the student must do."""
    missing = []
    for unit in UNITS:
        env_names = {a for q in course.master(unit).questions for t in q.tests for a in t.args}
        for q in course.master(unit).questions:
            key = f"{unit}/{q.name}"
            decl = shortcuts.declaration(key)
            if decl.kind in ("tool", "by hand"):
                assert decl.note, f"{key}: a {decl.kind} question's declaration must say what is expected"
                continue
            names = {n for n in env_names if n in {a for t in q.tests for a in t.args}}
            has_generated = any(getattr(r, "__name__", "") for r in shortcuts.routines(key)) or decl.library
            if key not in HAND and not has_generated:
                missing.append(key)
            assert names, key
    assert missing == []


@pytest.mark.parametrize("unit", UNITS)
def test_shortcut_students_score_zero(unit, tmp_path_factory):
    env = course.solution_namespace(course.master(unit))
    tests_dir = course.build_tests_dir(unit, tmp_path_factory.mktemp("otter"))
    by_question = {q.name: q for q in course.master(unit).questions}
    passing = []
    for question, name, answer, code in shortcut_students(unit, env):
        replaced = {answer} if answer else _replaced(code)
        results = course.mutant_results(env, tests_dir, question, code)
        q = by_question[question]
        # the test cases that receive a replaced answer must all fail
        concerned = {t.function for t in q.tests if replaced & set(t.args)}
        assert concerned, f"{question}/{name}: no test receives {sorted(replaced)}"
        survived = sorted(t for t, ok in results.items() if ok and t in concerned)
        if survived:
            passing.append(f"{question}: {name} passes {survived}")
    assert passing == []


def test_q6_loops_escapes_are_each_refused_with_one_line(tmp_path):
    """Every escape fails the public check with a one-line refusal naming what was used."""
    import torch

    from helpers import checks

    env = course.solution_namespace(course.master("01_layers"))
    x, w = torch.randn(1, 2, 5, 5, dtype=torch.float64), torch.randn(3, 2, 3, 3, dtype=torch.float64)
    for name, code in ESCAPES_Q6_LOOPS.items():
        scope = dict(env)
        exec(textwrap.dedent(code), scope)  # noqa: S102
        with pytest.raises(checks.ShortcutUsed) as refused:
            checks.run_student(scope["conv2d_loops"], x, w, question="01_layers/q6_loops")
        message = str(refused.value)
        assert "\n" not in message and "allow" in message, (name, message)
    honest = checks.run_student(env["conv2d_loops"], x, w, question="01_layers/q6_loops")
    assert torch.allclose(honest, torch.nn.functional.conv2d(x, w))


def test_im2col_answer_keeps_its_marks_where_im2col_is_asked():
    """The allow-lists differ: F.unfold + matmul is right for q6_im2col, refused for q6_loops."""
    import torch

    from helpers import checks

    scope = dict(course.solution_namespace(course.master("01_layers")))
    exec(textwrap.dedent(ESCAPES_Q6_LOOPS["F.unfold and a matrix product where loops are asked for"]), scope)  # noqa: S102
    x, w = torch.randn(1, 2, 5, 5, dtype=torch.float64), torch.randn(3, 2, 3, 3, dtype=torch.float64)
    got = checks.run_student(scope["conv2d_loops"], x, w, question="01_layers/q6_im2col")
    assert torch.allclose(got, torch.nn.functional.conv2d(x, w))
    with pytest.raises(checks.ShortcutUsed, match="im2col"):
        checks.run_student(scope["conv2d_loops"], x, w, question="01_layers/q6_loops")


def test_a_question_without_declaration_cannot_be_graded():
    from helpers import checks

    with pytest.raises(KeyError, match="no shortcut declaration"):
        checks.run_student(lambda: 1, question="01_layers/q99_new")


def test_declarations_resolve():
    for key in shortcuts.DECLARATIONS:
        f = shortcuts.forbidden(key)
        assert all(callable(g) for g in f.functions), key
    assert Path(shortcuts.__file__).name == "shortcuts.py"
