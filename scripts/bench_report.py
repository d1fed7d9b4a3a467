#!/usr/bin/env python3
"""Reports for the hakmem benchmark scripts (Python standard library only).

  bench_report.py table results.csv [--allocators "a b ..."] [--benches "x y ..."]
                  [--meta meta.txt] [--md summary.md]
                  [--gnuplot bench.gp --png bench.png]
      Medians of throughput and peak RSS per benchmark and allocator, with
      min-max, ratios to mimalloc and to the best peer, a per-benchmark
      summary for hakmem, and (optionally) a gnuplot script plus data files
      for the chart. Runs that are missing or failed stay in the table.

  bench_report.py soak NAME=soak.csv [NAME=soak.csv ...] [--warmup S] [--window S]
      Throughput and RSS drift of soak runs: the average of the last window
      against the first window after the warm-up.

  bench_report.py latency latency.csv [--allocators "a b ..."]
      Latency percentiles of malloc and free over interleaved rounds
      (scripts/latency.sh): medians per allocator, every round's p99 and
      p99.9, and hakmem against the best peer.
"""
import argparse
import collections
import csv
import math
import os
import statistics
import sys

PEERS = ["glibc", "mimalloc", "jemalloc", "tcmalloc"]
COLORS = {
    "hakmem": "#d62728",
    "glibc": "#7f7f7f",
    "mimalloc": "#1f77b4",
    "jemalloc": "#2ca02c",
    "tcmalloc": "#ff7f0e",
}


def fmt_ops(v):
    if v >= 1e9:
        return f"{v / 1e9:.2f}G"
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e3:
        return f"{v / 1e3:.1f}k"
    return f"{v:.0f}"


def fmt_mb(kb):
    mb = kb / 1024.0
    return f"{mb:.1f}" if mb < 100 else f"{mb:.0f}"


def fmt_ratio(r):
    return "-" if r is None else f"{r:.2f}x"


class Cell:
    """All runs of one allocator on one benchmark."""

    def __init__(self):
        self.runs = []

    def add(self, row):
        self.runs.append(row)

    @property
    def ok(self):
        return [r for r in self.runs if r["status"] == "ok"]

    def tp(self):
        return [float(r["throughput_ops_s"]) for r in self.ok]

    def rss(self):
        return [float(r["peak_rss_kb"]) for r in self.ok if r["peak_rss_kb"]]

    def median_tp(self):
        v = self.tp()
        return statistics.median(v) if v else None

    def tp_by_run(self):
        """Throughput of each good run, keyed by its run number (its round)."""
        return {r["run"]: float(r["throughput_ops_s"]) for r in self.ok}

    def median_rss(self):
        v = self.rss()
        return statistics.median(v) if v else None

    def failures(self):
        return collections.Counter(r["status"] for r in self.runs if r["status"] != "ok")

    def status_label(self):
        """'' when every run was fine, else a short note such as '2/5 CRASH'."""
        if not self.runs:
            return "missing"
        fails = self.failures()
        if not fails:
            return ""
        if set(fails) == {"missing"}:
            return "missing"
        return ", ".join(f"{n}/{len(self.runs)} {s}" for s, n in fails.most_common())


def read_results(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def ordered_unique(seq):
    seen, out = set(), []
    for x in seq:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


def build_cells(rows, benches, allocators):
    cells = {(b, a): Cell() for b in benches for a in allocators}
    for r in rows:
        key = (r["benchmark"], r["allocator"])
        if key in cells:
            cells[key].add(r)
    return cells


def best_peer(cells, bench, allocators):
    best = None
    for a in allocators:
        if a not in PEERS:
            continue
        m = cells[(bench, a)].median_tp()
        if m is not None and (best is None or m > best[1]):
            best = (a, m)
    return best


# the ratio of the medians and the paired ratio further apart than this
# factor: flagged under the summary table
DISAGREE = 1.25


def paired_ratio(cell, peer_cell):
    """Median over the rounds of cell's throughput divided by peer_cell's in the
    same round (a round runs every allocator once, one after the other, so a
    slow spell of the machine hits both); None without a round in common."""
    mine, theirs = cell.tp_by_run(), peer_cell.tp_by_run()
    ratios = [mine[k] / theirs[k] for k in mine if k in theirs and theirs[k] > 0]
    return statistics.median(ratios) if ratios else None


def geomean(values):
    values = [v for v in values if v and v > 0]
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))


