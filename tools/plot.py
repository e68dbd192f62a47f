#!/usr/bin/python3
"""Figures of moesim's outputs with matplotlib, for papers (issue 15).

About 710 lines, a section per input kind (metrics, sweeps, traces) of small functions, kept in
one file so the tool runs from a checkout with nothing installed but matplotlib; the split when
it grows: a tools/plots/ package with a module per section.

Inputs (each FILE is detected by its contents):
  - a metrics file of `moesim run --metrics FILE` ("schema": "moesim.metrics/1",
    sim/io/metrics.cpp);
  - a sweep file of `moesim sweep` (PREFIX.json, "schema": "moesim.sweep/1", sim/io/sweep.hpp);
  - a Perfetto trace of `moesim run --trace FILE` (Chrome trace-event JSON with
    "otherData": {"generator": "moesim"}, sim/io/trace_writer.cpp).

Outputs, one file per figure the data supports, named OUTDIR/<scenario>-<kind>.<format>
(a later input with the same scenario and kind gets -2, -3, ... in argument order):
  breakdown    metrics: critical path per step (or mean serving iteration) by category, a
               stacked bar per strategy (the comparison's strategies when the run ranks some);
  expert-load  metrics: tokens per expert per step (mean over MoE layers) with the dropped
               share, device load max/mean and drop rate per MoE layer, and the (token, expert)
               copies each device received;
  expert-heatmap  metrics of `moesim run --layer-loads`: heatmaps of tokens per (layer,
               expert) and per (EP rank, layer), mean per routing pass;
  speculative  metrics of a speculative-decoding scenario: speedup over plain decoding vs batch
               size, one panel per policy and one line per draft length K;
  sweep        sweep: every metric column vs the first numeric axis (the first axis when none
               is numeric), one line per combination of the other axes and the strategy, with
               95% confidence-interval error bars when the sweep ran --seeds > 1;
  links        trace: throughput of the busiest links over time (the "links" counters, in
               GB/s; the trace records a link's rate over a transfer batch only when it kept
               the link at least half busy, and holds no link capacities).
The written paths are printed, one a line. Bad input (a missing file, not JSON, an unknown
schema, a malformed document, nothing to draw) is an error on stderr with exit status 2.
Outputs are deterministic: same inputs, same bytes (SVG hash salt and PDF/SVG dates fixed).

Usage: tools/plot.py FILE... [-o OUTDIR] [--format png|svg|pdf] [--only KIND]
Needs Debian's python3-matplotlib (tools/setup.sh installs it) and runs with /usr/bin/python3.
"""

import argparse
import json
import math
import os
import sys

METRICS_SCHEMA = "moesim.metrics/1"
SWEEP_SCHEMA = "moesim.sweep/1"
KINDS = ("breakdown", "expert-load", "expert-heatmap", "speculative", "sweep", "links")
# Where a kind's data comes from, for "nothing to draw" errors.
KIND_SOURCES = {
    "breakdown": "metrics",
    "expert-load": "metrics of a run with MoE layers",
    "expert-heatmap": "metrics of `moesim run --layer-loads`",
    "speculative": "metrics of a speculative-decoding scenario",
    "sweep": "a `moesim sweep` JSON file",
    "links": "a trace of `moesim run --trace` with link counters",
}
FORMATS = ("png", "svg", "pdf")
DPI = 110
HOTTEST_LINKS = 8
LINK_BINS = 200  # time windows the link counters are averaged over
# Fixed salt and dates so SVG ids and PDF/SVG metadata do not change from run to run.
SVG_HASHSALT = "moesim"
SAVE_METADATA = {
    "png": {"Software": "moesim tools/plot.py"},
    "svg": {"Date": None, "Creator": "moesim tools/plot.py"},
    "pdf": {"CreationDate": None, "ModDate": None, "Creator": "moesim tools/plot.py"},
}
# Sweep metric columns (sim/io/sweep.cpp sweep_metric_names): label and unit kind.
METRIC_LABELS = {
    "step_time_s": ("step time", "time"),
    "tokens_per_s": ("throughput", "tokens/s"),
    "drop_rate": ("tokens dropped", "share"),
    "dispatch_bytes_per_step": ("dispatch volume per step", "bytes"),
    "peak_hbm_bytes": ("peak HBM per device", "bytes"),
    "ttft_p50_s": ("TTFT p50", "time"),
    "ttft_p99_s": ("TTFT p99", "time"),
    "tpot_p50_s": ("TPOT p50", "time"),
    "tpot_p99_s": ("TPOT p99", "time"),
}
# Units of sweep axes, by the key path's last component.
AXIS_UNITS = {
    "rate": "requests/s",
    "duration_s": "s",
    "batch_per_device": "sequences per device",
    "context": "tokens",
    "tokens_per_step": "tokens",
}


