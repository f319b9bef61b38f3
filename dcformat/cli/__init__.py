"""The ``dcformat`` command line: ``main(argv) -> exit code``.

Subcommands live in ``cmd_<name>.py`` modules, each with
``register(subparsers)`` that adds its parser and sets ``func``. ``main``
imports a fixed list of them, so the tool works while some are not written
yet, and it owns the error policy: exit 0 on success, 1 for invalid,
corrupt or unreadable input (one line on stderr, a traceback only with
``--debug``), 2 for usage errors, 3 for an internal error (a bug).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

SUBCOMMANDS = ("pack", "unpack", "info", "verify", "compare", "report", "run", "demo", "quantize")

EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

DESCRIPTION = """\
Store neural-network weights the Deep Compression way (Han et al., ICLR 2016):
prune small weights, share the rest through a k-means codebook, store positions
as short relative indices, and Huffman-code everything. Files end in .dc.
"""

EPILOG = """\
typical use:
  dcformat pack model.safetensors -o model.dc      compress (also .npz, .onnx, .pt)
  dcformat info model.dc                            per-layer table (the paper's Tables 2-5)
  dcformat compare model.safetensors model.dc       how much the weights changed
  dcformat unpack model.dc -o restored.safetensors  back to a file other tools read
  dcformat verify model.dc                          checksums + full decode

Run 'dcformat COMMAND --help' for the options of one command.
exit status: 0 ok, 1 invalid or unreadable input, 2 usage error, 3 internal error (a bug)
"""


class UsageError(Exception):
    """The command line is wrong (exit 2): bad option combination, unknown output type, ..."""


class InputError(Exception):
    """The input cannot be used (exit 1) for a reason that is not a FormatError."""


def _version() -> str:
    try:
        import dcformat  # noqa: PLC0415

        return f"dcformat {dcformat.__version__} (file format {dcformat.FORMAT_VERSION})"
    except Exception:  # pragma: no cover - a broken package still answers --version
        return "dcformat (version unknown)"


def _register_broken(sub: argparse._SubParsersAction, name: str, exc: ImportError) -> None:
    """Keep a command whose module cannot load visible, failing with the reason when used."""
    reason = _one_line(exc)

    def fail(args: argparse.Namespace) -> int:
        raise InputError(f"the '{name}' command is unavailable: {reason}")

    sp = sub.add_parser(name, help=f"(unavailable: {reason})", add_help=False)
    sp.add_argument("rest", nargs=argparse.REMAINDER)
    sp.set_defaults(func=fail)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dcformat", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors; no progress bars")
    parser.add_argument("--debug", action="store_true", help="show a full traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    sub.required = True
    for name in SUBCOMMANDS:
        module = f"{__name__}.cmd_{name}"
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue  # not written yet (or removed): the other commands still work
            _register_broken(sub, name, exc)
            continue
        except ImportError as exc:  # e.g. an optional dependency of that one command is missing
            _register_broken(sub, name, exc)
            continue
        mod.register(sub)
    # Accept --quiet/--debug after the command too; SUPPRESS keeps a subparser
    # from resetting a value given before the command.
    for sp in sub.choices.values():
        for flags, dest, text in ((("-q", "--quiet"), "quiet", "print nothing but errors"), (("--debug",), "debug", "show tracebacks")):
            try:
                sp.add_argument(*flags, dest=dest, action="store_true", default=argparse.SUPPRESS, help=text)
            except argparse.ArgumentError:
                pass  # the subcommand defines the flag itself
    return parser


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or argparse's usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    debug = bool(getattr(args, "debug", False))
    prog = f"dcformat {args.command}"
    from ..errors import FormatError  # noqa: PLC0415
    from ..io.torch_io import TorchUnavailableError  # noqa: PLC0415

    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except (FormatError, InputError, TorchUnavailableError) as exc:
        if debug:
            raise
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_INPUT
    except OSError as exc:
        if debug:
            raise
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"{prog}: error: {where}{exc.strerror or _one_line(exc)}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        print(f"{prog}: internal error: {type(exc).__name__}: {_one_line(exc)} (rerun with --debug for a traceback)",
              file=sys.stderr)
        return EXIT_INTERNAL


__all__ = ["main", "build_parser", "UsageError", "InputError", "SUBCOMMANDS"]
