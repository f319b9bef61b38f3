"""``dcformat quantize-activations``: calibrate int8 activation parameters and store them in a copy of the file."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "quantize-activations",
        help="calibrate int8 activation ranges on sample inputs and store them in the file",
        description="Run MODEL.dc's graph in float on the sample inputs, record each value's range (min/max or "
        "percentiles) and write a copy with int8 parameters in its metadata (key dcformat.int8, spec/INT8.md). "
        "Tensor payloads are copied byte for byte. Run the result with 'dcformat run --precision int8'.",
    )
    p.add_argument("model", metavar="MODEL.dc", help="a dcformat file with a graph section")
    p.add_argument("--calib", required=True, metavar="SAMPLES.npz",
                   help="calibration inputs: one array per graph input, samples along the first axis (no pickles)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.dc", help="the file to write")
    p.add_argument("--method", choices=("minmax", "percentile"), default="minmax", help="range estimator (default minmax)")
    p.add_argument("--percentile", type=float, default=99.99, help="for --method percentile: the upper percentile (default 99.99)")
    p.add_argument("--batch", type=int, default=8, help="samples per float run (default 8)")
    p.set_defaults(func=run)


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
        params = calibrate(graph, tensors, samples, method=args.method, percentile=args.percentile, batch=args.batch)
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
