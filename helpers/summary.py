"""A per-layer table of a network: output shape, parameters, MACs, receptive field.

Introduced in notebooks/04_efficiency.ipynb, section 1.

``summary(model, (3, 224, 224))`` answers the course's three questions layer by
layer: what shape comes out, what it costs (parameters and multiply-accumulates,
the convention of :mod:`helpers.counting`) and what each feature sees (receptive
field, from :mod:`helpers.receptive`). It prints as a monospace table, renders as
HTML in a notebook, and turns into ``.rows`` (a list of dicts) or a pandas
DataFrame for analysis.

Shapes and MACs come from one forward pass on meta tensors (nothing computed,
the model untouched); receptive fields from a second, separate pass.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, Sequence

from torch import nn

from helpers.counting import _check_input_size, _trace, count_params
from helpers.shortcuts import answers

__all__ = ["Summary", "summary"]

COLUMNS = ("name", "type", "output_shape", "params", "macs", "receptive_field")
_HEADERS = ("Layer", "Type", "Output shape", "Params", "MACs", "RF")


@dataclass(frozen=True)
class Summary:
    """What :func:`summary` returns.

    ``rows`` holds one dict per layer, with the keys ``name`` (qualified name as in
    ``named_modules()``, ``""`` for the model itself), ``type``, ``output_shape``,
    ``calls``, ``params``, ``macs`` and ``receptive_field``. The totals are kept
    apart (``total_params``, ``trainable_params``, ``total_macs``) so that the
    rows stay one kind of thing; the printed table shows them as a last line.
    """

    rows: list[dict[str, Any]]
    input_size: tuple[int, ...]
    total_params: int
    trainable_params: int
    total_macs: int
    model_type: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dataframe(self):
        """The rows as a :class:`pandas.DataFrame`, indexed by layer name (pandas imported here)."""
        import pandas as pd  # lazily: the rest of the helpers do not need pandas

        return pd.DataFrame(self.rows, columns=[*COLUMNS[:3], "calls", *COLUMNS[3:]]).set_index("name")

    # -- display ------------------------------------------------------------ #
    def _table(self) -> tuple[list[str], list[list[str]], list[str]]:
        """Header, body cells and total line as strings, shared by text and HTML."""
        body = [
            [
                r["name"] or "(model)",
                r["type"],
                _format_shape(r["output_shape"]),
                f"{r['params']:,}",
                f"{r['macs']:,}",
                _format_rf(r["receptive_field"]),
            ]
            for r in self.rows
        ]
        total = ["Total", "", "", f"{self.total_params:,}", f"{self.total_macs:,}", ""]
        return list(_HEADERS), body, total

    def _footer(self) -> list[str]:
        lines = [
            f"Input size: {tuple(self.input_size)} (batch of 1)",
            f"Params: {self.total_params:,} ({self.trainable_params:,} trainable)",
            f"MACs: {self.total_macs:,} ({self.total_macs / 1e9:.3f} G)",
        ]
        return lines + [f"Note: {n}" for n in self.notes]

    def __str__(self) -> str:
        header, body, total = self._table()
        widths = [max(len(row[i]) for row in [header, *body, total]) for i in range(len(header))]
        numeric = {3, 4}  # right-align the numbers so their digits line up

        def line(cells: list[str]) -> str:
            return "  ".join(
                c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
            ).rstrip()

        rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
        title = f"{self.model_type} summary" if self.model_type else "Summary"
        return "\n".join([title, rule, line(header), rule, *map(line, body), rule, line(total), rule,
                          *self._footer()])

    def __repr__(self) -> str:
        # The table itself, so that a notebook cell ending in summary(...) shows it.
        return str(self)

    def _repr_html_(self) -> str:
        header, body, total = self._table()
        numeric = {3, 4}

        def cells(row: list[str], tag: str) -> str:
            return "".join(
                f'<{tag} style="text-align:{"right" if i in numeric else "left"}">{html.escape(c)}</{tag}>'
                for i, c in enumerate(row)
            )

        parts = [
            '<table style="font-family:monospace;border-collapse:collapse">',
            f"<thead><tr>{cells(header, 'th')}</tr></thead><tbody>",
            *(f"<tr>{cells(r, 'td')}</tr>" for r in body),
            f'</tbody><tfoot><tr style="font-weight:bold">{cells(total, "td")}</tr></tfoot></table>',
            "<pre>" + html.escape("\n".join(self._footer())) + "</pre>",
        ]
        return "\n".join(parts)


def _format_shape(shape: Any) -> str:
    if shape is None:
        return "-"  # the layer did not run (e.g. a training-only head in eval mode)
    if isinstance(shape, tuple):
        return "[" + ", ".join(map(str, shape)) + "]"
    return " / ".join(_format_shape(s) for s in shape)


def _format_rf(rf: Any) -> str:
    if rf is None:
        return "-"
    if isinstance(rf, (tuple, list)):
        return "x".join(map(str, rf))
    return str(rf)


def _collapse(calls: list[Any]) -> Any:
    """One shape when every call gave the same (the usual case), else the per-call list."""
    if not calls:
        return None
    return calls[0] if all(c == calls[0] for c in calls) else list(calls)


def _receptive_fields(module: nn.Module, input_size: tuple[int, ...], notes: list[str]) -> dict[str, Any]:
    """Receptive-field size per module name: ``size``, or ``"global"``; {} when unavailable.

    The receptive field is an extra column, so a model it cannot describe still
    gets its table; the reason goes into the notes printed under it.
    """
    try:
        from helpers.receptive import receptive_fields_by_module  # lazily: its own pass
    except ImportError as err:
        notes.append(f"receptive fields unavailable ({err})")
        return {}
    try:
        fields = receptive_fields_by_module(module, input_size)
    except (NotImplementedError, ValueError) as err:
        notes.append(f"receptive fields unavailable ({err})")
        return {}
    return {name: ("global" if rf.is_global else rf.size) for name, rf in fields.items()}


@answers("01_layers/q1_shapes",
         "01_layers/q5_cost",
         "02_blocks/q2_numbers",
         "02_blocks/q3_costs",
         "03_architectures/q1_alexnet",
         "04_efficiency/q1_flops")
def summary(module: nn.Module, input_size: Sequence[int]) -> Summary:
    """A per-layer table of ``module`` for ONE input of shape ``input_size`` (no batch dimension).

    A row for every layer that is a leaf module, owns parameters directly, or
    computes MACs outside its children, in ``named_modules()`` order. A row's
    ``params`` are the layer's own (a shared parameter counts in its first row
    only) and its ``macs`` the ones computed in its own code, so the rows add up
    to the totals, which are :func:`~helpers.counting.count_params` and
    :func:`~helpers.counting.count_macs`. Output shapes include the batch of 1.
    The model runs on meta tensors in eval mode and is left as it was.
    """
    size = _check_input_size(input_size)
    trace = _trace(module, size, record_shapes=True)  # shapes and MACs: one pass
    notes: list[str] = []
    rfs = _receptive_fields(module, size, notes)

    rows: list[dict[str, Any]] = []
    seen: set[int] = set()
    for name, m in module.named_modules():
        own = [p for p in m.parameters(recurse=False) if id(p) not in seen]
        is_leaf = next(iter(m.children()), None) is None
        if not (is_leaf or own or trace.exclusive[name]):
            continue
        seen.update(id(p) for p in own)
        calls = trace.output_shapes.get(name, [])
        rows.append(
            {
                "name": name,
                "type": type(m).__name__,
                "output_shape": _collapse(calls),
                "calls": len(calls),
                "params": sum(p.numel() for p in own),
                "macs": trace.exclusive[name],
                "receptive_field": rfs.get(name),
            }
        )
    return Summary(
        rows=rows,
        input_size=size,
        total_params=count_params(module),
        trainable_params=count_params(module, trainable_only=True),
        total_macs=trace.total,
        model_type=type(module).__name__,
        notes=notes,
    )
