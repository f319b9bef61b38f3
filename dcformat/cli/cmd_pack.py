"""``dcformat pack``: compress a model file (or the authors' legacy .net file) into a .dc file.

Every pack reports the fidelity of what it wrote (SNR and relative error of each
stored tensor against its input) and warns below ``--warn-snr``. With no flags
nothing is pruned and every quantized tensor keeps at least ``--min-snr`` (40 dB):
its code bits are raised where 8 are not enough. ``--target-snr`` and
``--target-output`` search per-layer settings (``dcformat.budget``).

Tensors are read and written one at a time (peak memory: the largest tensor
plus what the encoder needs for it), except from ONNX and PyTorch files,
which those libraries load whole. ``--jobs N`` compresses in N worker
processes and writes results in input order, so the output is byte-identical
to ``--jobs 1``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import deque
from pathlib import Path
from typing import Any

from . import InputError, UsageError
from .progress import enabled, track

CONFIG_FIELDS = ("preset", "encoding", "density", "threshold", "code_bits", "index_bits", "init", "huffman",
                 "entropy", "raw_compression", "seed", "prune_by", "kmeans_weights", "rounding", "overrides")
_NONE_WORDS = ("none", "null", "off")
# config-file keys that are not CompressionConfig settings: where per-tensor importance arrays come from
IMPORTANCE_KEYS = ("importance", "calib_sha256")

CONFIG_HELP = """\
config file (--config, TOML or JSON): top-level keys are the settings below; the
[overrides] table maps name patterns (fnmatch, later patterns win) to settings:

  preset = "safe"          # role defaults: "safe" (no pruning, 8 bits) or "paper"
  code_bits = 5            # codebook of at most 2**5 shared values
  density = 0.1            # keep 10% of the weights ("auto": per role, "none": no pruning)
  [overrides."*.bias"]
  encoding = "raw"
  [overrides."features.0.*"]
  code_bits = 8
  index_bits = 8

Command-line options override the file's top-level settings.