def table_lines(cells, benches, allocators):
    out = []
    out.append(
        "| benchmark | allocator | ops/s (median) | min–max | peak RSS MB (median) | min–max "
        "| vs mimalloc | vs best peer | RSS vs mimalloc | runs |"
    )
    out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for b in benches:
        mi = cells[(b, "mimalloc")] if (b, "mimalloc") in cells else None
        mi_tp = mi.median_tp() if mi else None
        mi_rss = mi.median_rss() if mi else None
        bp = best_peer(cells, b, allocators)
        for a in allocators:
            c = cells[(b, a)]
            note = c.status_label()
            m = c.median_tp()
            nruns = len(c.runs)
            if note == "missing":
                out.append(f"| {b} | {a} | missing | | | | | | | - |")
                continue
            runs = f"{len(c.ok)}/{nruns}" + (f" ({note})" if note else "")
            if m is None:
                # the most common failure is the headline
                label = c.failures().most_common(1)[0][0] if c.failures() else "FAIL"
                out.append(f"| {b} | {a} | {label} | | | | | | | {runs} |")
                continue
            tps, rss = c.tp(), c.rss()
            rmed = c.median_rss()
            out.append(
                "| {b} | {a} | {m} | {lo}–{hi} | {r} | {rlo}–{rhi} | {vm} | {vb} | {rm} | {runs} |".format(
                    b=b,
                    a=a,
                    m=fmt_ops(m),
                    lo=fmt_ops(min(tps)),
                    hi=fmt_ops(max(tps)),
                    r=fmt_mb(rmed) if rmed is not None else "-",
                    rlo=fmt_mb(min(rss)) if rss else "-",
                    rhi=fmt_mb(max(rss)) if rss else "-",
                    vm=fmt_ratio(m / mi_tp if mi_tp else None),
                    vb=fmt_ratio(m / bp[1] if bp else None),
                    rm=fmt_ratio(rmed / mi_rss if (mi_rss and rmed is not None) else None),
                    runs=runs,
                )
            )
    return out


def summary_lines(cells, benches, allocators):
    """One line per benchmark for each allocator that is not a peer (hakmem)."""
    out = []
    targets = [a for a in allocators if a not in PEERS]
    if not targets:
        return out
    for t in targets:
        out.append(f"**{t}** against the peers (throughput ratio > 1 is faster; RSS ratio < 1 is smaller):")
        out.append("")
        out.append(
            f"| benchmark | best peer | {t} vs best peer | paired, per round | {t} vs mimalloc "
            f"| {t} RSS vs mimalloc | {t} RSS vs glibc |"
        )
        out.append("|---|---|---:|---:|---:|---:|---:|")
        cols = [[] for _ in range(5)]
        disagree = []
        for b in benches:
            c = cells[(b, t)]
            m, rm = c.median_tp(), c.median_rss()
            bp = best_peer(cells, b, allocators)
            mi = cells.get((b, "mimalloc"))
            mi_tp = mi.median_tp() if mi else None
            mi_rss = mi.median_rss() if mi else None
            gl = cells.get((b, "glibc"))
            gl_rss = gl.median_rss() if gl else None
            bp_name = f"{bp[0]} ({fmt_ops(bp[1])})" if bp else "-"
            if m is None:
                label = c.status_label() or "FAIL"
                out.append(f"| {b} | {bp_name} | {label} | {label} | {label} | - | - |")
                continue
            vals = [
                m / bp[1] if bp else None,
                paired_ratio(c, cells[(b, bp[0])]) if bp else None,
                m / mi_tp if mi_tp else None,
                rm / mi_rss if (mi_rss and rm is not None) else None,
                rm / gl_rss if (gl_rss and rm is not None) else None,
            ]
            for col, v in zip(cols, vals):
                col.append(v)
            out.append(f"| {b} | {bp_name} | " + " | ".join(fmt_ratio(v) for v in vals) + " |")
            if vals[0] and vals[1] and max(vals[0], vals[1]) / min(vals[0], vals[1]) > DISAGREE:
                disagree.append((b, vals[0], vals[1], c, cells[(b, bp[0])], bp[0]))
        out.append("| geometric mean | | " + " | ".join(fmt_ratio(geomean(col)) for col in cols) + " |")
        out.append("")
        out.append(
            f"(paired: the median over the rounds of {t}'s throughput divided by the "
            "best peer's in the same round, where every allocator runs once, one after the other.)"
        )
        out.append("")
        for b, med, pair, c, pc, peer in disagree:
            tp, ptp = c.tp(), pc.tp()
            out.append(
                f"**Note, {b}:** the ratio of the medians ({fmt_ratio(med)}) and the paired ratio "
                f"({fmt_ratio(pair)}) disagree: the machine's speed changed during the run "
                f"({t} {fmt_ops(min(tp))}–{fmt_ops(max(tp))}, {peer} {fmt_ops(min(ptp))}–{fmt_ops(max(ptp))} "
                "over the rounds), so the two medians come from different spells. The paired "
                "ratio compares runs made side by side; re-run for a clean median."
            )
            out.append("")
    return out


