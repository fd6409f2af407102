"""The ``tinyml`` command line: a thin Typer layer over the library.

Each command module registers its commands on ``app`` and imports the library lazily inside
the command, so ``tinyml --help`` never loads TensorFlow or the TFLM runtime. Errors reach the
user through ``main()`` only: a ``TinymlError`` becomes two lines on stderr and its exit code.
"""

from __future__ import annotations

import logging
import sys

import typer

from tinyml import __version__
from tinyml.errors import TinymlError

app = typer.Typer(
    name="tinyml",
    help="Take a trained Keras model onto a microcontroller and back.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tinyml {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log every external command tinyml runs."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s",
                        stream=sys.stderr)


# Each module adds its commands to `app`; they import only typer at module level.
COMMAND_MODULES = [
    "boards_cmd",
    "inspect_cmd",
    "convert_cmd",
    "quantize_cmd",
    "run_cmd",
    "demo_cmd",
    "device_cmds",
    "project_cmds",
    "zoo_cmd",
    "profile_cmd",
]


def _register() -> None:
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"tinyml.cli.{name}")


def print_error(err: TinymlError) -> None:
    typer.echo(f"error: {err.message}", err=True)
    if err.hint:
        typer.echo(f"hint: {err.hint}", err=True)


def _parser_exceptions() -> tuple[tuple[type[BaseException], ...], ...]:
    """(abort, exit, usage error) classes of click and of the click copy newer Typer vendors
    (typer._click: other classes, so `except click.ClickException` alone let usage errors through
    as tracebacks)."""
    abort: list[type[BaseException]] = []
    exits: list[type[BaseException]] = []
    usage: list[type[BaseException]] = []
    try:
        import click

        abort.append(click.exceptions.Abort)
        exits.append(click.exceptions.Exit)
        usage.append(click.ClickException)
    except ImportError:
        pass
    try:
        from typer import _click as vendored  # type: ignore[attr-defined,unused-ignore]
        from typer import exceptions as typer_exceptions  # type: ignore[attr-defined,unused-ignore]

        abort.append(typer_exceptions.Abort)
        exits.append(typer_exceptions.Exit)
        usage.append(vendored.exceptions.ClickException)
    except (ImportError, AttributeError):
        pass
    return tuple(abort), tuple(exits), tuple(usage)


def main(argv: list[str] | None = None) -> int:
    _register()
    command = typer.main.get_command(app)
    abort, exits, usage = _parser_exceptions()
    try:
        rv = command.main(args=argv, prog_name="tinyml", standalone_mode=False)
    except TinymlError as err:
        print_error(err)
        sys.exit(err.exit_code)
    except abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except exits as exc:
        sys.exit(getattr(exc, "exit_code", 0))
    except usage as exc:
        exc.show()  # type: ignore[attr-defined]
        sys.exit(getattr(exc, "exit_code", 2))
    if rv == 130:
        # Typer turns Ctrl-C inside a command into a silent return of 130: say so.
        typer.echo("interrupted", err=True)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
