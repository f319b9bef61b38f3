"""``dcformat quantize-activations``: calibrate int8 activation parameters and store them in a copy of the file."""

from __future__ import annotations

import argparse

from ..int8.params import METHODS


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "quantize-activations",
        help="calibrate int8 activation ranges on sample inputs and store them in the file",
        description="Run MODEL.dc's graph in float on the sample inputs, record each value's range (min/max or "
        "percentiles, or the range with the least quantization error) and write a copy with int8 parameters in its metadata (key dcformat.int8, spec/INT8.md). "
        "Tensor payloads are copied byte for byte. Run the result with 'dcformat run --precision int8'.",
    )
    p.add_argument("model", metavar="MODEL.dc", help="a dcformat file with a graph section")
    p.add_argument("--calib", required=True, metavar="SAMPLES.npz",
                   help="calibration inputs: one array per graph input, samples along the first axis (no pickles)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.dc", help="the file to write")
    p.add_argument("--method", choices=METHODS, default="minmax",
                   help="range estimator: minmax (observed range), percentile, or mse (the min/max range shrunk to "
                   "minimise the squared quantization error; best for long-tailed activations) (default minmax)")
    p.add_argument("--percentile", type=float, default=99.99, help="for --method percentile: the upper percentile (default 99.99)")
    p.add_argument("--float-outputs", action="store_true",
                   help="store no parameters for the graph outputs: the nodes producing them run in float on int8 inputs, "
                   "so scores keep full resolution (an int8 output saturates at its calibrated range and ties near scores)")
    p.add_argument("--shared-concat", action="store_true",
                   help="give each Concat input read only by the Concat the output's parameters (one rounding, not two)")
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
              f"({args.method}); {len(report) - len(floats)} of {len(report)} nodes run in int8")
        for d in floats:
            print(f"  float: {d.node} ({d.op}): {d.why}")
    return 0
