"""Test-wide set-up: fast mode on, and Jupyter, IPython and matplotlib write to a temporary home."""
import os
import tempfile

_home = tempfile.mkdtemp(prefix="cnn-course-test-home-")
for var, sub in {
    "JUPYTER_CONFIG_DIR": "jupyter/config",
    "JUPYTER_DATA_DIR": "jupyter/data",
    "JUPYTER_RUNTIME_DIR": "jupyter/runtime",
    "IPYTHONDIR": "ipython",
    "MPLCONFIGDIR": "matplotlib",
}.items():
    os.environ[var] = os.path.join(_home, sub)
    os.makedirs(os.environ[var], exist_ok=True)
os.environ["JUPYTER_PLATFORM_DIRS"] = "1"
os.environ["MPLBACKEND"] = "Agg"
os.environ["CNN_COURSE_FAST"] = "1"


def pytest_generate_tests(metafunc):
    """``mutant`` takes every name in the test class's ``MUTANTS`` (see ``course.UnitRoundTrip``)."""
    if "mutant" in metafunc.fixturenames:
        metafunc.parametrize("mutant", list(metafunc.cls.MUTANTS))
