"""What every command shares: logging to stderr and mapping errors to exit codes."""

from __future__ import annotations

import functools
import logging
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from bonecover.errors import EXIT_CODES, BonecoverError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_HELP = "Exit codes: " + "; ".join(f"{code} {text.split(':')[0]}" for code, text in EXIT_CODES.items()) + "."


def setup_logging(quiet: bool = False, verbose: bool = False) -> None:
    """Send bonecover's log records to stderr (never stdout, which carries --json)."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    root = logging.getLogger("bonecover")
    root.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("bonecover: %(levelname)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False


def fail(message: str, code: int) -> typer.Exit:
    """Print a one-line error on stderr and return the Exit to raise."""
    one_line = " ".join(str(message).split())
    typer.echo(f"bonecover: error: {one_line}", err=True)
    return typer.Exit(code)


def handle_errors(func: F) -> F:
    """Map bonecover's exceptions to exit codes with a one-line message, never a traceback.

    Unexpected exceptions are bugs: exit 1 with a one-line summary; the traceback is
    shown only when ``BONECOVER_DEBUG=1``.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except BonecoverError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None
        except Exception as exc:  # noqa: BLE001 - the edge of the program
            if os.environ.get("BONECOVER_DEBUG") == "1":
                traceback.print_exc()
            raise fail(
                f"internal error ({type(exc).__name__}: {exc}); this is a bug, please report it "
                "with the command line used (set BONECOVER_DEBUG=1 for the traceback)",
                1,
            ) from None

    return wrapper  # type: ignore[return-value]