calibration-aware settings (written by --target-output --importance, which
measures E[x^2] of every layer's inputs on --calib): prune_by = "importance" keeps the largest
|w|*sqrt(E[x^2]) instead of |w|; kmeans_weights = "importance" weights k-means
by E[x^2]; rounding = "gptq" (written by --target-output --gptq, with each Linear
layer's E[x x^T] on --calib) picks labels that compensate each rounding error. A config that uses them starts with
importance = "calib" and the inputs' sha256: pack it with the same --calib.

defaults (no flags): nothing is pruned beyond the zeros already in the weights;
weight matrices and conv kernels get 8-bit codebooks (weights with <= 256
distinct values are stored exactly), raised per tensor until it keeps 40 dB SNR
(--min-snr); other tensors are stored exactly. The paper's settings (35 % / 8-bit
conv, 10 % / 5-bit FC, meant to be followed by retraining) are --preset paper.

fidelity: pack prints each tensor's SNR (10*log10(sum w^2 / sum (w - stored)^2))
and relative error, and warns on stderr (exit status 0) below --warn-snr
(20 dB = 10 % relative error), naming the setting that caused it.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "pack",
        help="compress a model file (.npz, .safetensors, .onnx, .pt/.pth/.bin) into a .dc file",
        description="Compress every tensor of a model file the Deep Compression way: prune small weights, "
        "cluster the rest into a codebook, store positions as relative indices, Huffman-code the streams. "
        "Weight matrices and conv kernels are compressed; other tensors (biases, norms, integer tensors) are "
        "stored exactly. Default: no pruning, 8-bit codebooks raised where a tensor would fall below 40 dB SNR; "
        "'--preset paper' for the paper's settings; --target-snr / --target-output for a per-layer search.",
        epilog=CONFIG_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="IN", help="model file: .npz, .safetensors, .onnx, .pt/.pth/.bin, or .net with --legacy-prototxt")
    p.add_argument("-o", "--output", metavar="OUT.dc", help="output file (default: IN with suffix .dc)")
    p.add_argument("--from", dest="input_format", choices=("npz", "safetensors", "onnx", "torch", "dc"),
                   help="input format, if the file name does not tell it")
    g = p.add_argument_group("compression settings")
    g.add_argument("--preset", choices=("safe", "paper"), help="role defaults: 'safe' (default: no pruning, 8-bit "
                   "codes) or 'paper' (Deep Compression: 35%% / 8-bit conv, 10%% / 5-bit FC; assumes retraining)")
    g.add_argument("--density", metavar="D", help="fraction of weights to keep, e.g. 0.1; 'none' (default with the "
                   "safe preset: no pruning) or 'auto' (the preset's role default)")
    g.add_argument("--threshold", metavar="T", type=float, help="prune weights with |w| < T instead of using a density")
    g.add_argument("--code-bits", type=int, metavar="Q", help="codebook size 2**Q (default 8; paper preset 8 conv, 5 FC)")
    g.add_argument("--index-bits", type=int, metavar="B", help="bits per relative index (default 8 conv, 5 FC)")
    g.add_argument("--init", choices=("linear", "density", "random"), help="k-means initialisation (default linear, as in the paper)")
    g.add_argument("--no-huffman", dest="huffman", action="store_false", default=None,
                   help="write streams at fixed width (the paper's P+Q layout)")
    g.add_argument("--entropy", choices=("huffman", "rans"),
                   help="stream coding: 'huffman' (default; a format 1.0 file any 1.x reader opens) or 'rans' "
                        "(also interleaved rANS where smaller: ~0.4-1.6 %% smaller, format 1.1, needs a 1.1 reader)")
    g.add_argument("--encoding", choices=("auto", "sparse", "dense", "raw"), help="force one encoding for all float tensors")
    g.add_argument("--raw-compression", choices=("none", "zstd"), help="zstd-compress tensors stored raw")
    g.add_argument("--seed", type=int, help="seed for --init random (default 0)")
    g.add_argument("--config", metavar="FILE", help="settings and per-layer overrides from a TOML or JSON file")
    g.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATTERN:KEY=VALUE[,KEY=VALUE]",
                   help="per-layer setting, e.g. 'fc1.*:code_bits=4,index_bits=4' (repeatable; later wins)")
    f = p.add_argument_group("fidelity and targets")
    f.add_argument("--min-snr", metavar="DB", default="40",
                   help="raise the code bits of unpruned tensors with default bits until each keeps DB dB SNR "
                   "(default 40; 'none' to keep 8 bits)")
    f.add_argument("--warn-snr", metavar="DB", type=float, default=None,
                   help="warn about tensors below DB dB SNR (default 20, or the --target-snr; with --target-output "
                   "only when given)")
    f.add_argument("--target-snr", metavar="DB", type=float,
                   help="choose per-layer density and code bits: the smallest file in which every tensor keeps DB dB")
    f.add_argument("--target-output", metavar="COS", type=float,
                   help="choose per-layer settings for the smallest file whose model outputs keep mean cosine "
                   "similarity COS (e.g. 0.99) with the uncompressed model on --calib inputs (needs a graph)")
    f.add_argument("--calib", metavar="SAMPLES.npz",
                   help="calibration inputs for --target-output: one array per model input, batch axis first")
    f.add_argument("--keep-vectors", action="store_true",
                   help="--target-output: store 1-D float vectors (BatchNorm, biases) raw instead of letting the search "
                   "give them small codebooks")
    f.add_argument("--importance", action="store_true",
                   help="--target-output: use the calibration inputs' activations (E[x^2] per input channel) to prune "
                   "by |w|*sqrt(E[x^2]) and weight k-means, instead of |w| and unweighted k-means. Off by default: "
                   "measured no smaller at equal held-out fidelity (MiniLM, OCR classifier), and its config needs the "
                   "same --calib (and the same float arithmetic) to be reproduced")
    f.add_argument("--gptq", action="store_true",
                   help="--target-output: error-compensating rounding to each Linear layer's k-means codebook "
                   "(GPTQ-style, from E[x x^T] of the layer's inputs on --calib) and pruning by |w|*sqrt(E[x^2]); "
                   "the config file then needs the same --calib to be reproduced")
    f.add_argument("--probe-samples", metavar="N", type=int, default=32,
                   help="--target-output: calibration inputs for the per-layer sensitivity probes (default 32; the "
                   "verification of each allocation always uses all of them)")
    f.add_argument("--save-config", metavar="FILE.toml",
                   help="write the settings used (incl. per-layer choices) as a config file that --config "
                   "reproduces byte for byte (default with a target: OUT with suffix .config.toml)")
    f.add_argument("--json", action="store_true", help="print the report as JSON instead of the table")
    p.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE", help="add a metadata string (repeatable)")
    p.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="compress in N processes (same output bytes)")
    p.add_argument("--legacy-prototxt", metavar="PROTOTXT",
                   help="IN is a Deep Compression .net file (Han et al.'s release) described by this Caffe prototxt; "
                   "converted losslessly")
    p.set_defaults(func=run)