class InputError(Exception):
    """Bad input: reported as `plot.py: MESSAGE` with exit status 2."""


# ---------------------------------------------------------------------------------------------
# Reading inputs


def read_input(path):
    """(kind, document) of one input file; kind is "metrics", "sweep" or "trace"."""
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file")
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not JSON (not UTF-8 text: {e.reason})") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}:{e.lineno}:{e.colno}: not JSON ({e.msg})") from None
    if not isinstance(doc, dict):
        raise InputError(f"{path}: not a moesim output (a JSON {type(doc).__name__}, "
                         "expected an object)")
    schema = doc.get("schema")
    if schema == METRICS_SCHEMA:
        return "metrics", doc
    if schema == SWEEP_SCHEMA:
        return "sweep", doc
    other = doc.get("otherData")
    if schema is None and isinstance(other, dict) and other.get("generator") == "moesim" \
            and isinstance(doc.get("traceEvents"), list):
        return "trace", doc
    found = f"schema {json.dumps(schema)}" if schema is not None else "no \"schema\" key"
    raise InputError(f"{path}: unknown schema ({found}; expected \"{METRICS_SCHEMA}\", "
                     f"\"{SWEEP_SCHEMA}\" or a moesim Perfetto trace)")


def need(doc, key, path, where=""):
    """doc[key], or an InputError naming the file and key path."""
    if not isinstance(doc, dict) or key not in doc:
        raise InputError(f"{path}: malformed: no key \"{where}{key}\"")
    return doc[key]


def scenario_name(kind, doc, path):
    """The scenario a document is of: its "scenario" (a trace's otherData.scenario)."""
    name = doc["otherData"].get("scenario") if kind == "trace" else need(doc, "scenario", path)
    if not isinstance(name, str) or not name:
        raise InputError(f"{path}: malformed: \"scenario\" is not a name")
    return name


# ---------------------------------------------------------------------------------------------
# Units


def time_scale(max_seconds):
    """(factor, unit) to show times of at most max_seconds."""
    if max_seconds >= 1:
        return 1.0, "s"
    if max_seconds >= 1e-3:
        return 1e3, "ms"
    return 1e6, "µs"


def unit_scale(unit_kind, values):
    """(factor, unit text) for a metric of unit_kind ("time", "bytes", "share", other)."""
    finite = [abs(v) for v in values if v is not None and math.isfinite(v)]
    top = max(finite, default=0.0)
    if unit_kind == "time":
        return time_scale(top)
    if unit_kind == "bytes":
        return (1e-9, "GB") if top >= 1e8 else (1e-6, "MB")
    if unit_kind == "share":
        return 100.0, "%"
    return 1.0, unit_kind


def metric_label(name):
    """(label, unit kind) of a sweep metric column; unknown columns by their suffix."""
    if name in METRIC_LABELS:
        return METRIC_LABELS[name]
    if name.endswith("_s"):
        return name[:-2].replace("_", " "), "time"
    if name.endswith("_bytes"):
        return name.replace("_", " "), "bytes"
    return name.replace("_", " "), ""


def axis_label(path):
    """An axis key path with its unit when known: `workload.serve.arrivals.rate (requests/s)`."""
    unit = AXIS_UNITS.get(path.split(".")[-1])
    return f"{path} ({unit})" if unit else path


# ---------------------------------------------------------------------------------------------
# Figures from metrics


def strategy_of(doc):
    """The strategy a metrics file's top-level figures are of."""
    return doc.get("strategy") or "as written"


def breakdown_rows(doc, path):
    """[(strategy label, {category: seconds})] in rank order (one row without a comparison)."""
    ranked = doc.get("comparison", {}).get("ranked")
    if ranked:
        return [(f"{r['rank']}. {r['strategy']}", need(r, "breakdown_s", path, "comparison."))
                for r in ranked]
    return [(strategy_of(doc), need(doc, "breakdown_s", path))]


