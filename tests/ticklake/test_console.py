"""The CLI's console keeps working when its pipe is gone (``make run | tee log`` interrupted)."""

import contextlib
import logging
import os

from rich.logging import RichHandler

from ticklake.console import QuietConsole


def test_a_log_line_on_a_closed_pipe_goes_nowhere_instead_of_ending_the_process():
    read, write = os.pipe()
    os.close(read)  # nobody reads any more: a write raises BrokenPipeError
    stream = os.fdopen(write, "w")
    console = QuietConsole(file=stream, force_terminal=False)
    logger = logging.getLogger("tests.console")
    handler = RichHandler(console=console)
    logger.addHandler(handler)
    try:
        logger.warning("process group 42 did not stop after SIGTERM")  # rich's own console exits with 1 here
        assert console.quiet
        logger.warning("and the shutdown carries on")
    finally:
        logger.removeHandler(handler)
        with contextlib.suppress(BrokenPipeError):
            stream.close()
