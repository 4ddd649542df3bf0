"""Writes the CFFI extension's C source from include/smipc.h itself.

The declarations CFFI sees are the header run through the C preprocessor (includes
dropped, the export macro emptied), so they cannot drift from the library: a changed
signature or enum value changes the extension with it, and API mode then checks every
declaration against the real header when the extension is compiled.

Usage: gen_cffi.py HEADER OUTPUT.c CC [CC ARGS...]
"""
import re
import subprocess
import sys

import cffi


def declarations(header: str, cc: list) -> str:
    with open(header) as f:
        text = f.read()
    # Standard headers are CFFI's business (it knows uint64_t and size_t).
    text = re.sub(r"^\s*#\s*include\s*<[^>]+>\s*$", "", text, flags=re.M)
    out = subprocess.run(
        cc + ["-E", "-P", "-undef", "-nostdinc", "-DSMIPC_EXPORT=", "-x", "c", "-"],
        input=text, capture_output=True, text=True, check=True).stdout
    return out


def main() -> None:
    header, output, cc = sys.argv[1], sys.argv[2], sys.argv[3:]
    ffi = cffi.FFI()
    ffi.cdef(declarations(header, cc))
    ffi.set_source("smipc._smipc_cffi", '#include "smipc.h"')
    ffi.emit_c_code(output)


if __name__ == "__main__":
    main()