def write_gnuplot(cells, benches, allocators, gp_path, png_path, title):
    # Allocators without a single result are named in the title, not plotted.
    absent = [a for a in allocators if all(cells[(b, a)].median_tp() is None for b in benches)]
    allocators = [a for a in allocators if a not in absent]
    if absent:
        title += " (no results: " + ", ".join(absent) + ")"
    if not allocators:
        if os.path.exists(gp_path):
            os.remove(gp_path)
        print("no results to plot", file=sys.stderr)
        return
    gp_dir = os.path.dirname(os.path.abspath(gp_path))
    tp_dat = os.path.join(gp_dir, "bench_tp.dat")
    rss_dat = os.path.join(gp_dir, "bench_rss.dat")
    with open(tp_dat, "w") as ft, open(rss_dat, "w") as fr:
        header = "benchmark " + " ".join(f'"{a}"' for a in allocators) + "\n"
        ft.write(header)
        fr.write(header)
        for b in benches:
            # Relative to the best peer: peers are at most 1.0, so one very
            # fast peer on one benchmark cannot flatten the whole chart.
            bp = best_peer(cells, b, allocators)
            base = bp[1] if bp else None
            if base is None:  # no peer results: relative to the best of the rest
                meds = [cells[(b, a)].median_tp() for a in allocators]
                meds = [m for m in meds if m is not None]
                base = max(meds) if meds else None
            tvals, rvals = [], []
            for a in allocators:
                c = cells[(b, a)]
                m, r = c.median_tp(), c.median_rss()
                tvals.append(f"{m / base:.4f}" if (m is not None and base) else "NaN")
                rvals.append(f"{r / 1024.0:.3f}" if r is not None else "NaN")
            ft.write(f'"{b}" ' + " ".join(tvals) + "\n")
            fr.write(f'"{b}" ' + " ".join(rvals) + "\n")
    n = len(allocators)
    colors = " ".join(COLORS.get(a, "#000000") for a in allocators)
    width = max(1000, 150 * len(benches) + 300)
    gp = f"""# generated by scripts/bench_report.py
set terminal pngcairo size {width},900 font "sans,10"
set output '{os.path.abspath(png_path)}'
set termoption noenhanced
set datafile missing "NaN"
colors = "{colors}"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.9 border -1
set boxwidth 0.9
set key outside right top
set grid ytics
set xtics nomirror
set multiplot layout 2,1 title "{title}"
set title "Throughput, median, relative to the best peer on each benchmark (dashed line); higher is better"
set ylabel "throughput / best peer"
set yrange [0:*]
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc rgb "#000000"
plot for [i=2:{n + 1}] '{tp_dat}' using i:xtic(1) title columnheader(i) lc rgb word(colors, i-1)
unset arrow 1
set title "Peak RSS, median (log scale); lower is better"
set ylabel "peak RSS (MB)"
set logscale y
set yrange [*:*]
plot for [i=2:{n + 1}] '{rss_dat}' using i:xtic(1) title columnheader(i) lc rgb word(colors, i-1)
unset multiplot
"""
    with open(gp_path, "w") as f:
        f.write(gp)


def cmd_table(args):
    rows = read_results(args.csv)
    benches = args.benches.split() if args.benches else ordered_unique(r["benchmark"] for r in rows)
    allocators = (
        args.allocators.split() if args.allocators else ordered_unique(r["allocator"] for r in rows)
    )
    cells = build_cells(rows, benches, allocators)
    meta = []
    if args.meta and os.path.exists(args.meta):
        with open(args.meta) as f:
            meta = [line.rstrip("\n") for line in f]

    lines = table_lines(cells, benches, allocators)
    summary = summary_lines(cells, benches, allocators)
    print("\n".join(lines))
    if summary:
        print()
        print("\n".join(summary).rstrip())

    if args.md:
        with open(args.md, "w") as f:
            f.write("# Benchmark results\n\n")
            for m in meta:
                f.write(f"- {m}\n")
            f.write("\n")
            f.write("\n".join(lines) + "\n\n")
            if summary:
                f.write("\n".join(summary) + "\n")
            if args.png:
                f.write(f"Chart: `{os.path.relpath(args.png, os.path.dirname(os.path.abspath(args.md)))}`\n")
    if args.gnuplot:
        date = next((m.split(": ", 1)[1] for m in meta if m.startswith("date: ")), "")
        runs = next((m.split(": ", 1)[1] for m in meta if m.startswith("runs: ")), "")
        title = "hakmem vs peers, " + date + (", runs: " + runs if runs else "")
        write_gnuplot(cells, benches, allocators, args.gnuplot, args.png or "bench.png", title)
    return 0


