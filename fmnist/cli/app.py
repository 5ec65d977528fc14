"""The root ``fmnist`` command: global options, sub-command registration and error reporting.

A user error (:class:`~fmnist.errors.FmnistError`) prints one line, ``error: <what> ...``, and exits with
status 2; ``--debug`` keeps the traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import typer
from rich.console import Console

from fmnist.errors import FmnistError

EXIT_USER_ERROR = 2

app = typer.Typer(
    name="fmnist",
    help="Train, compare and ship the same Fashion-MNIST network in Keras and PyTorch.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)


@dataclass(frozen=True)
class Settings:
    """Global options, handed to sub-commands through the click context."""

    quiet: bool = False
    debug: bool = False

    def console(self) -> Console:
        """A console for human output (quiet mode prints nothing)."""
        return Console(quiet=self.quiet, stderr=False)


@app.callback()
def root(
    ctx: typer.Context,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing but errors and --json output."),
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback of errors."),
) -> None:
    """Train, compare and ship the same Fashion-MNIST network in Keras and PyTorch.

    Example: fmnist split --data-source ../shared/data/fashion-mnist --out data/splits
    """
    ctx.obj = Settings(quiet=quiet, debug=debug)


def settings(ctx: typer.Context) -> Settings:
    """The global settings of this invocation."""
    return ctx.obj if isinstance(ctx.obj, Settings) else Settings()


def main() -> None:
    """Entry point of the ``fmnist`` console script."""
    _quiet_libraries()
    _register_commands()
    try:
        app(prog_name="fmnist")
    except FmnistError as exc:
        if "--debug" in sys.argv:
            raise
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_USER_ERROR)


def _quiet_libraries() -> None:
    # TensorFlow's C++ start-up chatter and MLflow's INFO lines bury the command's own output.
    import logging
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _register_commands() -> None:
    # Imported here so `fmnist --help` does not pay for importing TensorFlow and PyTorch.
    from fmnist.cli import data, evaluate, predict, run, stack, train  # noqa: F401