# ----------------------------------------------------------------------------- settings


def _parse_value(key: str, text: str) -> Any:
    """A command-line value for ``key``, typed like the CompressionConfig field."""
    low = text.strip().lower()
    if key in ("density", "threshold", "code_bits", "index_bits") and low in _NONE_WORDS:
        return None
    if key == "density" and low == "auto":
        return "auto"
    try:
        if key in ("density", "threshold"):
            return float(text)
        if key in ("code_bits", "index_bits", "seed"):
            return int(text)
    except ValueError:
        raise UsageError(f"{key}: {text!r} is not a number") from None
    if key == "huffman":
        if low in ("true", "yes", "on", "1"):
            return True
        if low in ("false", "no", "off", "0"):
            return False
        raise UsageError(f"huffman: {text!r} is not true/false")
    return text


def _normalise(values: dict[str, Any], where: str, top: bool = False) -> dict[str, Any]:
    unknown = set(values) - set(CONFIG_FIELDS) - (set(IMPORTANCE_KEYS) if top else set())
    if unknown:
        raise UsageError(f"{where}: unknown setting(s) {sorted(unknown)}; known: {', '.join(CONFIG_FIELDS)}")
    out = dict(values)
    for key in ("density", "threshold", "code_bits", "index_bits"):
        if isinstance(out.get(key), str):
            out[key] = _parse_value(key, out[key])
    return out


def _toml() -> Any:
    """tomllib (Python 3.11+) or the tomli backport; JSON config files need neither."""
    try:
        import tomllib  # noqa: PLC0415

        return tomllib
    except ImportError:
        try:
            import tomli  # noqa: PLC0415

            return tomli
        except ImportError:
            raise UsageError("TOML config files need Python 3.11+ or 'pip install tomli'; or use a .json config") from None


def read_config_file(path: str) -> dict[str, Any]:
    """Settings from a TOML (default) or JSON (``.json``) file."""
    data = Path(path).read_bytes()
    try:
        if path.lower().endswith(".json"):
            doc = json.loads(data.decode("utf-8"))
        else:
            doc = _toml().loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError and TOMLDecodeError are ValueErrors
        raise UsageError(f"config file {path}: {exc}") from None
    if not isinstance(doc, dict):
        raise UsageError(f"config file {path}: the top level must be a table/object")
    doc = _normalise(doc, f"config file {path}", top=True)
    if doc.get("importance", "none") not in ("none", "calib"):
        raise UsageError(f"config file {path}: importance must be \"calib\" (recomputed from --calib) or \"none\"")
    overrides = doc.get("overrides", {})
    if not isinstance(overrides, dict) or not all(isinstance(v, dict) for v in overrides.values()):
        raise UsageError(f"config file {path}: overrides must map name patterns to tables of settings")
    doc["overrides"] = {pat: _normalise(v, f"config file {path}, override {pat!r}") for pat, v in overrides.items()}
    return doc


def _parse_set(spec: str) -> tuple[str, dict[str, Any]]:
    pattern, sep, rest = spec.rpartition(":")
    if not sep or not pattern or not rest:
        raise UsageError(f"--set {spec!r}: expected PATTERN:KEY=VALUE[,KEY=VALUE]")
    values = {}
    for item in rest.split(","):
        key, eq, val = item.partition("=")
        key = key.strip().replace("-", "_")
        if not eq or key not in CONFIG_FIELDS or key == "overrides":
            raise UsageError(f"--set {spec!r}: {item!r} is not KEY=VALUE with a known key")
        values[key] = _parse_value(key, val)
    return pattern, values


