"""helpers.summary: its shapes against a real forward pass, its totals against helpers.counting."""
from __future__ import annotations

from typing import Any

import pytest
import torch
import torchvision.models as tvm
from torch import nn

from helpers.counting import count_macs, count_params
from helpers.summary import Summary, summary

# Small inputs keep the real forward passes cheap; the shapes logic does not depend on size.
SHAPE_MODELS = {
    "resnet50": (lambda: tvm.resnet50(), (3, 64, 64)),  # one ReLU module reused at three widths
    "googlenet_with_aux_heads": (lambda: tvm.googlenet(aux_logits=True, init_weights=False), (3, 64, 64)),
    "mobilenet_v3_small": (lambda: tvm.mobilenet_v3_small(), (3, 64, 64)),
    "convnext_tiny": (lambda: tvm.convnext_tiny(), (3, 64, 64)),  # channels-last Linear layers
    "lstm": (lambda: nn.LSTM(8, 16, batch_first=True), (5, 8)),  # a tuple output
}


def real_output_shapes(model: nn.Module, size: tuple[int, ...]) -> dict[str, list[Any]]:
    """Output shapes per module and call, recorded by forward hooks on a real eval-mode forward."""
    recorded: dict[str, list[Any]] = {}
    handles = []
    for name, m in model.named_modules():
        def hook(mod, args, out, name=name):
            tensors = [t for t in torch.utils._pytree.tree_leaves(out) if isinstance(t, torch.Tensor)]
            shapes = [tuple(t.shape) for t in tensors]
            recorded.setdefault(name, []).append(shapes[0] if len(shapes) == 1 else shapes)
        handles.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model.eval()(torch.randn(1, *size))
    finally:
        for h in handles:
            h.remove()
    return recorded


@pytest.fixture(scope="module")
def resnet18_summary() -> tuple[nn.Module, Summary]:
    model = tvm.resnet18()
    return model, summary(model, (3, 224, 224))


@pytest.mark.parametrize("name", list(SHAPE_MODELS))
def test_summary_output_shapes_equal_those_a_real_forward_records(name: str) -> None:
    build, size = SHAPE_MODELS[name]
    model = build()
    table = summary(model, size)
    real = real_output_shapes(model, size)
    assert table.rows
    for row in table.rows:
        calls = real.get(row["name"], [])
        assert row["calls"] == len(calls), row["name"]
        # Displayed: one shape when all calls agree, else the list of per-call shapes.
        expected = None if not calls else calls[0] if all(c == calls[0] for c in calls) else calls
        assert row["output_shape"] == expected, row["name"]


def test_summary_shows_a_reused_module_with_each_calls_shape() -> None:
    model = tvm.resnet50()
    row = next(r for r in summary(model, (3, 64, 64)).rows if r["name"] == "layer1.0.relu")
    assert row["calls"] == 3
    assert row["output_shape"] == [(1, 64, 16, 16), (1, 64, 16, 16), (1, 256, 16, 16)]


def test_summary_marks_layers_that_did_not_run() -> None:
    # GoogLeNet's auxiliary heads run in training mode only; summary counts in eval mode.
    model = tvm.googlenet(aux_logits=True, init_weights=False)
    rows = {r["name"]: r for r in summary(model, (3, 64, 64)).rows}
    assert rows["aux1.fc2"]["output_shape"] is None and rows["aux1.fc2"]["calls"] == 0
    assert rows["aux1.fc2"]["params"] == count_params(model.aux1.fc2) > 0
    assert model.training  # the caller's mode is back


