# The compiled CFFI module (generated from include/smipc.h).
from typing import Any

ffi: Any
lib: Any
