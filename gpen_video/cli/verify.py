"""``gpen-video verify``: check an audit log and the files it names, or an output's signed Content Credentials."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError
from .parsers import EXIT_CODES, CommandParser, HelpFormatter

if TYPE_CHECKING:
    from rich.console import Console

VERIFY_EXAMPLES = """examples:
  gpen-video verify run.jsonl                  # the log's chain and footer
  gpen-video verify run.jsonl --input in.mp4 --output out.mkv --frames
  gpen-video verify out.mp4                    # its Content Credentials
  gpen-video verify out.mp4 --trust roots.pem  # ... signed from a known root"""


def verify_command(argv: Sequence[str], console: Console) -> int:
    parser = CommandParser(
        prog="gpen-video verify",
        description="Check an audit log written with --audit: every line's hash of the line before, the footer's "
                    "seal and, when given, the sha256 of the input and of the output. Or, given an MP4, MOV, JPEG "
                    "or PNG, read and check the Content Credentials that --sign embedded (needs the c2pa extra). "
                    "Exits 0 when everything checks out, else 2 with the first thing that does not.",
        epilog=VERIFY_EXAMPLES + "\n\n" + EXIT_CODES, formatter_class=HelpFormatter)
    parser.add_argument("file", help="an audit log (.jsonl), or a signed output")
    parser.add_argument("--input", metavar="IN", help="the run's input: its sha256 must be the log's")
    parser.add_argument("--output", metavar="OUT", help="the run's output: its sha256 must be the log's")
    parser.add_argument("--trust", metavar="ROOTS.pem",
                        help="with a signed output: the signer's chain must end in one of these root certificates "
                             "(without it, any signer is accepted and only the manifest's integrity is checked)")
    parser.add_argument("--frames", action="store_true",
                        help="also decode --output and compare every frame with its line (lossless encodes only)")
    args = parser.parse_args(argv)
    if Path(args.file).suffix.lower() != ".jsonl":
        if args.input or args.output or args.frames:
            raise InputError("--input, --output and --frames go with an audit log (.jsonl)")
        from ..review.credentials import describe, read_credentials

        print(describe(read_credentials(args.file, args.trust)))
        return 0
    if args.trust:
        raise InputError("--trust goes with a signed output, not an audit log")
    if args.frames and not args.output:
        raise InputError("--frames needs --output OUT")
    from ..review.audit_check import verify_audit

    check = verify_audit(args.file, source=args.input, output=args.output, frames=args.frames)
    if args.output:
        from ..review.credentials import signed_audit_hash_matches

        if signed_audit_hash_matches(args.output, check.chain_sha256):
            check.checked.append("signed audit hash")
    checked = f"; {', '.join(check.checked)} match" if check.checked else ""
    print(f"audit log intact: {check.lines} lines, {check.frames} frames{checked}; chain sha256 {check.chain_sha256}")
    return 0
