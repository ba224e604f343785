"""Command line of dsa-report. Exit codes: 0 fine, 1 a regression (compare), 2 bad input."""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

from . import claims, compare, cost, load, render


# --other-us-per-token, for cost and claims alike.
OTHER_HELP = ("non-attention time per token (default: measured by a model_prefill run of the real dimensions in the "
              "results: the whole model, or a layer range such as one layer of deepseek-v3.2-exp taken for every "
              "layer; else 0, and the output says so)")
PRICE_HELP = "the GPU's price in US dollars per hour, for the cost figures (default 2.0)"
LAYERS_HELP = "layers of the modelled model (default 61)"


def _number(kind, low=0, above=False, below=None):
    """An argparse type: a finite number of `kind` that is >= low (> low when `above`) and,
    when `below` is given, < below. NaN passes a plain `v < 0` test and an infinite price
    or layer count only surfaces later as a traceback or as NaN figures, so both are refused
    here, where the message can name the option."""
    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'a whole' if kind is int else 'a'} number, got {text!r}")
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if (v <= low) if above else (v < low):
            raise argparse.ArgumentTypeError(f"expected a value {'>' if above else '>='} {low}, got {text!r}")
        if below is not None and v >= below:
            raise argparse.ArgumentTypeError(f"expected a value < {below}, got {text!r}")
        return v
    return parse


# A zero price makes every cost 0 and every dense/DSA ratio 0/0; a model of 0 layers has no
# attention to cost. Non-attention time may be 0 (attention only).
_PRICE = _number(float, above=True)
_LAYERS = _number(int, low=1)
_OTHER = _number(float)


class _Once(argparse.Action):
    """argparse's plain store, except that a second, different value is an error: argparse
    keeps the last one without a word, so `--gpu-hour-usd 2 ... --gpu-hour-usd 3` priced at
    3 a command line the user meant at 2 (as dsa-bench run refuses its options twice)."""

    def __call__(self, parser, namespace, values, option_string=None):
        given = namespace.__dict__.setdefault("_given", {})
        if self.dest in given and given[self.dest] != values:
            parser.error(f"argument {option_string}: given twice ({given[self.dest]!r}, then {values!r}): "
                         "it takes one value")
        given[self.dest] = values
        setattr(namespace, self.dest, values)


