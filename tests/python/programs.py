"""Where the tests find the programs the build made: the smipc command and the C test
helpers."""
import os
import sys

import pytest


def smipc_command() -> str:
    """The smipc program: beside this Python (pip install puts it there), else in the
    build tree next to the examples."""
    beside = os.path.join(os.path.dirname(sys.executable), "smipc")
    if os.access(beside, os.X_OK):
        return beside
    folder = os.environ.get("SMIPC_EXAMPLES_DIR")
    if not folder:
        pytest.fail("SMIPC_EXAMPLES_DIR must name the build's examples folder")
    return os.path.join(folder, "..", "tools", "smipc")


def helper(name: str) -> str:
    """A C test helper (tests/*.c) the build made."""
    folder = os.environ.get("SMIPC_TEST_HELPERS_DIR")
    if not folder:
        pytest.fail("SMIPC_TEST_HELPERS_DIR must name the folder with the built C test helpers")
    return os.path.join(folder, name)
