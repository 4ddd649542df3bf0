#!/usr/bin/env python3
"""The library exports exactly the symbols of its linker map, all from the public header."""
import re
import subprocess
import sys

lib, map_file, header = sys.argv[1:4]
out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True, capture_output=True,
                     text=True).stdout
exported = {line.split()[-1].split("@")[0] for line in out.splitlines()
            if line.split()[1] in "TDBRVW" and not line.split()[-1].startswith("SMIPC_")}
text = open(map_file).read()
mapped = set(re.findall(r"^\s+(smipc_\w+);", text, re.M))
declared = set(re.findall(r"SMIPC_EXPORT [^;(]*?\b(smipc_\w+)\s*\(", open(header).read()))
problems = []
if exported != mapped:
    problems.append(f"exported but not in the map: {sorted(exported - mapped)}; "
                    f"in the map but not exported: {sorted(mapped - exported)}")
if mapped != declared:
    problems.append(f"in the map but not declared: {sorted(mapped - declared)}; "
                    f"declared but not in the map: {sorted(declared - mapped)}")
if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"{len(exported)} symbols exported, exactly the map and the header")