def draw_breakdown(plt, doc, path):
    """Stacked bars of the critical path per strategy; None when there is no breakdown."""
    rows = breakdown_rows(doc, path)
    # Colours by the category's place in the metrics' fixed order: the same in every figure.
    order = list(rows[0][1])
    categories = [c for c in order if any(r[1].get(c, 0) > 0 for r in rows)]
    if not categories:
        return None
    totals = [sum(r[1].get(c, 0) for c in categories) for r in rows]
    factor, unit = time_scale(max(totals))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(rows) + 4.0), 4.8))
    cmap = plt.get_cmap("tab20")
    bottoms = [0.0] * len(rows)
    xs = list(range(len(rows)))
    for c in categories:
        heights = [r[1].get(c, 0) * factor for r in rows]
        ax.bar(xs, heights, bottom=bottoms, color=cmap(order.index(c) % 20),
               label=c.replace("_", " "),
               width=0.6, edgecolor="white", linewidth=0.5)
        bottoms = [b + h for b, h in zip(bottoms, heights)]
    ax.set_xticks(xs, [r[0] for r in rows], rotation=20 if len(rows) > 3 else 0, ha="right"
                  if len(rows) > 3 else "center")
    pad = 1.0 if len(rows) == 1 else 0.5
    ax.set_xlim(-pad, len(rows) - 1 + pad)
    serving = "serving" in doc
    ax.set_ylabel(f"{'mean iteration' if serving else 'step'} time ({unit})")
    objective = doc.get("comparison", {}).get("objective")
    ax.set_xlabel(f"strategy (ranked by {objective})" if len(rows) > 1 else "strategy")
    what = f"{len(rows)} strategies" if len(rows) > 1 else f"strategy {rows[0][0]}"
    ax.set_title(f"{doc['scenario']}: critical path per {'iteration' if serving else 'step'} "
                 f"by category ({doc.get('workload', '')}, {what})", fontsize=10)
    handles, labels = ax.get_legend_handles_labels()  # top of the stack first, as drawn
    ax.legend(handles[::-1], labels[::-1], fontsize=8, loc="center left",
              bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return fig


def draw_expert_load(plt, doc, path):
    """Expert, layer and device load panels; None when the run routed no MoE layer."""
    experts = need(doc, "experts", path)
    layers = need(need(doc, "routing", path), "layers", path, "routing.")
    devices = need(doc, "devices", path)
    if not experts or not layers:
        return None
    panels = 3 if len(devices) > 1 else 2
    fig, axes = plt.subplots(panels, 1, figsize=(8.0, 2.6 * panels + 0.8))
    draw_expert_tokens(axes[0], experts)
    draw_layer_load(axes[1], layers)
    if panels == 3:
        draw_device_tokens(axes[2], devices)
    fig.suptitle(f"{doc['scenario']}: expert and device load (strategy {strategy_of(doc)})",
                 fontsize=10)
    fig.tight_layout()
    return fig


def draw_expert_tokens(ax, experts):
    """Bars of tokens per expert per step (mean over layers), the dropped ones on top
    (experts[].tokens are the copies kept after capacity, dropped ones are not in them)."""
    xs = [e["expert"] for e in experts]
    kept = [e["tokens"] for e in experts]
    dropped = [e["dropped"] for e in experts]
    width = 0.8 if len(xs) <= 64 else 1.0
    ax.bar(xs, kept, width=width, color="tab:blue", label="computed", linewidth=0)
    if any(d > 0 for d in dropped):
        ax.bar(xs, dropped, bottom=kept, width=width, color="tab:red", label="dropped",
               linewidth=0)
    mean = sum(kept) / len(experts)
    ax.axhline(mean, color="black", linewidth=0.8, linestyle="--", label="mean computed")
    ax.set_xlabel("expert")
    ax.set_ylabel("tokens per step\n(mean over layers)")
    ax.set_xlim(-0.5, len(xs) - 0.5)
    ax.legend(fontsize=8, loc="upper right")


def draw_layer_load(ax, layers):
    """Device load max/mean per MoE layer, drop rate on a second axis when any token dropped."""
    xs = [l["layer"] for l in layers]
    ax.plot(xs, [l["load_max_over_mean"] for l in layers], marker="o", markersize=3,
            color="tab:blue", label="device load max/mean")
    ax.axhline(1.0, color="gray", linewidth=0.6)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("layer")
    ax.set_ylabel("device load max/mean")
    drops = [100 * l["drop_rate"] for l in layers]
    if any(d > 0 for d in drops):
        twin = ax.twinx()
        twin.plot(xs, drops, marker="s", markersize=3, color="tab:red", label="dropped")
        twin.set_ylabel("tokens dropped (%)", color="tab:red")


def draw_device_tokens(ax, devices):
    """Bars of the (token, expert) copies each device's experts received."""
    xs = [d["device"] for d in devices]
    ys = [d["tokens_routed_in"] for d in devices]
    ax.bar(xs, ys, width=0.8 if len(xs) <= 64 else 1.0, color="tab:green", linewidth=0)
    ax.set_xlabel("device")
    ax.set_ylabel("(token, expert) copies\nreceived (whole batch)")
    ax.set_xlim(-0.5, len(xs) - 0.5)


def draw_expert_heatmap(plt, doc, path):
    """Heatmaps of layer x expert and EP rank x layer loads (metrics of `moesim run
    --layer-loads`); None without them."""
    layers = need(need(doc, "routing", path), "layers", path, "routing.")
    if not layers or "expert_tokens" not in layers[0]:
        return None
    names = [l["layer"] for l in layers]
    experts = [l["expert_tokens"] for l in layers]
    ranks = [list(col) for col in zip(*(l["rank_tokens"] for l in layers))]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9.0, 8.4),
                                      gridspec_kw={"height_ratios": [1, 1]})
    draw_heatmap(fig, top, experts, "expert", "layer", names, "(token, expert) copies per pass")
    draw_heatmap(fig, bottom, ranks, "layer", "EP rank", None, "copies received per pass",
                 x_names=names)
    top.set_title("tokens per expert, per MoE layer", fontsize=9)
    bottom.set_title("tokens received per EP rank (experts split contiguously), per MoE layer",
                     fontsize=9)
    fig.suptitle(f"{doc['scenario']}: expert load by layer (strategy {strategy_of(doc)}, mean "
                 "per routing pass of an EP group)", fontsize=10)
    fig.tight_layout()
    return fig