def build_config(args: argparse.Namespace, extra_overrides: dict[str, dict[str, Any]] | None = None):
    """CompressionConfig from defaults < --config file < command-line options; overrides appended in order."""
    from dcformat import CompressionConfig  # noqa: PLC0415

    settings: dict[str, Any] = read_config_file(args.config) if args.config else {}
    for key in IMPORTANCE_KEYS:
        settings.pop(key, None)  # read by importance_source(); not a CompressionConfig setting
    overrides: dict[str, dict[str, Any]] = dict(settings.pop("overrides", {}))
    if args.density is not None:
        settings["density"] = _parse_value("density", args.density)
    for key in ("preset", "threshold", "code_bits", "index_bits", "init", "huffman", "entropy", "encoding",
                "raw_compression", "seed"):
        value = getattr(args, key)
        if value is not None:
            settings[key] = value
    if settings.get("threshold") is not None:
        if settings.get("density") not in (None, "auto"):
            raise UsageError("set either a density or a threshold, not both")
        settings["density"] = None  # a threshold replaces the default density
    for spec in args.overrides:
        pattern, values = _parse_set(spec)
        overrides.pop(pattern, None)  # re-inserting moves it last: later wins
        overrides[pattern] = {**overrides.get(pattern, {}), **values}
    for pattern, values in (extra_overrides or {}).items():
        overrides.pop(pattern, None)
        overrides[pattern] = values
    try:
        return CompressionConfig(**settings, overrides=overrides)
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from None


def _metadata(args: argparse.Namespace, base: dict[str, Any]) -> dict[str, Any] | None:
    meta = dict(base)
    for item in args.meta:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UsageError(f"--meta {item!r}: expected KEY=VALUE")
        meta[key] = value
    return meta or None


# ----------------------------------------------------------------------------- writing


def _pack_in_worker(name: str, array: Any, config: Any, floor_db: float | None) -> Any:
    """Runs in a worker process (top level so it can be sent there)."""
    from dcformat.fidelity import pack_tensor  # noqa: PLC0415

    return pack_tensor(name, array, config, floor_db=floor_db)


def write_dc(output: str, items, specs, *, config, metadata, graph, jobs: int, show: bool,
             floors: dict[str, float] | None = None) -> list[Any]:
    """Stream ``items`` (an iterable of (name, array) in ``specs`` order) into a .dc file.

    Returns one ``dcformat.fidelity.PackedTensor`` per tensor (payload dropped): the fidelity of what was
    written and, for tensors given a floor in ``floors`` (name -> dB), the code bits it was raised to.
    """
    from dcformat.container.writer import StreamingWriter  # noqa: PLC0415
    from dcformat.fidelity import PackedTensor  # noqa: PLC0415

    floors = floors or {}
    results: list[Any] = []

    def keep(name: str, packed: Any) -> bytes:
        results.append(PackedTensor(b"", packed.fidelity, packed.raised_code_bits))
        return packed.payload

    try:
        writer = StreamingWriter(output, specs, config=config, metadata=metadata, graph=graph)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    with writer:
        progress = track(items, total=len(specs), desc="pack", show=show)
        try:
            import numpy as np  # noqa: PLC0415

            planned = {n: (tuple(shape), np.dtype(dtype)) for n, shape, dtype in specs}
            if jobs <= 1:
                for name, array in progress:
                    array = np.asarray(array)
                    if (array.shape, array.dtype) != planned.get(name):
                        raise InputError(f"tensor {name!r}: got {array.dtype}{array.shape}, planned {planned.get(name)}")
                    writer.add_payload(name, keep(name, _pack_in_worker(name, array, config, floors.get(name))))
                    del array
                return results
            import multiprocessing  # noqa: PLC0415
            from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415

            window: deque = deque()
            with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
                for name, array in progress:
                    array = np.asarray(array)
                    if (array.shape, array.dtype) != planned.get(name):
                        raise InputError(f"tensor {name!r}: got {array.dtype}{array.shape}, planned {planned.get(name)}")
                    window.append((name, pool.submit(_pack_in_worker, name, array, config, floors.get(name))))
                    del array
                    while len(window) >= 2 * jobs:  # bounded: at most 2*jobs tensors in flight
                        done_name, fut = window.popleft()
                        writer.add_payload(done_name, keep(done_name, fut.result()))
                while window:
                    done_name, fut = window.popleft()
                    writer.add_payload(done_name, keep(done_name, fut.result()))
        except ValueError as exc:
            from dcformat.errors import FormatError  # noqa: PLC0415

            if isinstance(exc, FormatError):
                raise
            raise InputError(str(exc)) from None
    return results


def _check_output(input_path: str, output: str) -> None:
    if os.path.exists(output) and os.path.samefile(input_path, output):
        raise UsageError(f"output {output} is the input file")
    if os.path.isdir(output):
        raise UsageError(f"output {output} is a directory")


# ----------------------------------------------------------------------------- commands


