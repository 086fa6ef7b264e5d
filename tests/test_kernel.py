"""The grading kernel: a plain ipykernel started through ``autograder.kernel``, minus the slow
optional IRI checker that the notebooks' otter import would otherwise load."""
from __future__ import annotations

import nbformat
from nbclient import NotebookClient

from autograder import SKIPPED_IMPORTS
from autograder.kernel import GradingKernelManager


def test_manager_starts_the_grading_kernel_in_place_of_ipykernel_launcher():
    km = GradingKernelManager(kernel_name="python3")
    cmd = km.format_kernel_cmd()
    assert "autograder.kernel" in cmd and "ipykernel_launcher" not in cmd
    assert cmd[cmd.index("autograder.kernel") - 1] == "-m"


def test_grading_kernel_runs_notebooks_and_skips_the_slow_import(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import sys, nbformat, jsonschema\n"
                                  f"print(sorted(n for n in {SKIPPED_IMPORTS!r} if sys.modules.get(n, 0) is None))"),
        nbformat.v4.new_code_cell("x = sum(range(10))\nx"),
    ])
    NotebookClient(nb, timeout=60, kernel_name="python3", kernel_manager_class=GradingKernelManager,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert nb.cells[0].outputs[0]["text"].strip() == str(sorted(SKIPPED_IMPORTS)), nb.cells[0].outputs
    assert nb.cells[1].outputs[0]["data"]["text/plain"] == "45"
    # jsonschema still validates notebooks without the skipped module
    nbformat.validate(nb)