def draw_heatmap(fig, ax, rows, x_label, y_label, y_names, colour_label, x_names=None):
    """rows[i][j] as an image: row i on the y axis (named y_names), column j on x."""
    image = ax.imshow(rows, aspect="auto", interpolation="nearest", cmap="viridis",
                      origin="lower")
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    for names, set_ticks, count in ((y_names, ax.set_yticks, len(rows)),
                                    (x_names, ax.set_xticks, len(rows[0]))):
        if names:
            step = max(1, math.ceil(count / 16))
            set_ticks(range(0, count, step), [str(n) for n in names[::step]])
    fig.colorbar(image, ax=ax, label=colour_label, fraction=0.04, pad=0.02)


def draw_speculative(plt, doc, path):
    """Speedup vs batch per policy, a line per K; None without a speculative grid."""
    spec = doc.get("serving", {}).get("speculative")
    points = spec.get("points") if spec else None
    if not points:
        return None
    policies = sorted({p["policy"] for p in points if p["policy"] != "none"})
    if not policies:
        return None
    cols = min(len(policies), 3)
    rows = math.ceil(len(policies) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols + 0.6, 3.2 * rows + 0.8),
                             sharey=True, squeeze=False)
    ks = sorted({p["k"] for p in points if p["policy"] != "none"})
    colours = {k: plt.get_cmap("viridis")(i / max(1, len(ks) - 1)) for i, k in enumerate(ks)}
    for ax, policy in zip(axes.flat, policies):
        for k in ks:
            line = sorted((p["batch"], p["speedup"]) for p in points
                          if p["policy"] == policy and p["k"] == k)
            if line:
                ax.plot([b for b, _ in line], [s for _, s in line], marker="o", color=colours[k],
                        label=f"K {k}")
        ax.axhline(1.0, color="gray", linewidth=0.8, linestyle="--")
        ax.set_xscale("log", base=2)
        ax.set_title(policy, fontsize=10)
        ax.set_xlabel("batch (sequences)")
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("speedup over plain decoding (x)")
    for ax in list(axes.flat)[len(policies):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=8, title="draft length", title_fontsize=8)
    fig.suptitle(f"{doc['scenario']}: speculative decoding ({spec.get('drafter', '')} drafts, "
                 f"strategy {strategy_of(doc)})", fontsize=10)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# Sweep curves


