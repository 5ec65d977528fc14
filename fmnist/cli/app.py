"""The root ``fmnist`` command and its global options; every sub-command module adds itself to :data:`app`."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(
    name="fmnist",
    help="Train, compare and ship the same Fashion-MNIST network in Keras and PyTorch.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)


@app.callback()
def root(
    ctx: typer.Context,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing but errors and --json output."),
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback of errors."),
) -> None:
    """Train, compare and ship the same Fashion-MNIST network in Keras and PyTorch.

    Example: fmnist split --data-source ../shared/data/fashion-mnist --out data/splits
    """
    # --debug is read by fmnist.cli.main, which reports the errors: some come before this runs.
    ctx.obj = Console(quiet=quiet)


def console_of(ctx: typer.Context) -> Console:
    """The console for human output of this invocation (``--quiet``: it prints nothing)."""
    return ctx.obj
