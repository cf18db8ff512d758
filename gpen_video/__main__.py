"""The ``gpen-video`` command's entry point: the console script and ``python -m gpen_video``.

Its first act holds SIGINT and SIGTERM (blocked: one that comes waits, pending) until ``cli.main`` has
installed the signal policy (``media.signals``) and lets them through. So a signal at any moment after
the interpreter's own start-up gets the policy's answer, exit 130 and one line, rather than the
default one (killed by SIGTERM, or a ``KeyboardInterrupt`` traceback) while the modules load.
"""
import sys

# ``signal``'s C core: ``import signal`` itself takes milliseconds (it builds enums), long enough for a signal
# to land while the defaults still rule.
import _signal


def main() -> None:
    if sys.platform != "win32":  # Windows has no signal masks (nor SIGTERM from outside)
        _signal.pthread_sigmask(_signal.SIG_BLOCK, (_signal.SIGINT, _signal.SIGTERM))
    from .cli import main as command

    sys.exit(command())


if __name__ == "__main__":
    main()
