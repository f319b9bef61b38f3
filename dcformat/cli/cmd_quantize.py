"""``dcformat quantize-activations``: calibrate int8 activation parameters and store them in a copy of the file."""

from __future__ import annotations

import argparse

from ..int8.params import CALIBRATION_DEFAULTS as DEFAULTS, METHODS


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "quantize-activations",
        help="calibrate int8 activation ranges on sample inputs and store them in the file",
        description="Run MODEL.dc's graph in float on the sample inputs, record each value's range (min/max or "
        "percentiles, or the range with the least quantization error) and write a copy with int8 parameters in its "
        "metadata (key dcformat.int8, spec/INT8.md). Tensor payloads are copied byte for byte. Run the result with "
        "'dcformat run --precision int8'. The defaults (--method mse, --shared-concat, --float-outputs) are the most "
        "accurate measured; '--method minmax --separate-concat --int8-outputs' is the first release's calibration.",
    )
    p.add_argument("model", metavar="MODEL.dc", help="a dcformat file with a graph section")
    p.add_argument("--calib", required=True, metavar="SAMPLES.npz",
                   help="calibration inputs: one array per graph input, samples along the first axis (no pickles)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.dc", help="the file to write")
    p.add_argument("--method", choices=METHODS, default=DEFAULTS["method"],
                   help="range estimator: minmax (observed range), percentile, or mse (the min/max range shrunk to "
                   "minimise the squared quantization error; best measured on long-tailed activations) "
                   f"(default {DEFAULTS['method']})")
    p.add_argument("--percentile", type=float, default=99.99, help="for --method percentile: the upper percentile (default 99.99)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--float-outputs", dest="float_outputs", action="store_true", default=DEFAULTS["float_outputs"],
                     help="store no parameters for the graph outputs: the nodes producing them run in float on int8 "
                     "inputs, so scores keep full resolution (an int8 output saturates at its calibrated range and ties "
                     "near scores) (the default)")
    out.add_argument("--int8-outputs", dest="float_outputs", action="store_false",
                     help="calibrate the graph outputs too: every node runs in int8, outputs on a 256-level grid")
    cat = p.add_mutually_exclusive_group()
    cat.add_argument("--shared-concat", dest="shared_concat", action="store_true", default=DEFAULTS["shared_concat"],
                     help="give each Concat input read only by the Concat the output's parameters (one rounding, not "
                     "two) (the default)")
    cat.add_argument("--separate-concat", dest="shared_concat", action="store_false",
                     help="calibrate each Concat input on its own (the Concat requantizes them to the output's grid)")
    p.add_argument("--input-range", metavar="LO,HI", type=_pair,
                   help="the range the preprocessing guarantees for every graph input (e.g. -123,151 for 8-bit pixels "
                   "minus channel means), used instead of the calibrated one")
    p.add_argument("--batch", type=int, default=8, help="samples per float run (default 8)")
    p.set_defaults(func=run)


def _pair(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO,HI (two numbers), got {text!r}") from None
    return lo, hi


def run(args: argparse.Namespace) -> int:
    import dcformat  # noqa: PLC0415

    from . import InputError, UsageError  # noqa: PLC0415
    from ..errors import GraphError  # noqa: PLC0415
    from ..int8.calibrate import calibrate, load_samples, write_with_params  # noqa: PLC0415
    from ..int8.model import Int8Model  # noqa: PLC0415

    if args.batch < 1:
        raise UsageError("--batch must be at least 1")
    try:
        samples = load_samples(args.calib)
    except (OSError, ValueError) as exc:
        raise InputError(f"{args.calib}: not a plain .npz of arrays ({exc})") from None
    with dcformat.open(args.model) as f:
        graph = f.graph
        if graph is None:
            raise GraphError("the file has no graph section, so there is nothing to calibrate")
        tensors = {k: f.tensor(k) for k in graph.tensor_refs(f.keys())}
    try:
        ranges = {v.name: args.input_range for v in graph.inputs} if args.input_range else None
        params = calibrate(graph, tensors, samples, method=args.method, percentile=args.percentile, batch=args.batch,
                           float_outputs=args.float_outputs, shared_concat=args.shared_concat, input_ranges=ranges)
    except ValueError as exc:
        if isinstance(exc, dcformat.FormatError):
            raise
        raise InputError(str(exc)) from None
    write_with_params(args.model, args.output, params)
    if not getattr(args, "quiet", False):
        model = Int8Model(graph, tensors, params, warn=False)
        report = model.precision_report()
        floats = [d for d in report if d.precision == "float"]
        print(f"{args.output}: {len(params.activations)} activation ranges from {params.calibration['samples']} samples "
              f"({args.method}{', shared concat' if args.shared_concat else ''}"
              f"{', float outputs' if args.float_outputs else ', int8 outputs'}); {len(report) - len(floats)} of {len(report)} nodes run in int8")
        for d in floats:
            print(f"  float: {d.node} ({d.op}): {d.why}")
    return 0
