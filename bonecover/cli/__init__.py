"""The ``bonecover`` command line: a thin typer layer over the Python API.

Each command lives in its own module and imports heavy dependencies inside the
command. Errors are mapped to exit codes here, at the edge, and nowhere else:
0 done, 1 internal error, 2 bad input, 3 QA failed (see ``bonecover.errors``).
"""

from __future__ import annotations

import typer

from bonecover import __version__
from bonecover.cli._common import EXIT_HELP

app = typer.Typer(
    name="bonecover",
    help=(
        "Soft-tissue coverage of the first-toe (hallux) bones on CT and radiographs, "
        "compared with the patient's own mirrored healthy foot.\n\n" + EXIT_HELP
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"bonecover {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version_callback,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """bonecover command line."""


def _register() -> None:
    from bonecover.cli import compare, demo, inspect, phantom  # noqa: F401  (commands register themselves)


_register()


def main() -> int:
    """Console-script entry point; returns the process exit code."""
    try:
        app(prog_name="bonecover")
    except SystemExit as exc:  # typer/click always exit through SystemExit
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0
