"""The root ``fmnist`` command and its global options; every sub-command module adds itself to :data:`app`."""

from __future__ import annotations

from dataclasses import dataclass

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