# ---------------------------------------------------------------------------
# soak


def read_soak(path):
    with open(path, newline="") as f:
        rows = []
        for r in csv.DictReader(f):
            try:
                rows.append(
                    {
                        "t": float(r["elapsed_s"]),
                        "tp": float(r["throughput_ops_s"]),
                        "peak": float(r["peak_rss_mb"]),
                        "rss": float(r["rss_mb"]) if r.get("rss_mb") not in (None, "") else float(r["peak_rss_mb"]),
                    }
                )
            except (KeyError, ValueError):
                continue
        return rows


def soak_stats(rows, warmup, window):
    if not rows:
        return None
    T = rows[-1]["t"]
    if warmup is None:
        warmup = min(60.0, 0.2 * T)
    if window is None:
        window = max(1.0, min(60.0, (T - warmup) / 2.0))
    body = [r for r in rows if r["t"] > warmup]
    first = [r for r in body if r["t"] <= warmup + window]
    last = [r for r in body if r["t"] > T - window]
    if not first or not last:
        return None
    tps = [r["tp"] for r in body]
    mean_tp = statistics.mean(tps)
    cv = statistics.pstdev(tps) / mean_tp if mean_tp else 0.0
    f_tp, l_tp = statistics.mean(r["tp"] for r in first), statistics.mean(r["tp"] for r in last)
    f_rss, l_rss = statistics.mean(r["rss"] for r in first), statistics.mean(r["rss"] for r in last)
    return {
        "duration": T,
        "warmup": warmup,
        "window": window,
        "samples": len(body),
        "mean_tp": mean_tp,
        "cv": cv,
        "first_tp": f_tp,
        "last_tp": l_tp,
        "tp_drift": (l_tp / f_tp - 1.0) if f_tp else 0.0,
        "first_rss": f_rss,
        "last_rss": l_rss,
        "rss_drift": (l_rss / f_rss - 1.0) if f_rss else 0.0,
        "peak_rss": max(r["peak"] for r in rows),
    }


def cmd_soak(args):
    print(
        "| allocator | duration s | samples | mean ops/s | CV | ops/s first → last | throughput drift "
        "| RSS MB first → last | RSS drift | peak RSS MB | verdict |"
    )
    print("|---|---:|---:|---:|---:|---|---:|---|---:|---:|---|")
    status = 0
    for spec in args.runs:
        name, _, path = spec.partition("=")
        if not path:
            name, path = os.path.basename(spec), spec
        rows = read_soak(path) if os.path.exists(path) else []
        s = soak_stats(rows, args.warmup, args.window)
        if s is None:
            print(f"| {name} | | | | | | | | | | NO DATA |")
            status = 1
            continue
        notes = []
        if s["rss_drift"] > args.max_rss_drift:
            notes.append(f"RSS grew > {args.max_rss_drift:.0%}")
        if s["tp_drift"] < -args.max_tp_drop:
            if s["cv"] > args.max_tp_drop:
                # per-second throughput varies more than the threshold itself
                notes.append(f"throughput fell {-s['tp_drift']:.0%}, but the run is noisy (CV {s['cv']:.0%})")
            else:
                notes.append(f"throughput fell > {args.max_tp_drop:.0%}")
        verdict = "; ".join(notes) if notes else "stable"
        print(
            f"| {name} | {s['duration']:.0f} | {s['samples']} | {fmt_ops(s['mean_tp'])} | {s['cv']:.1%} "
            f"| {fmt_ops(s['first_tp'])} → {fmt_ops(s['last_tp'])} | {s['tp_drift']:+.2%} "
            f"| {s['first_rss']:.2f} → {s['last_rss']:.2f} | {s['rss_drift']:+.2%} | {s['peak_rss']:.2f} "
            f"| {verdict} |"
        )
        print(
            f"  {name}: warm-up {s['warmup']:.0f} s excluded; windows of {s['window']:.0f} s "
            f"(first after warm-up vs last)",
            file=sys.stderr,
        )
    return status


# ---------------------------------------------------------------------------
# latency

LAT_OPS = ["malloc", "free"]
LAT_PCTS = [("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9")]
LAT_TAIL = LAT_PCTS[2:]


