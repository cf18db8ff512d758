"""``gpen-video weights``, ``export`` and ``doctor``: the model weights, their ONNX export, and what a run would use."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import InputError, InvalidOption
from .parsers import EXIT_CODES, CommandParser, HelpFormatter

if TYPE_CHECKING:
    from rich.console import Console


def weights_command(argv: Sequence[str], console: Console) -> int:
    from ..models import weights

    parser = CommandParser(prog="gpen-video weights", description="List, download and locate model weights.",
                           epilog=f"cache folder: $GPEN_VIDEO_HOME (now {weights.cache_dir()})")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="known models and whether they are cached")
    download = commands.add_parser("download", help="download a model into the cache")
    download.add_argument("name")
    path = commands.add_parser("path", help="print where a model's file lives in the cache")
    path.add_argument("name")
    args = parser.parse_args(argv)

    if args.command == "list":
        from rich.table import Table

        table = Table(title=f"models (cache: {weights.cache_dir()})")
        for column in ("name", "kind", "size", "cached", "path"):
            table.add_column(column)
        for row in weights.list_models():
            table.add_row(row["name"], row["kind"], str(row.get("size") or ""),
                          "yes" if row["present"] else "no", str(row["path"]))
        console.print(table)
    elif args.command == "download":
        console.print(f"saved {weights.download_weights(args.name)}")
    else:
        print(weights.weights_path(args.name))
    return 0


EXPORT_EXAMPLES = """examples:
  gpen-video export GPEN-BFR-512           # into the cache, for onnxruntime
  gpen-video export --weights mine.pth -o mine.onnx --fp16"""


def export_command(argv: Sequence[str], console: Console) -> int:
    from ..config import Settings
    from ..models import weights

    parser = CommandParser(prog="gpen-video export",
                           description="Export a GPEN model to ONNX: one input and one output [N, 3, S, S], RGB in "
                                       "[-1, 1]. Needs the onnx extra: pip install 'gpen-video[onnx]'.",
                           epilog=EXPORT_EXAMPLES + "\n\n" + EXIT_CODES, formatter_class=HelpFormatter)
    parser.add_argument("name", nargs="?", default=Settings().restore.model,
                        help="registry model (see `gpen-video weights list`) [default: %(default)s]")
    parser.add_argument("--weights", metavar="FILE", help="export this GPEN checkpoint instead of a registry model")
    parser.add_argument("--format", choices=["onnx"], default="onnx", help="output format [default: onnx]")
    parser.add_argument("-o", "--output", metavar="FILE.onnx",
                        help="where to write it [default: the cache, beside the .pth, where ONNX backends find it; "
                             "always with a dynamic batch]")
    parser.add_argument("--dynamic-batch", action="store_true", help="let the batch dimension N vary (default: N = 1)")
    parser.add_argument("--fp16", action="store_true", help="fp16 weights and activations (float32 input and output)")
    parser.add_argument("--opset", type=int, metavar="N", help="ONNX opset [default: the exporter's]")
    parser.add_argument("-y", "--overwrite", action="store_true", help="replace an existing output file")
    args = parser.parse_args(argv)
    from ..models.onnx import export_checkpoint

    output = args.output
    if output is None:
        if args.weights is not None:
            raise InputError("give -o FILE.onnx when exporting --weights")
        output = weights.onnx_export_path(args.name, weights.weights_path(args.name))
        output.parent.mkdir(parents=True, exist_ok=True)
    try:
        done = export_checkpoint(args.name, args.weights, output,
                                 dynamic_batch=args.dynamic_batch or args.output is None, fp16=args.fp16,
                                 opset=args.opset, overwrite=args.overwrite)
    except InvalidOption as exc:  # the opset is the only option the exporter ranges
        raise InputError(f"--opset must be {exc.requirement}, got {exc.value}") from None
    batch = "N" if done.dynamic_batch else "1"
    console.print(f"saved {done.path} ({done.name}, input [{batch}, 3, {done.size}, {done.size}], {done.precision}, "
                  f"opset {done.opset})", markup=False, highlight=False, soft_wrap=True)
    return 0


def doctor_command(argv: Sequence[str], console: Console) -> int:
    parser = CommandParser(prog="gpen-video doctor",
                           description="Show what is installed, which device and GPEN backend a run would use and why, "
                                       "and where the caches are.")
    parser.add_argument("--remeasure", action="store_true",
                        help="time the GPEN backends on this CPU again (10-30 s) and cache the result for this "
                             "environment")
    args = parser.parse_args(argv)
    from ..runtime.doctor import diagnose

    diagnosis = diagnose(remeasure=args.remeasure)
    print("\n".join(diagnosis.lines()))
    if diagnosis.device == "cpu" and diagnosis.choice is None:
        print("  to measure now: gpen-video doctor --remeasure")
    return 0
