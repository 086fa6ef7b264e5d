"""The course's grading package: release build, nbgrader conversion, batch grading, reports.

Run as ``python -m autograder release`` or ``python -m autograder grade ...``.
"""
