"""The `tagengine` command's entry point, kept free of heavy imports: the command takes
about a second to import (Polars, typer, rich), and a Ctrl-C in that second must stop it
as cleanly as one during the run, not with a traceback."""

from __future__ import annotations

import os
import signal
import sys

INTERRUPTED = "interrupted: nothing was written"


def main() -> None:
    signal.signal(signal.SIGINT, _interrupted_while_starting)
    from tagengine import cli

    signal.signal(signal.SIGINT, signal.default_int_handler)  # cli.main handles it from here
    cli.main()


def _interrupted_while_starting(signum: int, frame: object) -> None:
    sys.stderr.write(INTERRUPTED + "\n")
    sys.stderr.flush()
    os._exit(130)  # nothing has been opened yet: no clean-up to wait for