def parse_number(text):
    """A float from an axis value's text, or None when it is not a plain number."""
    try:
        v = float(text)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def sweep_x_axis(doc, path):
    """The axis the curves run along: the first numeric axis, else the first axis."""
    axes = need(doc, "axes", path)
    points = need(doc, "points", path)
    if not axes or not points:
        raise InputError(f"{path}: malformed: a sweep without axes or points")
    for a in axes:
        if all(parse_number(need(p, "values", path, "points[].")[a]) is not None
               for p in points):
            return a, True
    return axes[0], False


def metric_value(v):
    """(mean, ci95) of a metric cell: a number, {"mean", "ci95"} or null (None, None)."""
    if isinstance(v, dict):
        return v.get("mean"), v.get("ci95")
    return v, None


def short_value(text, width=32):
    """An axis value for a legend: mappings and lists (whole-section axes) cut to `width`."""
    return text if len(text) <= width else text[:width - 1].rstrip(", ") + "\u2026"


def label_axes(doc, axes):
    """`axes` without those that vary together with an earlier one (zipped sections such as
    model, cluster and parallelism of one system): a label names each combination once."""
    kept = []
    for a in axes:
        pairs = {(p["values"][b], p["values"][a]) for p in doc["points"] for b in kept}
        covaries = any(
            len({(p["values"][b], p["values"][a]) for p in doc["points"]})
            == len({p["values"][b] for p in doc["points"]})
            == len({p["values"][a] for p in doc["points"]})
            for b in kept) if pairs else False
        if not covaries:
            kept.append(a)
    return kept


def sweep_series(doc, path, x_axis, numeric):
    """{line label: [(x, {metric: (mean, ci95)})]} over the feasible rows, and the count of
    infeasible rows. A line is a combination of the other axes' values and the strategy."""
    others = label_axes(doc, [a for a in doc["axes"] if a != x_axis])
    strategies = {r.get("strategy") for p in doc["points"] for r in p.get("rows", [])}
    series = {}
    order = []  # x values in first-seen order, for a categorical axis
    infeasible = 0
    for p in doc["points"]:
        values = p["values"]
        x_text = values[x_axis]
        if x_text not in order:
            order.append(x_text)
        x = parse_number(x_text) if numeric else order.index(x_text)
        for r in need(p, "rows", path, "points[]."):
            if not r.get("feasible"):
                infeasible += 1
                continue
            parts = [f"{a.split('.')[-1]}={short_value(values[a])}" for a in others]
            if len(strategies) > 1:
                parts.append(r.get("strategy", ""))
            label = ", ".join(parts) or "all points"
            cells = {m: metric_value(v) for m, v in need(r, "metrics", path, "rows[].").items()}
            series.setdefault(label, []).append((x, cells))
    return series, infeasible, order


def sweep_metrics(series):
    """Metric columns with a value in at least one feasible row, in column order."""
    names = []
    for rows in series.values():
        for _, cells in rows:
            for m, (mean, _) in cells.items():
                if mean is not None and m not in names:
                    names.append(m)
    return names


def draw_sweep(plt, doc, path):
    """A panel per metric column vs the sweep's x axis; None when no row is feasible."""
    x_axis, numeric = sweep_x_axis(doc, path)
    series, infeasible, order = sweep_series(doc, path, x_axis, numeric)
    metrics = sweep_metrics(series)
    if not metrics:
        return None
    cols = min(len(metrics), 3)
    rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.1 * rows + 1.2), squeeze=False)
    cmap = plt.get_cmap("tab10")
    # Serving rows' step_time_s is the mean iteration (sim/io/sweep.hpp).
    serving = any(m.startswith(("ttft", "tpot")) for m in metrics)
    for ax, m in zip(axes.flat, metrics):
        draw_sweep_metric(ax, m, series, cmap, serving)
        ax.set_xlabel(axis_label(x_axis))
        if not numeric:
            ax.set_xticks(range(len(order)), order)
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 3), fontsize=8,
               frameon=False)
    seeds = doc.get("seeds", 1)
    note = f"{seeds} seeds a point, bars: 95% CI" if seeds > 1 else "1 seed a point"
    if infeasible:
        note += f"; {infeasible} infeasible rows not drawn"
    fig.suptitle(f"{doc['scenario']}: sweep over {x_axis} ({note})", fontsize=10)
    legend_rows = math.ceil(len(labels) / 3)
    fig.tight_layout(rect=(0, 0.03 + 0.035 * legend_rows, 1, 1))
    return fig