def _min_snr(args: argparse.Namespace) -> float | None:
    text = str(args.min_snr).strip().lower()
    if text in _NONE_WORDS:
        return None
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"--min-snr: {args.min_snr!r} is not a number or 'none'") from None


def importance_source(args: argparse.Namespace) -> dict[str, Any] | None:
    """The --config file's importance keys when it was planned with calibration importance, else None."""
    if not args.config:
        return None
    doc = read_config_file(args.config)
    if doc.get("importance", "none") != "calib":
        return None
    return {k: doc.get(k) for k in IMPORTANCE_KEYS}


def _config_importance(args: argparse.Namespace, config: Any, source: Any, specs) -> Any:
    """Recompute the importance arrays a --config planned from calibration inputs needs (same --calib, same
    arrays: graph_importance is deterministic), checking the inputs are the ones it was planned with."""
    src = importance_source(args)
    if src is None or args.target_output is not None or args.target_snr is not None:
        return config
    from dcformat.budget.importance import calib_digest, graph_statistics  # noqa: PLC0415
    from dcformat.config import with_importance  # noqa: PLC0415

    if not args.calib:
        raise UsageError(f"{args.config} was planned with importance from calibration inputs: give the same "
                         "inputs with --calib SAMPLES.npz to reproduce it")
    if source.graph is None:
        raise UsageError(f"{args.input} carries no graph, so the importance {args.config} needs cannot be computed")
    calib = _load_calib(args.calib)
    digest = calib_digest(calib)
    if src.get("calib_sha256") and src["calib_sha256"] != digest:
        raise InputError(f"--calib {args.calib}: not the calibration inputs {args.config} was planned with "
                         f"(sha256 {digest[:16]}..., expected {str(src['calib_sha256'])[:16]}...)")
    tensors = {n: source.tensor(n) for n, _, _ in specs}
    gptq = any(v.get("rounding") == "gptq" for v in config.overrides.values()) or config.rounding == "gptq"
    try:
        imp, hess = graph_statistics(source.graph, tensors, calib, hessians=gptq)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return with_importance(config, imp, hess)


def _check_targets(args: argparse.Namespace) -> None:
    if args.target_snr is not None and args.target_output is not None:
        raise UsageError("give either --target-snr or --target-output, not both")
    if args.target_output is not None:
        if not 0 < args.target_output <= 1:
            raise UsageError("--target-output is a mean cosine similarity in (0, 1], e.g. 0.99")
        if not args.calib:
            raise UsageError("--target-output needs sample inputs: --calib samples.npz (one array per model input)")
    elif getattr(args, "gptq", False) or getattr(args, "importance", False):
        raise UsageError("--gptq and --importance choose how --target-output quantizes; give --target-output COS "
                         "--calib SAMPLES.npz")
    elif args.calib and importance_source(args) is None:
        raise UsageError("--calib is only used with --target-output, or with a --config planned from calibration "
                         "inputs (importance = \"calib\")")
    if (args.target_snr is not None or args.target_output is not None) and (
            args.density is not None or args.threshold is not None or args.code_bits is not None):
        raise UsageError("--density/--threshold/--code-bits fix what --target-* chooses per layer; use --set "
                         "PATTERN:KEY=VALUE to pin single layers")


