"""helpers.plots: every figure function returns a Figure with the expected axes, draws
something on each, and renders to PNG (at low dpi, to stay cheap)."""
import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from helpers.plots import (  # noqa: E402
    plot_checkerboard,
    plot_conv_timing,
    plot_deformable_points,
    plot_dilated_grid,
    plot_norm_axes,
    plot_receptive_field_heatmap,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def drawn(ax) -> int:
    """How many things an axes draws: patches, lines, images, collections, texts."""
    return len(ax.patches) + len(ax.lines) + len(ax.images) + len(ax.collections) + len(ax.texts)


def assert_renders(fig, n_axes):
    assert isinstance(fig, Figure)
    assert len(fig.axes) == n_axes
    for ax in fig.axes:
        assert drawn(ax) > 0, f"empty axes: {ax.get_title()!r}"
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=30)
    assert buffer.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_dilated_grid_marks_k_squared_taps():
    fig = plot_dilated_grid(kernel_size=3, dilation=2, input_size=7)
    assert_renders(fig, 1)
    ax = fig.axes[0]
    assert len(ax.collections[0].get_offsets()) == 9
    assert "footprint 5x5" in ax.get_title()


def test_plot_dilated_grid_rejects_a_kernel_that_does_not_fit():
    with pytest.raises(ValueError, match=r"input_size must be >= dilation \* \(kernel_size - 1\) \+ 1 = 9"):
        plot_dilated_grid(kernel_size=3, dilation=4, input_size=7)
    with pytest.raises(ValueError, match="dilation must be positive"):
        plot_dilated_grid(dilation=0)


def test_plot_deformable_points_draws_regular_and_moved_points():
    fig = plot_deformable_points()
    assert_renders(fig, 2)
    regular, deformed = fig.axes
    assert len(regular.collections[0].get_offsets()) == 9
    moved = deformed.collections[-1].get_offsets()
    assert len(moved) == 9


def test_plot_deformable_points_reads_torchvision_offset_layout():
    # torchvision layout for one output position: (dy, dx) per tap, channel 2k is dy
    offset = torch.zeros(1, 18, 1, 1)
    offset[0, 0] = 1.0                                   # tap 0 moves one pixel down
    fig = plot_deformable_points(offset, kernel_size=3, grid_size=5)
    moved = np.asarray(fig.axes[1].collections[-1].get_offsets())
    regular = np.asarray(fig.axes[0].collections[0].get_offsets())
    np.testing.assert_allclose(moved[0] - regular[0], [0.0, 1.0])   # (x, y): y grew by 1
    np.testing.assert_allclose(moved[1:], regular[1:])
    with pytest.raises(ValueError, match=r"offset_example must hold 9 \(dy, dx\) pairs"):
        plot_deformable_points(np.zeros(10))


def test_plot_receptive_field_heatmap_takes_tensor_or_array():
    grad = torch.zeros(1, 1, 9, 9, requires_grad=False)
    grad[0, 0, 3:6, 3:6] = -2.0
    fig = plot_receptive_field_heatmap(grad, title="RF of one output")
    assert_renders(fig, 2)                               # heatmap + colour bar
    image = fig.axes[0].images[0].get_array()
    assert image.max() == 1.0 and image.min() == 0.0     # |g| / max |g|
    assert fig.axes[0].get_title() == "RF of one output"
    assert_renders(plot_receptive_field_heatmap(np.random.default_rng(0).random((5, 7))), 2)


def test_plot_receptive_field_heatmap_rejects_non_2d():
    with pytest.raises(ValueError, match=r"grad_map must be 2-D \(H, W\), got shape \(2, 3, 3\)"):
        plot_receptive_field_heatmap(np.zeros((2, 3, 3)))


def test_plot_norm_axes_draws_four_cubes():
    fig = plot_norm_axes()
    assert_renders(fig, 4)
    titles = [ax.get_title() for ax in fig.axes]
    assert [t.split("\n")[0] for t in titles] == ["Batch Norm", "Layer Norm", "Instance Norm", "Group Norm"]
    # Layer Norm shades more cells than Group Norm, which shades more than Instance Norm
    blue = [sum(p.get_facecolor()[:3] != (1.0, 1.0, 1.0) for p in ax.patches) for ax in fig.axes]
    assert blue[1] > blue[3] > blue[2]


def test_plot_checkerboard_shows_uneven_overlap():
    fig = plot_checkerboard(kernel_size=3, stride=2, input_size=4)
    assert_renders(fig, 2)                               # output + colour bar
    out = fig.axes[0].images[0].get_array()
    assert out.shape == (9, 9)
    assert sorted(np.unique(out).tolist()) == [1.0, 2.0, 4.0]