def fmt_ns(v):
    return "-" if v is None else f"{v:g}"


def cmd_latency(args):
    rows = read_results(args.csv)
    allocators = args.allocators.split() or ordered_unique(r["allocator"] for r in rows)
    # lat[(allocator, op, pct)] = {round: ns}; failed[allocator] = Counter of statuses
    lat = collections.defaultdict(dict)
    failed = {a: collections.Counter() for a in allocators}
    for r in rows:
        a = r["allocator"]
        if a not in failed:
            continue
        if r["status"] != "ok":
            failed[a][r["status"]] += 1
            continue
        if r["op"] not in LAT_OPS:
            continue
        for key, _ in LAT_PCTS:
            lat[(a, r["op"], key)][r["round"]] = float(r[key])

    def med(a, op, key):
        v = list(lat.get((a, op, key), {}).values())
        return statistics.median(v) if v else None

    def note(a):
        return ", ".join(f"{n} {k}" for k, n in sorted(failed[a].items()))

    print("Medians over the rounds, ns (timer overhead included):")
    print()
    print("| allocator | malloc p50 / p90 / p99 / p99.9 | free p50 / p90 / p99 / p99.9 | rounds | failed |")
    print("|---|---|---|---:|---|")
    for a in allocators:
        cols = [" / ".join(fmt_ns(med(a, op, k)) for k, _ in LAT_PCTS) for op in LAT_OPS]
        rounds = len(lat.get((a, "malloc", "p50"), {}))
        print(f"| {a} | {cols[0]} | {cols[1]} | {rounds} | {note(a)} |")
    print()
    print("Every round (in round order):")
    print()
    heads = [f"{op} {name}" for op in LAT_OPS for _, name in LAT_TAIL]
    print("| allocator | " + " | ".join(heads) + " |")
    print("|---|" + "---|" * len(heads))
    for a in allocators:
        cols = []
        for op in LAT_OPS:
            for key, _ in LAT_TAIL:
                byr = lat.get((a, op, key), {})
                cols.append(", ".join(fmt_ns(byr[k]) for k in sorted(byr, key=int)) or "-")
        print(f"| {a} | " + " | ".join(cols) + " |")
    if "hakmem" not in allocators:
        return 0
    peers = [a for a in allocators if a in PEERS]
    print()
    print("hakmem against the best peer (the lowest median among the peers; "
          "\"rounds at or below\": rounds in which hakmem's figure was at most "
          "the lowest of that round's peers):")
    print()
    print("| percentile | hakmem | best peer | rounds at or below | no worse? |")
    print("|---|---:|---|---:|---|")
    for op in LAT_OPS:
        for key, name in LAT_TAIL:
            mine = med("hakmem", op, key)
            meds = [(m, p) for p in peers if (m := med(p, op, key)) is not None]
            if mine is None or not meds:
                print(f"| {op} {name} | {fmt_ns(mine)} | - | - | - |")
                continue
            best, who = min(meds)
            byr = lat[("hakmem", op, key)]
            rounds = [k for k in byr if all(k in lat.get((p, op, key), {}) for p in peers)]
            at_or_below = sum(1 for k in rounds if byr[k] <= min(lat[(p, op, key)][k] for p in peers))
            verdict = "yes" if mine <= best else f"no (+{mine - best:g} ns)"
            print(f"| {op} {name} | {fmt_ns(mine)} | {who} {fmt_ns(best)} "
                  f"| {at_or_below}/{len(rounds)} | {verdict} |")
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("table", help="medians, ratios, chart script")
    t.add_argument("csv")
    t.add_argument("--allocators", default="")
    t.add_argument("--benches", default="")
    t.add_argument("--meta")
    t.add_argument("--md")
    t.add_argument("--gnuplot")
    t.add_argument("--png")
    s = sub.add_parser("soak", help="drift of soak runs")
    s.add_argument("runs", nargs="+", help="NAME=soak.csv")
    s.add_argument("--warmup", type=float, default=None, help="seconds excluded at the start")
    s.add_argument("--window", type=float, default=None, help="seconds averaged at each end")
    s.add_argument("--max-rss-drift", type=float, default=0.05)
    s.add_argument("--max-tp-drop", type=float, default=0.05)
    lt = sub.add_parser("latency", help="latency percentiles over rounds")
    lt.add_argument("csv")
    lt.add_argument("--allocators", default="")
    args = p.parse_args()
    if args.cmd == "table":
        return cmd_table(args)
    if args.cmd == "latency":
        return cmd_latency(args)
    return cmd_soak(args)


if __name__ == "__main__":
    sys.exit(main())
