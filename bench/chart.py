"""Draw the chart of a bench results file (runs in .bench/venv-tools, with matplotlib).

    .bench/venv-tools/bin/python bench/chart.py bench/results/latest.json out.png

Three panels, one group of bars per case, one bar per client: throughput (ops/s or
events/s), client CPU per operation, and throughput as a ratio to the best peer.
Our own clients (aetcd, aetcd+uvloop: aetcd on uvloop's event loop, aetcd@REF) are
marked "(ours)" in the legend; bars of a client on uvloop are hatched.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

SHORT = {
    "range-serializable": "range\nserializable",
    "lease-keepalive": "lease\nkeep-alive",
    "watch-live": "watch\nlive",
    "watch-replay": "watch\nreplay",
    "range": "range\nlinearizable",
}
COLORS = {
    "aetcd": "#d62728",
    "aetcd+uvloop": "#8c1a1b",
    "aetcd-pypi": "#1f77b4",
    "etcd3aio": "#2ca02c",
    "grpc.aio": "#7f7f7f",
}


def main(src: str, dst: str) -> None:
    results = json.loads(Path(src).read_text())
    rows = results["rows"]
    labels: list[str] = []
    clients: list[str] = []

    def label_of(r: dict) -> str:
        return SHORT.get(r["case"], r["case"]) + (f"\n@{r['in_flight']}" if r["in_flight"] else "")

    for r in rows:
        label = label_of(r)
        if label not in labels:
            labels.append(label)
        if r["client"] not in clients:
            clients.append(r["client"])
    value = {(label_of(r), r["client"]): r for r in rows}
    info = results.get("clients", {})

    fig, axes = plt.subplots(3, 1, figsize=(max(12, len(labels) * 0.95), 13), sharex=True)
    width = 0.8 / max(1, len(clients))
    panels = [
        ("ops_per_s", "ops/s (events/s for watch)", True),
        ("client_cpu_us_per_op", "client CPU µs per op", False),
        ("ratio_to_best_peer", "throughput ÷ best peer", False),
    ]
    for ax, (key, title, log) in zip(axes, panels, strict=True):
        for j, client in enumerate(clients):
            xs, ys = [], []
            for i, label in enumerate(labels):
                r = value.get((label, client))
                if r and r.get(key):
                    xs.append(i + (j - (len(clients) - 1) / 2) * width)
                    ys.append(r[key])
            color = COLORS.get(client, "#ff7f0e" if client.startswith("aetcd@") else None)
            meta = info.get(client, {})
            uvloop = str(meta.get("loop", "")).startswith("uvloop")
            name = client + (" (ours)" if meta.get("ours") else "")
            style = {"hatch": "//", "edgecolor": "white"} if uvloop else {}
            ax.bar(xs, ys, width, label=name, color=color, **style)
        ax.set_ylabel(title)
        if log:
            ax.set_yscale("log")
        if key == "ratio_to_best_peer":
            ax.axhline(1.0, color="black", linewidth=0.8)
            top = max([r[key] for r in rows if r.get(key)] + [1.0])
            ax.set_ylim(0, top * 1.1)
        ax.grid(axis="y", alpha=0.3)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, ncol=len(clients), loc="upper center", bbox_to_anchor=(0.5, 0.965))
    axes[-1].set_xticks(range(len(labels)))
    axes[-1].set_xticklabels(labels, rotation=0, fontsize=8)
    s = results["settings"]
    fig.suptitle(
        f"aetcd bench {results['created'][:16]}: etcd single member, fsync on, "
        f"key {s['key_size']} B, "
        f"value {s['value_size']} B, median of {s['repeat']}, {results['machine']['cpus']} CPUs"
    )
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.savefig(dst, dpi=90)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
