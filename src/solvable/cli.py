"""The ``solvable`` command line.

    solvable demo [--out DIR] [--d D] [--seeds S]
    solvable list [--json]
    solvable reproduce NAME [--quick] [--out DIR] [--executor ...] [--store FILE]
    solvable sweep SPEC.yaml [--store FILE] [--executor serial|local|dask] [--out DIR] [--max-points N]
                             [--json | --csv]

Exit codes: 0 success, 2 bad input (a usage error, an invalid spec, an unknown recipe, a file
that cannot be used, values a computation refuses), 1 failure (a computation failed, or a
recipe's checks did not pass).  Errors go to stderr as one line, without a traceback for user
mistakes (``--debug`` shows it).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

__all__ = ["main"]

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A mistake of the user (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own usage errors: exit 2, no traceback
        self.print_usage(sys.stderr)
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    p = _Parser(prog="solvable", description="Exactly solvable models of high-dimensional learning: "
                                              "asymptotic theory and matched finite-size simulations.")
    p.add_argument("--version", action="version", version=f"solvable {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    d = sub.add_parser("demo", help="theory vs simulation for the teacher-student perceptron (table + PNG)")
    d.add_argument("--out", default=".", help="directory for demo.png and demo.csv (default: .)")
    d.add_argument("--d", type=int, default=200, help="dimension of the simulations (default 200)")
    d.add_argument("--seeds", type=int, default=8, help="seeds per simulated point (default 8)")
    d.add_argument("--executor", default=None, choices=["serial", "local", "dask"], help="where simulations run")
    d.add_argument("--no-progress", action="store_true", help="no progress bar")

    ls = sub.add_parser("list", help="supported (problem, learner) pairs and gallery recipes")
    ls.add_argument("--json", action="store_true", help="machine-readable output")

    r = sub.add_parser("reproduce", help="run a gallery recipe (see `solvable list`)")
    r.add_argument("name")
    r.add_argument("--quick", action="store_true", help="small, fast version (seconds), still checked")
    r.add_argument("--out", default=None, help="directory for the figure and table (default: ./<name>)")
    r.add_argument("--executor", default=None, choices=["serial", "local", "dask"])
    r.add_argument("--store", default=None, help="SQLite file to store and resume results")
    r.add_argument("--no-progress", action="store_true")

    s = sub.add_parser("sweep", help="a sweep from a YAML spec")
    s.add_argument("spec", help="the YAML spec (see docs/experiments.md)")
    s.add_argument("--store", default=None, help="SQLite file to store and resume results")
    s.add_argument("--executor", default=None, choices=["serial", "local", "dask"])
    s.add_argument("--workers", type=int, default=None, help="local pool size")
    s.add_argument("--out", default=None, help="directory for <name>.csv and the plot of the spec")
    s.add_argument("--max-points", type=int, default=None, metavar="N",
                   help="the largest grid accepted (points, simulation tasks; default: the spec's "
                        "max_points, else 1000000)")
    fmt = s.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the table as JSON records on stdout")
    fmt.add_argument("--csv", action="store_true", help="print the table as CSV on stdout")
    s.add_argument("--no-progress", action="store_true")
    return p


def _progress(args) -> bool | None:
    return False if args.no_progress else None


def _out_dir(path: str, flag: str = "--out") -> Path:
    """The output directory, created now (before any work), or a UsageError naming it."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{flag} {path!r} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"{flag} {path!r}: cannot create the directory ({e.strerror or e})") from None
    return out


def _print_frame(df, file=None) -> None:
    import pandas as pd

    with pd.option_context("display.max_rows", 200, "display.max_columns", 30, "display.width", 160,
                           "display.float_format", lambda v: f"{v:.4g}"):
        print(df.to_string(index=False), file=file or sys.stdout)


