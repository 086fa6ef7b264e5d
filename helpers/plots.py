"""The course's figures: each function draws one figure and returns it.

Nothing here calls ``plt.show()``: in a notebook a returned figure displays on
its own (assign it, ``fig = plot_...()``, or end the line with ``;`` to see it
once rather than twice); in a script call ``plt.show()`` or ``fig.savefig(...)``.

Introduced in notebooks/01_layers.ipynb:

* the dilated-convolution section: :func:`plot_dilated_grid`
* section 4, deformable convolution: :func:`plot_deformable_points`
* the receptive-field section: :func:`plot_receptive_field_heatmap`
* section 6, how a convolution is computed: :func:`plot_conv_timing`
* section 7, up-sampling: :func:`plot_checkerboard`
* section 8, normalization: :func:`plot_norm_axes`

in notebooks/03_architectures.ipynb, section 7: :func:`plot_receptive_fields` and
:func:`plot_accuracy_vs_cost`;
and in notebooks/04_efficiency.ipynb: :func:`plot_cost_breakdown` (section 1),
:func:`plot_pareto` (section 2), :func:`plot_batch_sweep` (section 3) and
:func:`plot_roofline` (section 4).
"""
from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Polygon, Rectangle
from matplotlib.transforms import Bbox

from helpers._args import check_int
from helpers.layers import NORM_AXES, conv_transpose2d

__all__ = [
    "plot_batch_sweep",
    "plot_accuracy_vs_cost",
    "plot_checkerboard",
    "plot_conv_timing",
    "plot_cost_breakdown",
    "plot_deformable_points",
    "plot_dilated_grid",
    "plot_norm_axes",
    "plot_pareto",
    "plot_receptive_field_heatmap",
    "plot_receptive_fields",
    "plot_roofline",
]

_GRID = "#bbbbbb"
_SPAN = "#dbe9f6"
_TAP = "#1f77b4"
_MOVED = "#d62728"


