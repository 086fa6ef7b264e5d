"""The course's grading package: release build, nbgrader conversion, batch grading, reports.

Run as ``python -m autograder release`` or ``python -m autograder grade ...``.
"""
import sys as _sys

# nbformat validates with jsonschema, which imports the optional ``rfc3987_syntax`` IRI checker
# when it is installed (JupyterLab's dependencies install it). That module builds a parser at
# import: about 1.1 s on a 2-core CPU, paid by every grading process and every grading kernel
# (the notebooks' set-up cell imports otter, hence nbformat), for a string format no notebook
# schema uses. Marked absent here, before anything imports jsonschema: the import then raises
# ImportError, which jsonschema catches. See autograder/kernel.py for the kernels.
SKIPPED_IMPORTS = ("rfc3987_syntax",)
for _name in SKIPPED_IMPORTS:
    _sys.modules.setdefault(_name, None)