# ---------------------------------------------------------------------------------------------
def _cmd_list(args) -> int:
    import solvable as sv
    from solvable.experiments.gallery import recipes

    pairs = sv.supported_pairs()
    recs = recipes()
    if args.json:
        print(json.dumps({"pairs": {k: [list(p) for p in v] for k, v in pairs.items()},
                          "recipes": [{"name": r.name, "title": r.title, "reference": r.reference} for r in recs]},
                         indent=2))
        return EXIT_OK
    theory, sims, trans = (set(pairs[k]) for k in ("theory", "simulation", "transitions"))
    allp = sorted(theory | sims | trans)
    print("Supported (problem, learner) pairs:")
    w = max((len(f"{p} + {l}") for p, l in allp), default=10)
    print(f"  {'pair':<{w}}  theory  simulation  transitions")
    for p, l in allp:
        y = lambda s: "yes" if (p, l) in s else "-"
        print(f"  {p + ' + ' + l:<{w}}  {y(theory):<6}  {y(sims):<10}  {y(trans)}")
    print("\nGallery recipes (solvable reproduce NAME [--quick]):")
    if not recs:
        print("  (none available yet)")
    w = max([16] + [len(r.name) for r in recs])  # the names' column fits the longest name
    for r in recs:
        print(f"  {r.name:<{w}} {r.title}\n  {'':<{w}} {r.reference}")
    return EXIT_OK


def _cmd_demo(args) -> int:
    import numpy as np

    from solvable.experiments import plot
    from solvable.experiments.gallery.perceptron import LAM, STYLES, perceptron_table, summary_table

    if args.d < 2 or args.seeds < 2:
        raise UsageError("--d must be >= 2 and --seeds >= 2")
    out = _out_dir(args.out)
    t0 = time.perf_counter()
    print("Teacher-student perceptron: x ~ N(0, I_d), Gaussian teacher theta, y = sign(theta.x / sqrt d), "
          "alpha = n/d.")
    print(f"Bayes-optimal estimator vs ERM (logistic, hinge, square loss; L2 penalty lam={LAM}); theory (d -> infinity) vs "
          f"simulation at d={args.d} over {args.seeds} seeds.\n")
    table = perceptron_table(np.linspace(0.1, 5.0, 50), np.array([0.5, 1.0, 2.0, 3.0]), d=args.d,
                             seeds=args.seeds, executor=args.executor, progress=_progress(args))
    summ = summary_table(table)
    if len(summ):
        summ = summ.assign(**{"|sim-theory|/se": (summ["simulation"] - summ["theory"]).abs() / summ["se"]})
        _print_frame(summ)
        print("(every learner sees the same data at a given seed and alpha, so their deviations from theory "
              "move together; --seeds S averages over more)")
    th = table[table.kind == "theory"].pivot_table(index="alpha", columns="learner", values="test_error")
    print("\nTheory (test error):")
    _print_frame(th[th.index.isin([0.5, 1.0, 2.0, 3.0, 5.0])].reset_index())
    png = out / "demo.png"
    ax = plot(table, x="alpha", y="test_error", hue="learner", save=png, styles=STYLES,
              title=f"Perceptron: theory (lines) vs simulation (points, d={args.d})")
    import matplotlib.pyplot as plt

    plt.close(ax.figure)
    table.to_csv(out / "demo.csv", index=False)
    print(f"\nwrote {png} and {out / 'demo.csv'} in {time.perf_counter() - t0:.1f} s")
    return EXIT_OK


def _cmd_reproduce(args) -> int:
    from solvable.experiments.gallery import reproduce
    from solvable.experiments.store import StoreError

    out = Path(args.out) if args.out else Path(args.name)
    t0 = time.perf_counter()
    try:
        res = reproduce(args.name, quick=args.quick, out=out, executor=args.executor, store=args.store,
                        progress=_progress(args))
    except StoreError as e:  # --store names a file that is not (or no longer) a usable store
        raise UsageError(str(e)) from None
    except ValueError as e:
        if "recipe" in str(e):
            raise UsageError(str(e)) from None
        raise
    print(f"{args.name}{' (quick)' if args.quick else ''}: {len(res.checks)} checks")
    for c in res.checks:
        print(f"  {c}")
    for f in res.files:
        print(f"wrote {f}")
    print(f"{'all checks passed' if res.ok else 'SOME CHECKS FAILED'} ({time.perf_counter() - t0:.1f} s)")
    return EXIT_OK if res.ok else EXIT_FAIL