class _Parser(argparse.ArgumentParser):
    """Every option of every command stores through _Once (the subcommands' parsers are of
    this class too)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.register("action", None, _Once)


def _parser():
    p = _Parser(prog="dsa-report", description="Reports from dsa-bench results (schema version 1).")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("render", help="plots (PNG, SVG), report.md and a self-contained report.html")
    r.add_argument("results", nargs="+", help="results files of one device (their cases are read together)")
    r.add_argument("-o", "--out", required=True, help="output directory")
    r.add_argument("--gpu-hour-usd", type=_PRICE, default=2.0, help=PRICE_HELP)
    r.add_argument("--layers", type=_LAYERS, default=61, help=LAYERS_HELP)
    r.add_argument("--other-us-per-token", type=_OTHER, default=None, help=OTHER_HELP)

    c = sub.add_parser("compare", help="regression gate: exit 1 on a slower or failing case, DSA less "
                                           "accurate against dense on the same inputs, or more memory")
    c.add_argument("baseline", nargs="+",
                   help="the baseline's results file, or several of one device read together (each case once): "
                        "e.g. a nightly's parts run in separate calls")
    c.add_argument("current", help="the results file of the run under test")
    c.add_argument("--alpha", type=_number(float, above=True, below=1), default=0.01,
                   help="Mann-Whitney U significance, between 0 and 1 (default 0.01)")
    c.add_argument("--min-change", type=_number(float), default=None,
                   help="smallest relative change of the median that counts (default: 0.15 for CPU cases, 0.05 for "
                        "GPU cases: a whole run moves that much from one run to the next)")
    c.add_argument("--confirm", metavar="RERUN.json",
                   help="a re-run of the cases that came out slower: a slower series counts only if it is slower "
                        "there too (else NOISE); scripts/run.sh --baseline makes it")
    c.add_argument("--allow-device-mismatch", action="store_true",
                   help="compare results from different devices anyway (refused by default: a verdict would "
                        "then measure the devices, not the change)")
    c.add_argument("--by-params", action="store_true",
                   help="pair cases by op and parameters (variant names aside) instead of by name: a run of kernels "
                        "under evaluation (suites/candidates.json) against the defaults' run (suites/nightly.json)")
    c.add_argument("--json", help="also write the verdicts as JSON here")

    k = sub.add_parser("cost", help="dollars per million tokens by position, prefill and decode, dense vs DSA")
    k.add_argument("results", nargs="+", help="results files of one device (their cases are read together)")
    k.add_argument("--gpu-hour-usd", type=_PRICE, default=2.0, help=PRICE_HELP)
    k.add_argument("--layers", type=_LAYERS, default=61, help=LAYERS_HELP)
    k.add_argument("--other-us-per-token", type=_OTHER, default=None,
                   help=OTHER_HELP)
    k.add_argument("--json", help="also write the figures as JSON here")

    v = sub.add_parser("claims", help="a verdict on each published claim (dsa-spec.md section 9)",
                       description="A verdict on each published claim. suites/claims.json holds the measurements "
                                   "they need: on a GPU, scripts/run.sh suites/claims.json runs it and prints them.")
    v.add_argument("results", nargs="+",
                   help="results files of one device (their cases are read together: e.g. the claims suite's, or the "
                        "nightly sweeps and a model run)")
    v.add_argument("--layers", type=_LAYERS, default=61, help=LAYERS_HELP)
    v.add_argument("--other-us-per-token", type=_OTHER, default=None,
                   help=OTHER_HELP)
    v.add_argument("--json", help="also write the verdicts as JSON here")
    return p


def _strict(x):
    """NaN and infinities as null: Python writes them as bare NaN / Infinity, which strict
    JSON readers (jq, JavaScript, most other languages) refuse."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _strict(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_strict(v) for v in x]
    return x


def write_json(path, data):
    if path:
        with open(path, "w") as f:
            json.dump(_strict(data), f, indent=1, allow_nan=False)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "render":
            if os.path.exists(args.out) and not os.path.isdir(args.out):
                raise load.ResultsError(f"-o {args.out}: a file is there; -o names the report's folder")
            doc = load.load_many(args.results)
            r = render.render(doc, args.out, args.gpu_hour_usd, args.layers, args.other_us_per_token)
            print(f"report: {args.out}/report.md and {args.out}/report.html ({len(r['plots'])} plots"
                  + (f"; not drawn: {', '.join(r['skipped'])}" if r["skipped"] else "") + ")")
            return 0
        if args.command == "compare":
            confirm = load.load_results(args.confirm) if args.confirm else None
            r = compare.compare(load.load_many(args.baseline), load.load_results(args.current), args.alpha,
                                args.min_change, args.allow_device_mismatch, args.by_params, confirm)
            print(compare.markdown(r))
            write_json(args.json, r)
            return r["exit_code"]
        if args.command == "cost":
            r = cost.cost_model(load.load_many(args.results), args.gpu_hour_usd, args.layers, args.other_us_per_token)
            print(cost.markdown(r))
            write_json(args.json, r)
            return 0
        if args.command == "claims":
            r = claims.evaluate(load.load_many(args.results), args.other_us_per_token, args.layers)
            print(claims.markdown(r))
            write_json(args.json, r)
            return 0
    except load.ResultsError as e:
        print(f"dsa-report: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        # An output that cannot be written (--json in a missing folder, -o where there is no
        # permission, a full disk): the path and the reason, not a traceback. Inputs that
        # cannot be read are ResultsErrors (load.py).
        where = e.filename if e.filename is not None else "output"
        print(f"dsa-report: {where}: cannot write it: {e.strerror or e}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
