"""Plots the streaming rows of a `smipc bench --csv` file (smipc, its loans, the bare ring,
the sockets) against message size:

    python3 bench/plot_stream.py docs/bench/c_bench_bulk_stream.csv docs/bench/bulk_stream.png
"""
import csv, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["workload"] == "stream" and r["metric"] == "GB/s"]
fig, ax = plt.subplots(figsize=(7, 4.5))
for peer in ["smipc", "loan", "ring", "unix", "pipe"]:
    pts = sorted((int(r["param"]), float(r["median"])) for r in rows if r["peer"] == peer)
    if pts:
        ax.plot([p for p, _ in pts], [v for _, v in pts], marker="o", label=peer)
ax.set_xscale("log", base=2); ax.set_yscale("log")
ax.set_xlabel("message size, bytes"); ax.set_ylabel("GB/s (log)")
ax.set_title("C streaming on the defaults: smipc, its loans, a bare ring, sockets")
ax.grid(True, which="both", alpha=0.3); ax.legend()
fig.tight_layout(); fig.savefig(sys.argv[2], dpi=110)