@pytest.mark.parametrize("name", ["resnet18", "googlenet", "convnext_tiny", "efficientnet_b0"])
def test_summary_totals_equal_count_params_and_count_macs(name: str) -> None:
    kwargs = {"init_weights": False} if name == "googlenet" else {}  # silences its init FutureWarning
    with torch.device("meta"):
        model = tvm.get_model(name, weights=None, **kwargs)
    table = summary(model, (3, 96, 96))
    assert table.total_params == count_params(model)
    assert table.total_macs == count_macs(model, (3, 96, 96)) > 0
    # Each parameter and each MAC sits in exactly one row (convnext's layer_scale lives
    # on a non-leaf CNBlock, which therefore gets a row of its own).
    assert sum(r["params"] for r in table.rows) == table.total_params
    assert sum(r["macs"] for r in table.rows) == table.total_macs


def test_summary_trainable_params_follow_requires_grad() -> None:
    model = tvm.resnet18()
    model.requires_grad_(False)
    model.fc.requires_grad_(True)
    table = summary(model, (3, 32, 32))
    assert table.trainable_params == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert table.trainable_params < table.total_params


def test_summary_prints_as_a_table_with_every_layer_and_the_totals(resnet18_summary, capsys) -> None:
    model, table = resnet18_summary
    print(table)
    text = capsys.readouterr().out
    assert text.strip() == repr(table).strip()
    lines = text.splitlines()
    for row in table.rows:
        assert any(line.startswith(row["name"] + " ") for line in lines), row["name"]
    total = next(line for line in lines if line.startswith("Total"))
    assert f"{count_params(model):,}" in total and f"{count_macs(model, (3, 224, 224)):,}" in total
    assert "[1, 64, 112, 112]" in text  # conv1's output
    widths = {len(line) for line in lines if set(line) == {"-"}}
    assert len(widths) == 1  # the rules are one width: the columns line up


def test_summary_renders_as_html_in_a_notebook(resnet18_summary) -> None:
    _, table = resnet18_summary
    page = table._repr_html_()
    assert page.startswith("<table") and page.count("<tr>") >= len(table.rows) + 1
    assert "layer4.1.conv2" in page and f"{table.total_macs:,}" in page


def test_summary_rows_and_dataframe_hold_the_same_table(resnet18_summary) -> None:
    pd = pytest.importorskip("pandas")
    _, table = resnet18_summary
    assert set(table.rows[0]) == {"name", "type", "output_shape", "calls", "params", "macs", "receptive_field"}
    frame = table.to_dataframe()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.index) == [r["name"] for r in table.rows]
    assert frame.loc["conv1", "type"] == "Conv2d" and frame.loc["fc", "output_shape"] == (1, 1000)
    assert frame["params"].sum() == table.total_params and frame["macs"].sum() == table.total_macs


def test_summary_receptive_field_column_comes_from_helpers_receptive(resnet18_summary) -> None:
    model, table = resnet18_summary
    try:
        from helpers.receptive import receptive_fields_by_module
    except ImportError:
        # Until helpers.receptive exists the column is empty and the table says why.
        assert all(r["receptive_field"] is None for r in table.rows)
        assert any("receptive" in n for n in table.notes) and "receptive" in str(table)
        return
    fields = receptive_fields_by_module(model, (3, 224, 224))
    for row in table.rows:
        rf = fields.get(row["name"])
        expected = None if rf is None else "global" if rf.is_global else rf.size
        assert row["receptive_field"] == expected, row["name"]
    assert any(r["receptive_field"] is not None for r in table.rows)


def test_summary_of_a_single_layer_is_one_row() -> None:
    conv = nn.Conv2d(3, 8, 3, padding=1)
    table = summary(conv, (3, 16, 16))
    assert [r["name"] for r in table.rows] == [""]
    assert table.rows[0]["output_shape"] == tuple(conv(torch.randn(1, 3, 16, 16)).shape)
    assert "(model)" in str(table)


@pytest.mark.parametrize("bad", [(3, 224), (0, 8, 8), "3,224,224", None])
def test_summary_rejects_a_bad_input_size_naming_it(bad) -> None:
    with pytest.raises(ValueError, match="input_size"):
        summary(nn.Conv2d(3, 8, 3), bad)