def draw_sweep_metric(ax, metric, series, cmap, serving):
    """One metric's lines (error bars from ci95 when present) on ax."""
    label, unit_kind = metric_label(metric)
    if serving and metric == "step_time_s":
        label = "mean iteration time"
    means = [c[metric][0] for rows in series.values() for _, c in rows if metric in c]
    factor, unit = unit_scale(unit_kind, means)
    markers = "osD^vP*X"
    dashes = ("-", "--", ":", "-.")  # lines with equal values stay visible over each other
    for i, (name, rows) in enumerate(series.items()):
        pts = sorted((x, c[metric]) for x, c in rows if metric in c and c[metric][0] is not None)
        if not pts:
            continue
        ys = [m * factor for _, (m, _) in pts]
        errs = [(e or 0.0) * factor for _, (_, e) in pts]
        ax.errorbar([x for x, _ in pts], ys, yerr=errs if any(errs) else None,
                    marker=markers[i % len(markers)], markersize=4, capsize=3,
                    linestyle=dashes[i % len(dashes)], color=cmap(i % 10), label=name)
    ax.set_ylabel(f"{label} ({unit})" if unit else label)
    ax.set_title(label, fontsize=9)
    ax.grid(alpha=0.3)


# ---------------------------------------------------------------------------------------------
# Link counters of a trace


def link_counters(doc, path):
    """{counter name: [(time µs, GB/s)]} of the trace's "links" process, samples by time."""
    events = doc["traceEvents"]
    pids = {e.get("pid") for e in events if e.get("ph") == "M" and e.get("name") ==
            "process_name" and e.get("args", {}).get("name") == "links"}
    counters = {}
    for e in events:
        if e.get("ph") == "C" and e.get("pid") in pids:
            try:
                sample = (float(e["ts"]), float(e["args"]["value"]))
            except (KeyError, TypeError, ValueError):
                raise InputError(f"{path}: malformed counter event {json.dumps(e)[:120]}") from None
            counters.setdefault(e["name"], []).append(sample)
    for samples in counters.values():
        samples.sort(key=lambda s: s[0])  # stable: equal times keep the recorded order
    return counters


def bytes_moved(samples):
    """GB/s x µs under a step-function counter (the area, to rank links by traffic)."""
    return sum(v * (t1 - t0) for (t0, v), (t1, _) in zip(samples, samples[1:]))