def test_plot_conv_timing_accepts_numbers_and_repeats():
    fig = plot_conv_timing({"naive": 0.8, "im2col": [0.004, 0.005, 0.0041], "F.conv2d": 0.0009})
    assert_renders(fig, 1)
    ax = fig.axes[0]
    assert len(ax.patches) == 3
    assert [round(p.get_height(), 6) for p in ax.patches] == [0.8, 0.0041, 0.0009]   # repeats: the median
    assert [t.get_text() for t in ax.get_xticklabels()] == ["naive", "im2col", "F.conv2d"]


@pytest.mark.parametrize("results,match", [
    ({}, "results must be a non-empty dict"),
    ({"naive": 0.0}, r"results\['naive'\] must be a positive time in seconds"),
    ({"naive": "fast"}, r"results\['naive'\] must be a positive time in seconds"),
])
def test_plot_conv_timing_rejects_bad_results(results, match):
    with pytest.raises(ValueError, match=match):
        plot_conv_timing(results)


# --------------------------------------------------------------------------- unit 04
from helpers.bench import Timing  # noqa: E402
from helpers.plots import plot_batch_sweep, plot_cost_breakdown, plot_pareto, plot_roofline  # noqa: E402


def test_plot_cost_breakdown_shows_shares():
    fig = plot_cost_breakdown(["a", "b", "c"], [10, 30, 60], [50, 50, 0])
    assert_renders(fig, 2)
    params, macs = fig.axes
    assert [round(p.get_height()) for p in params.patches] == [10, 30, 60]
    assert [round(p.get_height()) for p in macs.patches] == [50, 50, 0]
    with pytest.raises(ValueError, match=r"macs must hold 3 values \(one per name\), got 2"):
        plot_cost_breakdown(["a", "b", "c"], [1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="params must be non-negative finite numbers"):
        plot_cost_breakdown(["a"], [-1], [1])


def test_plot_pareto_draws_the_front():
    names, costs, scores = ["a", "b", "c", "d"], [1.0, 2.0, 3.0, 4.0], [70.0, 69.0, 75.0, 76.0]
    fig = plot_pareto(names, costs, scores)
    assert_renders(fig, 1)
    ax = fig.axes[0]
    front_line = ax.lines[0]
    assert list(front_line.get_xdata()) == [1.0, 3.0, 4.0]          # b is dominated by a
    assert sorted(t.get_text() for t in ax.texts) == ["a", "c", "d"]
    assert ax.get_xscale() == "log"
    with pytest.raises(ValueError, match="front must hold indices between 0 and 3"):
        plot_pareto(names, costs, scores, front=[7])
    with pytest.raises(ValueError, match="costs must be positive finite numbers"):
        plot_pareto(["a"], [0.0], [1.0])


def test_plot_roofline_marks_the_ridge_and_points():
    fig = plot_roofline(1e12, 1e11, {"dense": (100.0, 5e11), "depthwise": (2.0, 1e11)})
    assert_renders(fig, 1)
    ax = fig.axes[0]
    roof = ax.lines[0]
    assert max(roof.get_ydata()) == pytest.approx(1e12) and min(roof.get_ydata()) < 1e12
    assert len(ax.collections) == 2 and "ridge 10 FLOP/B" in " ".join(t.get_text() for t in ax.texts)
    with pytest.raises(ValueError, match=r"points\['x'\] must be an \(intensity, achieved FLOP/s\) pair"):
        plot_roofline(1e12, 1e11, {"x": 3.0})


def test_plot_batch_sweep_takes_timings():
    fig = plot_batch_sweep({4: Timing((0.4, 0.5, 0.4), 1), 1: 0.2, 2: [0.3, 0.3]})
    assert_renders(fig, 2)
    latency, throughput = fig.axes
    assert list(latency.lines[0].get_xdata()) == [1, 2, 4]
    assert list(throughput.lines[0].get_ydata()) == pytest.approx([5.0, 2 / 0.3, 10.0])
    with pytest.raises(ValueError, match="batch size must be positive"):
        plot_batch_sweep({0: 0.1})


# --------------------------------------------------------------------------- every label readable
from matplotlib.transforms import Bbox  # noqa: E402

from helpers.bench import pareto_front  # noqa: E402
from helpers.models import published, published_metrics  # noqa: E402
from helpers.plots import plot_accuracy_vs_cost, plot_receptive_fields  # noqa: E402


def label_boxes(fig) -> list[tuple[str, Bbox]]:
    """Every text drawn inside the axes (labels, annotations) and each legend, as rendered boxes."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = []
    for ax in fig.axes:
        boxes += [(t.get_text(), t.get_window_extent(renderer)) for t in ax.texts if t.get_visible() and t.get_text()]
        if ax.get_legend() is not None:
            boxes.append(("legend", ax.get_legend().get_window_extent(renderer)))
    return boxes


def overlapping_labels(fig, slack: float = 0.5) -> list[tuple[str, str]]:
    """Pairs of labels whose boxes overlap by more than ``slack`` pixels each way."""
    boxes = label_boxes(fig)
    return [(a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1:]
            if min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0) > slack
            and min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0) > slack]


def test_the_overlap_check_sees_an_overprinted_label():
    fig, ax = plt.subplots()
    ax.bar([0, 1], [195, 212])
    ax.text(0, 195, "195", ha="center", va="bottom")
    ax.text(-0.4, 190, "the 224-pixel image", ha="left", va="bottom")  # the old unit 03 label
    assert overlapping_labels(fig) == [("195", "the 224-pixel image")]


# unit 03's closed-form receptive fields at 224x224 (efficientnet_b0 is global: squeeze-excitation)
UNIT03_FIELDS = {"alexnet": 195, "vgg16": 212, "googlenet": 379, "resnet18": 435, "resnet50": 427,
                 "resnet152": 1451, "mobilenet_v2": 491, "efficientnet_b0": None, "convnext_tiny": 1688}
UNIT03_NETWORKS = list(UNIT03_FIELDS) + ["resnet34", "resnet101", "efficientnet_b1", "efficientnet_b2",
                                         "efficientnet_b3", "efficientnet_b4", "convnext_small"]


def test_unit03_receptive_field_labels_do_not_overlap():
    fields = {name: helpers_rf(size) for name, size in UNIT03_FIELDS.items()}
    fig = plot_receptive_fields(fields)
    assert overlapping_labels(fig) == []
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["195", "212", "379", "435", "427", "1,451", "491", "global", "1,688"]
    assert ax.get_legend().get_texts()[0].get_text() == "the 224-pixel image"


def helpers_rf(size):
    from helpers import ReceptiveField

    return ReceptiveField(224, 0, 0, is_global=True) if size is None else ReceptiveField(size, 32, 0)


def test_plot_receptive_fields_rejects_bad_fields():
    with pytest.raises(ValueError, match="fields must be a non-empty dict"):
        plot_receptive_fields({})
    with pytest.raises(ValueError, match=r"fields\['vgg16'\]"):
        plot_receptive_fields({"vgg16": -3})


def test_unit03_accuracy_vs_cost_names_do_not_overlap():
    rows = [published(n, "IMAGENET1K_V1") for n in UNIT03_NETWORKS]
    fig = plot_accuracy_vs_cost([r.name for r in rows], [r.gmacs for r in rows], [r.acc1 for r in rows],
                                [r.params for r in rows], front=["mobilenet_v2", "efficientnet_b0"])
    assert overlapping_labels(fig) == []
    assert sorted(t.get_text() for t in fig.axes[0].texts) == sorted(UNIT03_NETWORKS)  # every network named
    with pytest.raises(ValueError, match=r"accuracy must hold 2 values \(one per name\), got 1"):
        plot_accuracy_vs_cost(["a", "b"], [1, 2], [70], [1e6, 2e6])


def test_unit04_pareto_names_do_not_overlap():
    zoo = published_metrics()
    names, gmacs, top1 = [r.name for r in zoo], [r.gmacs for r in zoo], [r.acc1 for r in zoo]
    for costs in (gmacs, [r.params / 1e6 for r in zoo]):
        fig = plot_pareto(names, costs, top1)
        assert overlapping_labels(fig) == []
        assert len(fig.axes[0].texts) == len(pareto_front(costs, top1))


def test_timing_labels_read_as_times_and_ratios():
    """Unit 04 showed "1.05e+03 ms ×4.33e+03"; a reader wants "1.05 s" and "×4,330"."""
    fig = plot_conv_timing({"loops": 1.05, "im2col": 0.0123, "F.conv2d": 0.0002425})
    assert [t.get_text() for t in fig.axes[0].texts] == ["1.05 s\n×4,330", "12.3 ms\n×50.7", "243 µs\n×1.0"]
    assert overlapping_labels(fig) == []
    fig = plot_conv_timing({"a": 0.9999, "b": 4.2e-8})
    assert [t.get_text() for t in fig.axes[0].texts] == ["1.00 s\n×23,800,000", "42.0 ns\n×1.0"]


def test_cost_breakdown_labels_do_not_overlap():
    names = [f"f{i}" for i in range(19)] + ["classifier"]   # MobileNetV2's stages, as unit 04 plots them
    params = [928, 896, 5136, 8832, 10000, 14848, 14848, 21056, 54272, 54272, 54272, 66624, 118272,
              118272, 155264, 320000, 320000, 473920, 412160, 1281000]
    macs = [10.8e6, 10.8e6, 29.6e6, 20.8e6, 9.9e6, 4.4e6, 4.4e6, 3.3e6, 4.9e6, 4.9e6, 4.9e6, 5.6e6, 12.0e6,
            12.0e6, 4.6e6, 7.2e6, 7.2e6, 10.7e6, 21.1e6, 1.3e6]
    assert overlapping_labels(plot_cost_breakdown(names, params, macs)) == []
