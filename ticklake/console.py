"""The CLI's output: a console that survives its terminal or pipe going away, and the log handler on it."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler


class QuietConsole(Console):
    """A console that goes quiet when its terminal or pipe goes away, instead of exiting.

    rich's default answer to a broken pipe is ``SystemExit(1)``: a log line written while
    ``make run | tee log`` is being interrupted would end the process in the middle of stopping its
    children. Here the output is dropped and the work carries on.
    """

    def on_broken_pipe(self) -> None:
        """Stop writing; do not exit."""
        self.quiet = True


def stderr_console() -> QuietConsole:
    """A new :class:`QuietConsole` on stderr."""
    return QuietConsole(stderr=True)


def configure_logging(verbose: bool = False, rich_tracebacks: bool = False) -> None:
    """Log through rich to stderr, on a :class:`QuietConsole` (stdout stays for data and reports).

    Args:
        verbose: DEBUG instead of INFO.
        rich_tracebacks: Render tracebacks with rich.
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(name)s: %(message)s",
        handlers=[RichHandler(show_path=False, rich_tracebacks=rich_tracebacks, console=stderr_console())],
    )
