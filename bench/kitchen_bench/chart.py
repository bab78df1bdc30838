"""docs/bench/chart.png: throughput and p99 per scenario and engine, with the baseline and
the hash rates drawn across."""

from __future__ import annotations

from pathlib import Path

KEYS = ["get_me", "get_me_small", "put_me", "storm_get_me", "login", "register"]
COLORS = {"sqlite": "#1f77b4", "postgres": "#ff7f0e"}


def make_chart(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    any_er = next(iter(res["engines"].values()))
    large = any_er["seed"]["large"]["users"]
    small = any_er["seed"]["small"]["users"]
    labels = {
        "get_me": f"1. GET me\n({large:,} users)",
        "get_me_small": f"6. GET me\n({small:,} users)",
        "put_me": "4. PUT me",
        "storm_get_me": "5. GET me\nduring storm",
        "login": "2. login",
        "register": "3. register",
    }
    engines = list(res["engines"])
    base = res["baseline"]["median"]
    h = res["hash"]
    fig, axes = plt.subplots(2, 1, figsize=(12, 9.5), constrained_layout=True)
    width = 0.8 / max(1, len(engines))
    xs = list(range(len(KEYS)))
    for ax, metric, title, unit in (
            (axes[0], "rps", "Throughput (higher is better)", "requests/s (log scale)"),
            (axes[1], "p99_ms", "p99 latency (lower is better)", "ms (log scale)")):
        for i, engine in enumerate(engines):
            med = res["engines"][engine]["median"]
            vals = [med[k][metric] or 0 for k in KEYS]
            pos = [x - 0.4 + width * (i + 0.5) for x in xs]
            bars = ax.bar(pos, vals, width * 0.95, label=engine, color=COLORS.get(engine))
            for b, v in zip(bars, vals):
                txt = f"{v:,.0f}" if v >= 100 else f"{v:.1f}" if v >= 1 else f"{v:.2f}"
                ax.annotate(txt, (b.get_x() + b.get_width() / 2, v), ha="center",
                            va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
        ax.axhline(base[metric], color="green", linestyle="--", linewidth=1.2,
                   label=f"baseline axum ({base[metric]:,.0f} req/s)" if metric == "rps"
                   else f"baseline axum p99 ({base[metric]:.2f} ms)")
        if metric == "rps":
            if h.get("all_cores_per_s"):
                ax.hlines(h["all_cores_per_s"], 3.55, 5.45, colors="red", linestyles=":",
                          linewidth=1.5,
                          label=f"all-cores hash rate ({h['all_cores_per_s']:.0f}/s)")
            ax.hlines(h["ceiling_per_s"], 3.55, 5.45, colors="grey", linestyles=":",
                      linewidth=1.0, label=f"single-hash ceiling ({h['ceiling_per_s']:.0f}/s)")
        ax.set_yscale("log")
        ax.set_xticks(xs)
        ax.set_xticklabels([labels[k] for k in KEYS])
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(axis="y", which="both", alpha=0.3)
        # The latency panel's right-hand bars (hashing scenarios) are its tallest.
        ax.legend(loc="upper right" if metric == "rps" else "upper left", fontsize=9)
        ax.margins(y=0.15)
    m, s = res["machine"], res["settings"]
    fig.suptitle(f"kitchen-api on {m['cores']} cores ({m['cpu_model']}), wrk on the same cores; "
                 f"{s['duration_s']:g}s × {s['runs']} runs, medians"
                 + (f" (1, 5, 6 and baseline in {s['slices']} slices per run)"
                    if s.get("slices", 1) > 1 else "")
                 + (" — QUICK SMOKE RUN" if res["quick"] else ""), fontsize=11)
    fig.savefig(path, dpi=110)
    plt.close(fig)
