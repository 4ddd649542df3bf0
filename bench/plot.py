"""Turns the benchmark JSON (from `smipc bench --json` and bench/python_bench.py --json)
into PNG plots: latency percentiles, throughput by message size, many-to-one scaling.

    python3 bench/plot.py C_JSON PY_JSON OUTDIR
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load(path):
    with open(path) as f:
        return json.load(f)


def series(rows, workload, metric, peers):
    out = {}
    for r in rows:
        if r["workload"] == workload and r["metric"] == metric and r["peer"] in peers:
            out.setdefault(r["peer"], []).append((r["param"], r["median"]))
    return {p: sorted(v) for p, v in out.items()}


def latency(ax, rows, metric_of, peers, title):
    pcts = ["p50", "p99", "p99.9"]
    width = 0.8 / len(peers)
    for i, p in enumerate(peers):
        vals = []
        for pc in pcts:
            m = [r["median"] for r in rows if r["workload"] == "rtt" and
                 r["metric"] == metric_of(pc) and r["peer"] == p]
            vals.append(m[0] if m else 0)
        ax.bar([k + i * width for k in range(len(pcts))], vals, width, label=p)
    ax.set_xticks([k + 0.4 - width / 2 for k in range(len(pcts))], pcts)
    ax.set_yscale("log")
    ax.set_ylabel("round trip, µs (log)")
    ax.set_title(title)
    ax.legend(fontsize=8)


def lines(ax, rows, workload, metric, peers, title, xlabel, ylabel, logx=True):
    for p, pts in series(rows, workload, metric, peers).items():
        ax.plot([x for x, _ in pts], [y for _, y in pts], marker="o", label=p)
    if logx:
        ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)


def main():
    c_rows, py_rows, outdir = load(sys.argv[1]), load(sys.argv[2]), sys.argv[3]
    c_peers = ["smipc", "pipe", "unix", "zeromq", "floor"]
    py_peers = ["smipc", "mp.Pipe", "mp.Queue", "socketpair", "pyzmq", "iceoryx2"]

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    latency(axes[0], c_rows, lambda pc: pc, c_peers, "C: 64 B round trip")
    latency(axes[1], py_rows, lambda pc: f"{pc} (us)",
            [p for p in py_peers if any(r["peer"] == p and r["workload"] == "rtt"
                                        for r in py_rows)],
            "Python: 64 B round trip")
    fig.tight_layout()
    fig.savefig(f"{outdir}/latency.png", dpi=110)

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    lines(axes[0], c_rows, "stream", "GB/s", c_peers + ["loan", "ring"], "C: one-way streaming",
          "message size, bytes", "GB/s (log)")
    lines(axes[1], py_rows, "stream", "GB/s", py_peers, "Python: one-way streaming",
          "message size, bytes", "GB/s (log)")
    fig.tight_layout()
    fig.savefig(f"{outdir}/throughput.png", dpi=110)

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    lines(axes[0], c_rows, "m2o", "round trips/s", c_peers, "C: many clients, one server",
          "clients", "round trips/s, millions (log)")
    lines(axes[1], py_rows, "m2o", "round trips/s (M)", py_peers,
          "Python: many clients, one server", "clients", "round trips/s, millions (log)")
    fig.tight_layout()
    fig.savefig(f"{outdir}/many_to_one.png", dpi=110)
    print(f"wrote {outdir}/latency.png, throughput.png, many_to_one.png")


if __name__ == "__main__":
    main()