def _as_array(values, name: str) -> np.ndarray:
    """A tensor (any device, with or without grad) or array-like as a float numpy array."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().double().numpy()
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a tensor or array of numbers, got {type(values).__name__}") from None


def _pixel_grid(ax, size: int) -> None:
    """Draw a ``size x size`` grid of pixels, pixel centres at integer (x, y), row 0 on top."""
    for i in range(size + 1):
        ax.plot([-0.5, size - 0.5], [i - 0.5, i - 0.5], color=_GRID, lw=0.8)
        ax.plot([i - 0.5, i - 0.5], [-0.5, size - 0.5], color=_GRID, lw=0.8)
    ax.set_xlim(-0.5, size - 0.5)
    ax.set_ylim(size - 0.5, -0.5)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_dilated_grid(kernel_size: int = 3, dilation: int = 2, input_size: int = 7) -> Figure:
    """Which input pixels a dilated kernel reads: ``k x k`` taps spread ``dilation`` apart.

    The shaded square is the kernel's footprint, ``d·(k - 1) + 1`` pixels wide;
    the dots are the ``k²`` pixels it actually multiplies. Same weights, larger
    receptive field, holes in between.

    Returns:
        Figure with one axes.

    Introduced in notebooks/01_layers.ipynb, dilated-convolution section.
    """
    k = check_int("kernel_size", kernel_size, minimum=1)
    d = check_int("dilation", dilation, minimum=1)
    n = check_int("input_size", input_size, minimum=1)
    span = d * (k - 1) + 1
    if span > n:
        raise ValueError(f"the dilated kernel ({span}x{span}) does not fit in a {n}x{n} input: "
                         f"input_size must be >= dilation * (kernel_size - 1) + 1 = {span}")
    start = (n - span) // 2                      # centre the footprint
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.add_patch(Rectangle((start - 0.5, start - 0.5), span, span, color=_SPAN, zorder=0))
    _pixel_grid(ax, n)
    taps = start + d * np.arange(k)
    for row in taps:
        for col in taps:
            ax.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, color=_TAP, alpha=0.35, zorder=1))
    yy, xx = np.meshgrid(taps, taps, indexing="ij")
    ax.scatter(xx.ravel(), yy.ravel(), s=40, color=_TAP, zorder=2)
    ax.set_title(f"{k}x{k} kernel, dilation {d}\nfootprint {span}x{span}, reads {k * k} pixels")
    fig.tight_layout()
    return fig


def _offsets(offset_example, taps: int, seed: int) -> np.ndarray:
    """Offsets as a ``(taps, 2)`` array of ``(Δy, Δx)`` rows."""
    if offset_example is None:
        return np.random.default_rng(seed).uniform(-1.0, 1.0, size=(taps, 2))
    values = _as_array(offset_example, "offset_example")
    if values.size != 2 * taps:
        raise ValueError(f"offset_example must hold {taps} (dy, dx) pairs, one per kernel tap, "
                         f"e.g. shape ({taps}, 2) or ({2 * taps},) in torchvision's layout; "
                         f"got shape {values.shape}")
    return values.reshape(taps, 2)   # torchvision interleaves (dy, dx) per tap: same order


def plot_deformable_points(offset_example=None, kernel_size: int = 3, grid_size: int = 7,
                           seed: int = 0) -> Figure:
    """Regular sampling points ``p0 + p_k`` next to deformed ones ``p0 + p_k + Δp_k``.

    Args:
        offset_example: the offsets of one output position, ``kernel_size²``
            ``(Δy, Δx)`` pairs: an array/tensor of shape ``(k*k, 2)``, or ``(2*k*k,)``
            / ``(1, 2*k*k, 1, 1)`` in ``torchvision.ops.deform_conv2d``'s layout.
            None draws random offsets in ``[-1, 1]`` (seeded by ``seed``).
        kernel_size: k.
        grid_size: the drawn input grid is ``grid_size x grid_size`` pixels.
        seed: for the random offsets.

    Returns:
        Figure with two axes: regular (left) and deformable (right).

    Introduced in notebooks/01_layers.ipynb, section 4.
    """
    k = check_int("kernel_size", kernel_size, minimum=1)
    n = check_int("grid_size", grid_size, minimum=k)
    offsets = _offsets(offset_example, k * k, seed)                 # (k*k, 2) of (Δy, Δx)
    centre = (n - 1) / 2
    tap = np.arange(k) - (k - 1) / 2
    py, px = np.meshgrid(centre + tap, centre + tap, indexing="ij")
    py, px = py.ravel(), px.ravel()                                 # (k*k,) regular points
    qy, qx = py + offsets[:, 0], px + offsets[:, 1]                 # (k*k,) deformed points

    fig, (ax_regular, ax_deformed) = plt.subplots(1, 2, figsize=(8, 4))
    for ax in (ax_regular, ax_deformed):
        _pixel_grid(ax, n)
    ax_regular.scatter(px, py, s=50, color=_TAP, zorder=3)
    ax_regular.set_title(r"regular: $p_0 + p_k$")
    ax_deformed.scatter(px, py, s=30, facecolors="none", edgecolors=_TAP, zorder=2)
    for y0, x0, y1, x1 in zip(py, px, qy, qx):
        ax_deformed.annotate("", xy=(x1, y1), xytext=(x0, y0),
                             arrowprops=dict(arrowstyle="->", color="gray", lw=1), zorder=2)
    ax_deformed.scatter(qx, qy, s=50, color=_MOVED, zorder=3)
    ax_deformed.set_title(r"deformable: $p_0 + p_k + \Delta p_k$")
    fig.tight_layout()
    return fig


def plot_receptive_field_heatmap(grad_map, title: str | None = None) -> Figure:
    """A gradient map as a heatmap: where the input influences the chosen output.

    Plots ``|g| / max |g|`` so the sign of the gradient does not matter and the
    colour scale runs 0 to 1. Typical use: back-propagate from one output pixel
    and pass ``x.grad[0, 0]`` (or ``x.grad.abs().sum(1)[0]``).

    Args:
        grad_map: a 2-D tensor or array (leading size-1 axes are dropped, so a
            ``(1, 1, H, W)`` gradient works too).
        title: the axes title; a default explains the colour scale.

    Returns:
        Figure with two axes: the heatmap and its colour bar.

    Introduced in notebooks/01_layers.ipynb, receptive-field section.
    """
    values = _as_array(grad_map, "grad_map")
    while values.ndim > 2 and values.shape[0] == 1:
        values = values[0]
    if values.ndim != 2:
        raise ValueError(f"grad_map must be 2-D (H, W), got shape {values.shape}")
    magnitude = np.abs(values)
    peak = magnitude.max() if magnitude.size else 0.0
    if peak > 0:
        magnitude = magnitude / peak
    fig, ax = plt.subplots(figsize=(5, 4))
    image = ax.imshow(magnitude, cmap="magma", vmin=0, vmax=1, interpolation="nearest")
    fig.colorbar(image, ax=ax, label="|gradient| / max")
    ax.set_title(title if title is not None else "receptive field: |∂ output / ∂ input|")
    ax.set_xlabel("input column")
    ax.set_ylabel("input row")
    fig.tight_layout()
    return fig


# oblique projection of the (C, H·W, N) cube: N recedes up and to the right
_DEPTH = np.array([0.45, 0.35])


def _point(c: float, hw: float, n: float) -> tuple[float, float]:
    x, y = np.array([c, hw]) + n * _DEPTH
    return float(x), float(y)


def _draw_norm_cube(ax, axes: tuple[str, ...], n_size: int = 4, c_size: int = 6, hw_size: int = 4,
                    groups: int = 2) -> None:
    """One Group-Norm-paper cube: every cell white, the cells of one normalization set blue."""
    group_size = c_size // groups

    def shaded(n: int, c: int) -> bool:
        """Is (sample n, channel c) in the set that shares a mean with sample 0, channel 0?"""
        same_n = "N" in axes or n == 0
        same_c = "C" in axes or ("C/G" in axes and c < group_size) or c == 0
        return same_n and same_c

    def cell(corners, on: bool):
        ax.add_patch(Polygon([_point(*p) for p in corners], closed=True, edgecolor="#555555",
                             lw=0.6, facecolor=_TAP if on else "white", alpha=0.9 if on else 1.0))

    for c in range(c_size):                  # front face (n = 0): C across, H·W up
        for hw in range(hw_size):
            cell([(c, hw, 0), (c + 1, hw, 0), (c + 1, hw + 1, 0), (c, hw + 1, 0)], shaded(0, c))
    for c in range(c_size):                  # top face (hw = top): C across, N into the page
        for n in range(n_size):
            cell([(c, hw_size, n), (c + 1, hw_size, n), (c + 1, hw_size, n + 1), (c, hw_size, n + 1)],
                 shaded(n, c))
    for n in range(n_size):                  # right face (c = last): N into the page, H·W up
        for hw in range(hw_size):
            cell([(c_size, hw, n), (c_size, hw, n + 1), (c_size, hw + 1, n + 1), (c_size, hw + 1, n)],
                 shaded(n, c_size - 1))
    ax.text(c_size / 2, -0.8, "C", ha="center", va="center")
    ax.text(-0.7, hw_size / 2, "H, W", ha="center", va="center", rotation=90)
    x, y = _point(c_size, 0, n_size / 2)
    ax.text(x + 0.5, y - 0.3, "N", ha="center", va="center")
    top_x, top_y = _point(c_size, hw_size, n_size)
    ax.set_xlim(-1.3, top_x + 1.0)
    ax.set_ylim(-1.3, top_y + 0.5)
    ax.set_aspect("equal")
    ax.axis("off")


def plot_norm_axes() -> Figure:
    """The four norms as cubes over (N, C, H·W), after figure 2 of the Group Norm paper.

    Each cube is one activation tensor; the blue cells share one mean and one
    variance (see :data:`helpers.layers.NORM_AXES`): Batch Norm reduces over
    ``(N, H, W)``, Layer Norm over ``(C, H, W)``, Instance Norm over ``(H, W)``,
    Group Norm over ``(C/G, H, W)`` (here two groups of three channels).

    Returns:
        Figure with four axes, one per norm.

    Introduced in notebooks/01_layers.ipynb, section 8.
    """
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.4))
    for ax, (name, reduced) in zip(axes, NORM_AXES.items()):
        _draw_norm_cube(ax, reduced)
        ax.set_title(f"{name.capitalize()} Norm\nover ({', '.join(reduced)})")
    fig.tight_layout()
    return fig


def plot_checkerboard(kernel_size: int = 3, stride: int = 2, input_size: int = 6) -> Figure:
    """The checkerboard artifact: a transposed convolution of ones with a kernel of ones.

    Every output pixel counts how many kernel copies land on it. With kernel 3
    and stride 2 the copies overlap unevenly — 1, 2 or 4 — so a flat input comes
    out as a grid pattern. (Kernel 4, stride 2 overlaps evenly in the interior.)

    Returns:
        Figure with two axes: the output and its colour bar.

    Introduced in notebooks/01_layers.ipynb, section 7.
    """
    k = check_int("kernel_size", kernel_size, minimum=1)
    s = check_int("stride", stride, minimum=1)
    n = check_int("input_size", input_size, minimum=1)
    ones = torch.ones(1, 1, n, n, dtype=torch.float64)
    out = conv_transpose2d(ones, torch.ones(1, 1, k, k, dtype=torch.float64), stride=s)[0, 0].numpy()
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    image = ax.imshow(out, cmap="viridis", interpolation="nearest")
    fig.colorbar(image, ax=ax, label="kernel copies overlapping")
    if out.shape[0] <= 20:
        for (i, j), v in np.ndenumerate(out):
            ax.text(j, i, f"{v:g}", ha="center", va="center", fontsize=7,
                    color="white" if v < out.max() / 2 else "black")
    levels = ", ".join(f"{v:g}" for v in np.unique(out))
    ax.set_title(f"ConvTranspose2d(kernel {k}, stride {s}) of ones\n"
                 f"{n}x{n} → {out.shape[0]}x{out.shape[1]}, values {levels}")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig


def _number(value: float) -> str:
    """Three significant digits without exponents: 1,050 · 12.3 · 0.85."""
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _duration(seconds: float) -> str:
    """A time in the unit people read it in: 1.05 s, 12.3 ms, 850 µs, 42.0 ns."""
    seconds = float(f"{seconds:.3g}")  # 0.9999 s is 1.00 s, not 1,000 ms
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{_number(seconds / scale)} {unit}"
    return f"{_number(seconds / 1e-9)} ns"


def _times(ratio: float) -> str:
    """How many times slower than the fastest: ×1.0, ×50.7, ×4,330."""
    ratio = float(f"{ratio:.3g}")
    return f"×{ratio:,.0f}" if ratio >= 100 else f"×{ratio:.1f}"


# Where a point's name may go, in points from the point: right, left, above, below, then farther out.
_LABEL_SPOTS = [(dx * k, dy * k, ha, va) for k in (1, 2.5, 4) for dx, dy, ha, va in (
    (4, 3, "left", "bottom"), (4, -3, "left", "top"), (-4, 3, "right", "bottom"), (-4, -3, "right", "top"),
    (0, 6, "center", "bottom"), (0, -6, "center", "top"))]


def _line_boxes(ax, step: float = 4.0) -> list[Bbox]:
    """Small boxes along every line of ``ax``, ``step`` pixels apart, for labels to keep off."""
    boxes = []
    for line in ax.lines:
        xy = line.get_transform().transform(line.get_xydata())
        for (x0, y0), (x1, y1) in zip(xy[:-1], xy[1:]):
            n = max(2, int(np.hypot(x1 - x0, y1 - y0) / step))
            boxes += [Bbox.from_extents(x - 1, y - 1, x + 1, y + 1)
                      for x, y in zip(np.linspace(x0, x1, n), np.linspace(y0, y1, n))]
    return boxes


def _name_points(ax, xs, ys, names, sizes=None, fontsize: float = 7) -> None:
    """Name each point at the first spot where its label covers no other label, marker or the axes' edge.

    ``sizes`` are the markers' areas in points² (``scatter``'s ``s``; 36 when None). Place labels
    after the final layout (``tight_layout``): the spots are measured on the canvas. Where no spot
    is free, the label goes where it covers the fewest others.
    """
    renderer = ax.figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    centres = ax.transData.transform(np.column_stack([xs, ys]))
    radii = np.sqrt(np.full(len(centres), 36.0) if sizes is None else np.asarray(sizes, dtype=float)) / 2  # points
    pixels = radii * ax.figure.dpi / 72
    markers = [Bbox.from_extents(x - r, y - r, x + r, y + r) for (x, y), r in zip(centres, pixels)]
    markers += _line_boxes(ax)
    legend = ax.get_legend()
    taken = [legend.get_window_extent(renderer)] if legend is not None else []
    for x, y, name, radius in zip(xs, ys, names, radii):
        best, best_clashes = None, None
        for dx, dy, ha, va in _LABEL_SPOTS:
            offset = (dx + np.sign(dx) * radius * 0.7, dy + np.sign(dy) * radius * 0.7)
            label = ax.annotate(name, (x, y), xytext=offset, textcoords="offset points", ha=ha, va=va,
                                fontsize=fontsize)
            box = label.get_window_extent(renderer).padded(1)
            clashes = (sum(box.overlaps(other) for other in taken + markers)
                       + (not (frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1))))
            if best is None or clashes < best_clashes:
                if best is not None:
                    best.remove()
                best, best_clashes = label, clashes
            else:
                label.remove()
            if clashes == 0:
                break
        taken.append(best.get_window_extent(renderer).padded(1))


def _seconds(name: str, value) -> float:
    """A timing as seconds: a number, a sequence of repeats (median), or a
    ``torch.utils.benchmark`` Measurement (its median)."""
    value = getattr(value, "median", value)
    if isinstance(value, (list, tuple, np.ndarray, torch.Tensor)):
        value = float(np.median(_as_array(value, f"results[{name!r}]")))
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not np.isfinite(value) or value <= 0:
        raise ValueError(f"results[{name!r}] must be a positive time in seconds, got {value!r}")
    return float(value)


def plot_conv_timing(results: Mapping[str, object]) -> Figure:
    """Bar chart of convolution timings, e.g. naive loop vs im2col vs ``F.conv2d``.

    Args:
        results: name → time in seconds (a number, a list of repeats whose
            median is used, or a ``torch.utils.benchmark`` Measurement), in the
            order the bars should appear, e.g.
            ``{"naive": 0.8, "im2col": 0.004, "F.conv2d": 0.0009}``.

    Returns:
        Figure with one axes; log-scale time, each bar labelled with its time
        and how many times slower than the fastest it is.

    Introduced in notebooks/01_layers.ipynb, section 6.
    """
    if not isinstance(results, Mapping) or not results:
        raise ValueError("results must be a non-empty dict of name -> seconds")
    names = [str(name) for name in results]
    seconds = [_seconds(str(name), value) for name, value in results.items()]
    fastest = min(seconds)
    fig, ax = plt.subplots(figsize=(1.6 * len(names) + 2.5, 3.8))
    bars = ax.bar(names, seconds, color=plt.cm.tab10(np.arange(len(names)) % 10))
    ax.set_yscale("log")
    ax.set_ylabel("time per call (s, log scale)")
    for bar, t in zip(bars, seconds):
        ax.text(bar.get_x() + bar.get_width() / 2, t * 1.15, f"{_duration(t)}\n{_times(t / fastest)}",
                ha="center", va="bottom", fontsize=8)
    ax.set_ylim(fastest / 3, max(seconds) * 10)
    ax.set_title(f"the same convolution, {len(names)} implementations")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- #
# Unit 03 (architectures)
# --------------------------------------------------------------------------- #

def plot_receptive_fields(fields: Mapping[str, object], image_size: int = 224) -> Figure:
    """One bar per network: the receptive field of its last feature, against the input image.

    Args:
        fields: name -> ``helpers.ReceptiveField`` (or a size in pixels); a global field
            (``is_global``) is drawn as a hatched bar marked "global".
        image_size: the input's side, drawn as a dashed line.

    Returns:
        Figure with one axes; each finite bar is labelled with its size.

    Introduced in notebooks/03_architectures.ipynb, section 7.
    """
    if not isinstance(fields, Mapping) or not fields:
        raise ValueError("fields must be a non-empty dict of name -> receptive field")
    image_size = check_int("image_size", image_size, minimum=1)
    sizes: dict[str, int | None] = {}
    for name, field in fields.items():
        size = None if getattr(field, "is_global", False) else getattr(field, "size", field)
        if size is not None:
            size = check_int(f"fields[{name!r}]", size if not isinstance(size, tuple) else max(size), minimum=1)
        sizes[str(name)] = size
    top = 1.15 * max([s for s in sizes.values() if s is not None] + [image_size])
    fig, ax = plt.subplots(figsize=(9, 3.8))
    for i, (name, size) in enumerate(sizes.items()):
        if size is None:  # every feature sees every pixel: no finite size to draw
            ax.bar(i, top, color="none", edgecolor="tab:red", hatch="//")
            ax.text(i, top / 2, "global", rotation=90, ha="center", va="center", color="tab:red")
        else:
            ax.bar(i, size, color="tab:blue")
            ax.text(i, size, f"{size:,}", ha="center", va="bottom", fontsize=8)
    ax.axhline(image_size, color="black", linestyle="--", linewidth=1, label=f"the {image_size}-pixel image")
    ax.set_ylim(0, top * 1.12)
    ax.set_xticks(range(len(sizes)), list(sizes), rotation=30, ha="right")
    ax.set_ylabel("receptive field (pixels)")
    ax.set_title(f"receptive field of each network's last feature, closed form at {image_size}x{image_size}")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def plot_accuracy_vs_cost(names, gmacs, accuracy, params, front=()) -> Figure:
    """Accuracy against MACs for a set of networks, marker area by parameters, every network named.

    Args:
        names, gmacs, accuracy, params: one entry per network (``helpers.models.published``).
        front: names on the Pareto front, drawn in red.

    Returns:
        Figure with one axes, log-scale MACs.

    Introduced in notebooks/03_architectures.ipynb, section 7.
    """
    names = [str(n) for n in names]
    gmacs = _positive_numbers("gmacs", gmacs, len(names))
    params = _positive_numbers("params", params, len(names))
    accuracy = _as_array(accuracy, "accuracy").reshape(-1)
    if accuracy.size != len(names):
        raise ValueError(f"accuracy must hold {len(names)} values (one per name), got {accuracy.size}")
    on_front = set(front)
    fig, ax = plt.subplots(figsize=(8, 5))
    area = params / 4e5  # points²
    ax.scatter(gmacs, accuracy, s=area, alpha=0.6,
               color=["tab:red" if n in on_front else "tab:blue" for n in names])
    ax.set_xscale("log")
    ax.set_xlabel("GMACs per 224-ish image (log scale)")
    ax.set_ylabel("ImageNet top-1 (%)")
    ax.set_title("accuracy vs cost (area: parameters; red: Pareto front)")
    ax.margins(x=0.12, y=0.08)
    fig.tight_layout()
    _name_points(ax, gmacs, accuracy, names, sizes=area)
    return fig


# --------------------------------------------------------------------------- #
# Unit 04 (efficiency)
# --------------------------------------------------------------------------- #
def _positive_numbers(name: str, values, n: int | None = None, allow_zero: bool = False) -> np.ndarray:
    """``values`` as a 1-D float array of finite numbers > 0 (>= 0 with ``allow_zero``), of length ``n``."""
    array = _as_array(values, name).reshape(-1)
    if n is not None and array.size != n:
        raise ValueError(f"{name} must hold {n} values (one per name), got {array.size}")
    bad = ~np.isfinite(array) | ((array < 0) if allow_zero else (array <= 0))
    if bad.any():
        rule = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be {rule} finite numbers, got {array[bad][0]!r}")
    return array


def plot_cost_breakdown(names, params, macs, title: str = "where the cost lives") -> Figure:
    """Two bar charts side by side: parameters and MACs per stage (or layer), as shares of the total.

    Args:
        names: one label per bar, e.g. ``["conv1", "layer1", ..., "fc"]``.
        params, macs: the counts, in the same order (``helpers.count_params`` of each
            stage, ``helpers.counting.macs_by_module``).

    Returns:
        Figure with two axes; each bar is labelled with its share in percent.

    Introduced in notebooks/04_efficiency.ipynb, section 1.
    """
    names = [str(n) for n in names]
    if not names:
        raise ValueError("names must name at least one stage")
    columns = [("parameters", _positive_numbers("params", params, len(names), allow_zero=True)),
               ("MACs", _positive_numbers("macs", macs, len(names), allow_zero=True))]
    fig, axes = plt.subplots(1, 2, figsize=(max(7.0, 1.1 * len(names) + 3), 3.6), sharey=False)
    for ax, (what, values) in zip(axes, columns):
        total = values.sum()
        share = 100 * values / total if total > 0 else values
        bars = ax.bar(names, share, color="#1f77b4" if what == "MACs" else "#ff7f0e")
        for bar, s in zip(bars, share):
            ax.text(bar.get_x() + bar.get_width() / 2, s, f"{s:.0f}%", ha="center", va="bottom", fontsize=8)
        ax.set_ylabel(f"share of {what} (%)")
        ax.set_title(f"{what}: {total:,.0f} in all")
        ax.tick_params(axis="x", rotation=45)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_pareto(names, costs, scores, front=None, *, cost_label: str = "GMACs", score_label: str = "top-1 accuracy (%)",
                log_cost: bool = True) -> Figure:
    """Accuracy against cost for a model zoo, with the Pareto front drawn and its models named.

    Args:
        names, costs, scores: one entry per model (e.g. torchvision's published
            ``_ops`` in GMACs and ``acc@1``).
        front: indices of the front (``helpers.bench.pareto_front(costs, scores)`` when None).

    Returns:
        Figure with one axes; log-scale cost by default.

    Introduced in notebooks/04_efficiency.ipynb, section 2.
    """
    from helpers.bench import pareto_front  # plots draws; bench computes

    names = [str(n) for n in names]
    costs = _positive_numbers("costs", costs, len(names))
    scores = _as_array(scores, "scores").reshape(-1)
    if scores.size != len(names):
        raise ValueError(f"scores must hold {len(names)} values (one per name), got {scores.size}")
    front = list(pareto_front(costs.tolist(), scores.tolist()) if front is None else front)
    if any(not 0 <= i < len(names) for i in front):
        raise ValueError(f"front must hold indices between 0 and {len(names) - 1}, got {front}")
    front = sorted(front, key=lambda i: costs[i])
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.scatter(costs, scores, s=18, color="#999999", label="published models")
    ax.plot(costs[front], scores[front], "-o", color="#d62728", ms=5, label="Pareto front")
    if log_cost:
        ax.set_xscale("log")
    ax.set_xlabel(cost_label + (" (log scale)" if log_cost else ""))
    ax.set_ylabel(score_label)
    ax.set_title(f"{len(names)} models, {len(front)} on the front")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _name_points(ax, costs[front], scores[front], [names[i] for i in front], sizes=[25] * len(front))
    return fig


def plot_roofline(peak_flops: float, bandwidth: float, points: Mapping[str, tuple[float, float]] | None = None) -> Figure:
    """The roofline of a device, ``min(peak, intensity * bandwidth)``, with layers placed on it.

    Args:
        peak_flops: FLOP/s (``helpers.bench.peak_matmul_flops``).
        bandwidth: bytes/s (``helpers.bench.copy_bandwidth``).
        points: name -> ``(arithmetic intensity in FLOP/byte, achieved FLOP/s)``.

    Returns:
        Figure with one log-log axes; the ridge point ``peak / bandwidth`` is marked.

    Introduced in notebooks/04_efficiency.ipynb, section 4.
    """
    peak = float(_positive_numbers("peak_flops", [peak_flops])[0])
    bw = float(_positive_numbers("bandwidth", [bandwidth])[0])
    points = dict(points or {})
    for name, value in points.items():
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise ValueError(f"points[{name!r}] must be an (intensity, achieved FLOP/s) pair, got {value!r}")
        _positive_numbers(f"points[{name!r}]", value)
    ridge = peak / bw
    low = min([ridge / 100] + [p[0] / 3 for p in points.values()])
    high = max([ridge * 100] + [p[0] * 3 for p in points.values()])
    x = np.geomspace(low, high, 200)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(x, np.minimum(peak, x * bw), color="black", lw=2, label="roofline")
    ax.axvline(ridge, color="#999999", ls="--", lw=1)
    ax.text(ridge, peak / 30, f" ridge {ridge:.3g} FLOP/B", fontsize=8, color="#555555")
    for k, (name, (intensity, achieved)) in enumerate(points.items()):
        ax.scatter([intensity], [achieved], s=40, color=plt.cm.tab10(k % 10), zorder=3, label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP per byte moved)")
    ax.set_ylabel("FLOP/s")
    ax.set_title(f"peak {peak / 1e9:.3g} GFLOP/s, bandwidth {bw / 1e9:.3g} GB/s")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def plot_batch_sweep(results: Mapping[int, object], title: str = "batch-size sweep") -> Figure:
    """Latency per batch and throughput (images/s) against the batch size.

    Args:
        results: batch size -> time of one batch in seconds (a number, repeats, or a
            ``helpers.bench.Timing``, whose median is used), as
            ``helpers.bench.throughput`` returns.

    Returns:
        Figure with two axes: latency (s per batch) and throughput (images per second).

    Introduced in notebooks/04_efficiency.ipynb, section 3.
    """
    if not isinstance(results, Mapping) or not results:
        raise ValueError("results must be a non-empty dict of batch size -> seconds")
    batches = [check_int("batch size", b, minimum=1) for b in results]
    seconds = np.array([_seconds(str(b), results[b]) for b in results])
    order = np.argsort(batches)
    batches, seconds = np.array(batches)[order], seconds[order]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    left.plot(batches, seconds * 1e3, "-o")
    left.set_xlabel("batch size")
    left.set_ylabel("latency (ms per batch)")
    right.plot(batches, batches / seconds, "-o", color="#2ca02c")
    right.set_xlabel("batch size")
    right.set_ylabel("throughput (images/s)")
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