def _cmd_sweep(args) -> int:
    from solvable.experiments.spec import SpecError, load_spec
    from solvable.experiments.store import StoreError

    if args.max_points is not None and args.max_points < 1:
        raise UsageError("--max-points must be >= 1")
    try:
        spec = load_spec(args.spec, max_points=args.max_points)
    except SpecError as e:
        raise UsageError(f"invalid spec {args.spec}: {e}") from None
    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be >= 1")
    out = _out_dir(args.out) if args.out else None
    try:
        table = spec.run(store=args.store, executor=args.executor, workers=args.workers, progress=_progress(args))
    except StoreError as e:  # --store names a file that is not (or no longer) a usable store
        raise UsageError(str(e)) from None
    except ValueError as e:  # bad values the spec could not see (an unsupported pair, an unknown option, a
        # grid too big, values an engine refuses at a point)
        raise UsageError(f"{args.spec}: {e}") from None
    if args.store:  # how much of the table the store already held (a rerun says so)
        print(f"{spec.name}: {table.attrs.get('computed', 0)} task(s) computed, {table.attrs.get('cached', 0)} read "
              f"from the store {args.store}", file=sys.stderr)
    if out is not None:
        table.to_csv(out / f"{spec.name}.csv", index=False)
        print(f"wrote {out / (spec.name + '.csv')}", file=sys.stderr)
        if spec.plot:
            from solvable.experiments import plot
            import matplotlib.pyplot as plt

            kw = dict(spec.plot)
            kw.setdefault("x", next(iter(spec.over), "alpha"))
            kw.setdefault("y", "test_error")
            try:
                ax = plot(table, save=out / f"{spec.name}.png", **kw)
            except ValueError as e:
                raise UsageError(f"{args.spec}: plot: {e}") from None
            plt.close(ax.figure)
            print(f"wrote {out / (spec.name + '.png')}", file=sys.stderr)
    if args.json:
        print(table.to_json(orient="records"))
    elif args.csv:
        table.to_csv(sys.stdout, index=False)
    else:
        _print_frame(table)
    return EXIT_OK


_COMMANDS = {"demo": _cmd_demo, "list": _cmd_list, "reproduce": _cmd_reproduce, "sweep": _cmd_sweep}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``solvable`` command; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv or os.environ.get("SOLVABLE_DEBUG")
    try:
        args = _parser().parse_args(argv)
        if args.command is None:
            _parser().print_help(sys.stderr)
            return EXIT_USAGE
        os.environ.setdefault("MPLBACKEND", "Agg")
        return _COMMANDS[args.command](args)
    except UsageError as e:
        print(f"solvable: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as e:  # --help / --version
        return int(e.code or 0) if isinstance(e.code, int) or e.code is None else EXIT_USAGE
    except KeyboardInterrupt:
        print("solvable: interrupted (finished tasks are kept in the store, if any)", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `solvable list --json | head`: the reader left, which is not an error
        try:
            sys.stdout = open(os.devnull, "w")  # no second BrokenPipeError when Python flushes at exit
        except OSError:  # pragma: no cover
            pass
        return EXIT_OK
    except ImportError as e:
        if debug:
            raise
        print(f"solvable: error: {e}", file=sys.stderr)
        return EXIT_FAIL
    except Exception as e:
        if debug:
            raise
        print(f"solvable: error: {type(e).__name__}: {e}", file=sys.stderr)
        print("(run with --debug for the traceback)", file=sys.stderr)
        return EXIT_FAIL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
