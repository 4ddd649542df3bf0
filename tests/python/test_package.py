"""The package itself: version, typing marker, declarations that match the header."""
import os
import re
import subprocess
import sys

import smipc
from smipc._smipc_cffi import ffi, lib

HEADER = os.path.join(os.path.dirname(__file__), "..", "..", "include", "smipc.h")


def test_version_is_the_librarys():
    assert re.fullmatch(r"\d+\.\d+\.\d+", smipc.__version__)
    assert ffi.string(lib.smipc_version()).decode() == smipc.__version__


def test_typed_package():
    assert os.path.exists(os.path.join(os.path.dirname(smipc.__file__), "py.typed"))


def test_every_constant_of_the_header_is_in_the_extension():
    text = open(HEADER).read()
    constants = dict(re.findall(r"^\s+(SMIPC_[A-Z_]+) = ([^,/]+)", text, re.M))
    assert len(constants) >= 16
    for name, value in constants.items():
        assert getattr(lib, name) == eval(value.rstrip().replace("u <<", " <<")), name


def test_config_struct_layout_is_the_compilers():
    # API mode compiled this against the header: sizes and fields come from the compiler
    assert ffi.sizeof("smipc_server_config") == 4 * 3 + 4 + 8 + 4 + 11 * 4
    assert ffi.typeof("smipc_client_id") is ffi.typeof("uint64_t")


def test_refuses_to_import_without_the_gil():
    # Calls count themselves in flight with list operations that the GIL orders; a
    # free-threaded Python running without it gets a clear refusal, not races.
    code = ("import sys; sys._is_gil_enabled = lambda: False\n"
            "try:\n    import smipc\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "smipc needs the GIL" in out.stdout, out.stdout