def binned_rate(samples, end_us, bins):
    """The step-function counter's time average over `bins` equal windows of [0, end_us]."""
    width = end_us / bins
    area = [0.0] * bins
    for (t0, v), (t1, _) in zip(samples, samples[1:]):
        if v == 0 or t1 <= t0:
            continue
        first, last = int(t0 // width), min(int(t1 // width), bins - 1)
        for b in range(first, last + 1):
            lo, hi = max(t0, b * width), min(t1, (b + 1) * width)
            if hi > lo:
                area[b] += v * (hi - lo)
    return [a / width for a in area]


def draw_links(plt, doc, path):
    """The busiest links' throughput over time (averaged over LINK_BINS windows when there are
    many samples); None without link counters."""
    counters = link_counters(doc, path)
    if not counters:
        return None
    ranked = sorted(counters, key=lambda n: (-bytes_moved(counters[n]), n))[:HOTTEST_LINKS]
    end_us = max(s[-1][0] for s in counters.values())
    if end_us <= 0:
        return None
    factor, unit = time_scale(end_us * 1e-6)
    fig, ax = plt.subplots(figsize=(9.0, 4.6))
    cmap = plt.get_cmap("tab10")
    # Few samples: the counters as recorded; many: their means over LINK_BINS windows.
    binned = max(len(counters[n]) for n in ranked) > 2 * LINK_BINS
    edges = [end_us * 1e-6 * factor * b / LINK_BINS for b in range(LINK_BINS + 1)]
    for i, name in enumerate(ranked):
        samples = counters[name]
        style = {"color": cmap(i % 10), "linewidth": 1.0, "label": name.removesuffix(" GB/s")}
        if binned:
            ax.stairs(binned_rate(samples, end_us, LINK_BINS), edges, **style)
        else:
            ax.step([t * 1e-6 * factor for t, _ in samples], [v for _, v in samples],
                    where="post", **style)
    ax.set_xlabel(f"simulated time ({unit})")
    ax.set_ylabel(f"link throughput (GB/s, mean over {edges[1]:.3g} {unit})" if binned
                  else "link throughput (GB/s)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    other = doc["otherData"]
    strategy = other.get("selection", {}).get("traced_strategy", "as written")
    ax.set_title(f"{other['scenario']}: the {len(ranked)} busiest of {len(counters)} links with "
                 f"counters (strategy {strategy})\nthe trace records a link's rate over a "
                 "transfer batch that kept it at least half busy", fontsize=10)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# Driver

DRAWERS = {
    "metrics": (("breakdown", draw_breakdown), ("expert-load", draw_expert_load),
                ("expert-heatmap", draw_expert_heatmap), ("speculative", draw_speculative)),
    "sweep": (("sweep", draw_sweep),),
    "trace": (("links", draw_links),),
}


def load_pyplot():
    """matplotlib.pyplot on the Agg backend with deterministic settings (exits 1 if absent)."""
    try:
        import matplotlib
    except ImportError:
        sys.stderr.write(f"plot.py: matplotlib is not installed for {sys.executable}: run "
                         "tools/setup.sh (Debian's python3-matplotlib) and run this tool with "
                         "/usr/bin/python3\n")
        sys.exit(1)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    matplotlib.rcParams["svg.hashsalt"] = SVG_HASHSALT
    matplotlib.rcParams["font.size"] = 9
    return plt


def output_path(outdir, scenario, kind, fmt, taken):
    """OUTDIR/<scenario>-<kind>.<fmt>, with -2, -3, ... when an earlier input took the name."""
    base = os.path.join(outdir, f"{scenario}-{kind}")
    path = f"{base}.{fmt}"
    n = 2
    while path in taken:
        path = f"{base}-{n}.{fmt}"
        n += 1
    taken.add(path)
    return path


def plot_all(inputs, outdir, fmt, only):
    """Draws every figure the inputs support; returns the paths written."""
    plt = load_pyplot()
    os.makedirs(outdir, exist_ok=True)
    written = []
    taken = set()
    for path, (kind, doc) in inputs:
        scenario = scenario_name(kind, doc, path)
        for figure_kind, draw in DRAWERS[kind]:
            if only and figure_kind != only:
                continue
            try:
                fig = draw(plt, doc, path)
            except (KeyError, TypeError, AttributeError, IndexError) as e:
                raise InputError(f"{path}: malformed {kind} document ({type(e).__name__}: {e})"
                                 ) from None
            if fig is None:
                continue
            out = output_path(outdir, scenario, figure_kind, fmt, taken)
            fig.savefig(out, format=fmt, dpi=DPI, bbox_inches="tight",
                        metadata=SAVE_METADATA[fmt])
            plt.close(fig)
            written.append(out)
    return written


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="tools/plot.py",
        description="Figures (matplotlib) from moesim metrics (`moesim run --metrics`), sweep "
                    "(`moesim sweep`, PREFIX.json) and trace (`moesim run --trace`) files; "
                    "each input's kind is read from its contents. Writes "
                    "OUTDIR/<scenario>-<kind>.<format> and prints the paths.",
        epilog="kinds: breakdown, expert-load, speculative (metrics); sweep (sweep files); "
               "links (traces). Bad input exits 2.")
    parser.add_argument("files", nargs="+", metavar="FILE", help="metrics, sweep or trace JSON")
    parser.add_argument("-o", "--outdir", default=".", metavar="OUTDIR",
                        help="directory for the figures (created; default: .)")
    parser.add_argument("--format", choices=FORMATS, default="png", help="default: png")
    parser.add_argument("--only", choices=KINDS, metavar="KIND",
                        help="draw only this kind: " + ", ".join(KINDS))
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    try:
        inputs = [(f, read_input(f)) for f in args.files]
        written = plot_all(inputs, args.outdir, args.format, args.only)
        if not written:
            what = (f"--only {args.only} (it needs {KIND_SOURCES[args.only]})" if args.only
                    else "any figure")
            raise InputError(f"nothing to draw: no input has the data for {what}")
    except InputError as e:
        sys.stderr.write(f"plot.py: {e}\n")
        return 2
    for w in written:
        print(w)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