def run(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    output = args.output or str(Path(args.input).with_suffix(".dc"))
    _check_output(args.input, output)
    quiet = getattr(args, "quiet", False)
    if args.legacy_prototxt:
        return _run_legacy(args, output, quiet)
    from ..io.sources import open_source  # noqa: PLC0415

    _check_targets(args)
    min_snr = _min_snr(args)
    config = build_config(args)  # settings errors (exit 2) before reading anything
    source = open_source(args.input, args.input_format)
    plan_doc = None
    try:
        names = source.keys()
        specs = []
        for name in names:
            shape, dtype = source.spec(name)
            specs.append((name, shape, dtype))
        if args.target_snr is not None or args.target_output is not None:
            config, plan_doc = _plan(args, config, source, specs, show=enabled(quiet), quiet=quiet)
        else:
            config = _config_importance(args, config, source, specs)
        floors = {n: f for n, shape, dtype in specs
                  if (f := _floor(args, config, n, shape, dtype, min_snr, plan_doc)) is not None}
        items = ((name, source.tensor(name)) for name in names)
        results = write_dc(output, items, specs, config=config, metadata=_metadata(args, source.metadata),
                           graph=source.graph, jobs=args.jobs, show=enabled(quiet), floors=floors)
    finally:
        source.close()
    _report(args, output, specs, config, results, plan_doc, quiet)
    return 0


def _floor(args, config, name, shape, dtype, min_snr, plan_doc) -> float | None:
    """Tensors planned by --target-snr keep the target (bits raised if a sampled estimate fell short);
    otherwise unpruned tensors with default bits keep --min-snr."""
    from .pack_report import floor_for  # noqa: PLC0415

    if plan_doc is not None and args.target_snr is not None and name in plan_doc.get("layers", {}):
        import numpy as np  # noqa: PLC0415

        return args.target_snr if np.dtype(dtype).kind == "f" else None
    return floor_for(config, name, tuple(shape), dtype, min_snr)


class _LazyTensors:
    """A read-on-demand mapping over a source, so the SNR search holds one tensor at a time."""

    def __init__(self, source: Any, specs) -> None:
        self._source = source
        self._specs = {n: (tuple(shape), dtype) for n, shape, dtype in specs}

    def __iter__(self):
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __getitem__(self, name: str) -> Any:
        return self._source.tensor(name)

    def spec(self, name: str) -> tuple[tuple[int, ...], Any]:
        return self._specs[name]


def _load_calib(path: str) -> dict[str, Any]:
    import numpy as np  # noqa: PLC0415

    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise InputError(f"--calib {path}: not a readable .npz of arrays ({exc})") from None
    if not arrays:
        raise InputError(f"--calib {path}: no arrays")
    return arrays


def _plan(args, config, source, specs, *, show: bool, quiet: bool):
    """Run the budget search; returns the planned config and a JSON-ready summary."""
    from dcformat.budget import plan_compression  # noqa: PLC0415

    say = (lambda s: None) if quiet or args.json else (lambda s: print(s, file=sys.stderr))
    if args.target_snr is not None:
        plan = plan_compression(_LazyTensors(source, specs), target_snr=args.target_snr, base=config, progress=show)
    else:
        if source.graph is None:
            raise UsageError(f"{args.input} carries no graph, so --target-output cannot run it; use --target-snr, "
                             "or pack an ONNX model (its graph is imported)")
        calib = _load_calib(args.calib)
        tensors = {n: source.tensor(n) for n, _, _ in specs}
        try:
            importance, hessian = None, None
            if args.importance or args.gptq:
                from dcformat.budget.importance import graph_statistics  # noqa: PLC0415

                importance, hessian = graph_statistics(source.graph, tensors, calib, hessians=args.gptq)
            plan = plan_compression(tensors, target_output=args.target_output, graph=source.graph, calib=calib,
                                    base=config, progress=show, log=say, plan_vectors=not args.keep_vectors,
                                    probe_samples=max(1, args.probe_samples), importance=importance,
                                    hessian=hessian or None, prune_by="importance",
                                    kmeans_weights="importance" if args.importance else "none")
        except ValueError as exc:
            raise InputError(str(exc)) from None
    if not quiet and not args.json:
        target = f"{args.target_snr:g} dB per tensor" if args.target_snr is not None else \
            f"mean output cosine {args.target_output:g} on {args.calib}"
        print(f"per-layer settings chosen for {target}:")
        print(plan.table())
    return plan.config, plan.to_json()


def _report(args, output: str, specs, config, results, plan_doc, quiet: bool) -> None:
    """Table (or JSON) with fidelity, warnings on stderr, and the settings file."""
    import dcformat  # noqa: PLC0415
    from dcformat.config import exact_pattern, with_overrides  # noqa: PLC0415

    from . import pack_report  # noqa: PLC0415
    from .table import compute_rows  # noqa: PLC0415

    fid = {r.fidelity.name: r.fidelity for r in results}
    raised = {r.fidelity.name: r.raised_code_bits for r in results if r.raised_code_bits is not None}
    effective = with_overrides(config, {exact_pattern(n): {"code_bits": q} for n, q in raised.items()}) if raised else config
    config_path = args.save_config
    if config_path is None and plan_doc is not None:
        config_path = str(Path(output).with_suffix(".config.toml"))
    if config_path:
        header = [f"written by: dcformat pack {os.path.basename(args.input)} -> {os.path.basename(output)}",
                  f"reproduce: dcformat pack {os.path.basename(args.input)} --config {os.path.basename(config_path)}"]
        extra = {}
        if (getattr(config, "importance", None) or getattr(config, "hessian", None)) and args.calib:
            from dcformat.budget.importance import calib_digest  # noqa: PLC0415

            extra = {"importance": "calib", "calib_sha256": calib_digest(_load_calib(args.calib))}
            header.append(f"planned with importance from calibration inputs: reproduce with --calib "
                          f"{os.path.basename(args.calib)} (the same inputs)")
            header[1] += f" --calib {os.path.basename(args.calib)}"
        Path(config_path).write_text(pack_report.config_toml(effective, header, extra), encoding="utf-8")
    # --target-output trades per-tensor SNR for size on purpose: warn per tensor only when asked to
    threshold = args.warn_snr if args.warn_snr is not None else (
        args.target_snr if args.target_snr is not None else
        None if args.target_output is not None else pack_report_default_warn())
    lines = [] if threshold is None else pack_report.warnings(results, specs, effective, threshold)
    if plan_doc is not None and args.target_output is not None and plan_doc.get("rounds"):
        met = [r for r in plan_doc["rounds"] if r["loss_bound"] <= 1 - args.target_output]
        if not met:
            lines.append(f"warning: no plan met mean output cosine {args.target_output:g} on the calibration "
                         "inputs within the search's rounds; the most accurate candidates were used")
    for line in lines:
        print(line, file=sys.stderr)
    if quiet and not args.json:
        return
    file_bytes = os.path.getsize(output)
    with dcformat.open(output) as f:
        rows = compute_rows(f)
    if args.json:
        doc = pack_report.json_report(rows, fid, file_bytes=file_bytes, input_path=args.input, output=output,
                                      input_bytes=os.path.getsize(args.input), warnings_=lines, raised=raised,
                                      plan=plan_doc, config_path=config_path)
        print(pack_report.dumps(doc))
        return
    print(pack_report.render(rows, fid, file_bytes=file_bytes))
    if raised:
        print(f"code bits raised to keep {args.min_snr} dB: " + ", ".join(f"{n} -> {q}" for n, q in raised.items()))
    if config_path:
        print(f"settings written to {config_path} (dcformat pack IN --config {config_path} reproduces this file)")
    _summary(args.input, output, len(specs), quiet)


def pack_report_default_warn() -> float:
    from dcformat.fidelity import WARN_SNR_DB  # noqa: PLC0415

    return WARN_SNR_DB


def _run_legacy(args: argparse.Namespace, output: str, quiet: bool) -> int:
    from ..legacy.convert import load_legacy  # noqa: PLC0415
    from ..errors import UnsupportedFeatureError  # noqa: PLC0415
    from ..legacy.graph import caffe_graph  # noqa: PLC0415

    lossy = [flag for flag, v in (("--density", args.density), ("--threshold", args.threshold),
             ("--code-bits", args.code_bits), ("--encoding", args.encoding), ("--config", args.config),
             ("--set", args.overrides), ("--target-snr", args.target_snr is not None),
             ("--target-output", args.target_output is not None), ("--preset", args.preset)) if v]
    if lossy:
        raise UsageError(f"{lossy[0]} cannot be used with --legacy-prototxt: the conversion is lossless; "
                         "re-pack the resulting .dc file to compress it further")
    model = load_legacy(args.input, args.legacy_prototxt)
    overrides = model.overrides(index_bits=args.index_bits or 4)
    args.index_bits = None  # applied per layer above
    config = build_config(args, extra_overrides=overrides)
    tensors = model.tensors()
    try:
        graph = caffe_graph(model.net, [n for n, _ in tensors])
    except UnsupportedFeatureError as exc:
        graph = None
        if not quiet:
            print(f"note: weights converted without a graph: {exc}", file=sys.stderr)
    specs = [(n, a.shape, a.dtype) for n, a in tensors]
    results = write_dc(output, iter(tensors), specs, config=config, metadata=_metadata(args, model.metadata()),
                       graph=graph, jobs=args.jobs, show=enabled(quiet))
    _report(args, output, specs, config, results, None, quiet)
    return 0


def _summary(input_path: str, output: str, n: int, quiet: bool) -> None:
    if quiet:
        return
    a, b = os.path.getsize(input_path), os.path.getsize(output)
    ratio = f"{a / b:.1f}x smaller" if b and a >= b else f"{b / a:.2f}x larger" if a else ""
    print(f"packed {n} tensors: {input_path} ({a:,} bytes) -> {output} ({b:,} bytes, {ratio})")


__all__ = ["register", "run", "build_config", "read_config_file", "write_dc"]
