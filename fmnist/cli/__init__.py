"""The ``fmnist`` command line: :func:`main` registers the sub-commands and reports errors. A user error
(:class:`~fmnist.errors.FmnistError`) prints one ``error:`` line and exits with its status (docs/usage.md, "Exit
codes"; ``--debug`` keeps the traceback); anything else is a bug and keeps its traceback."""

from __future__ import annotations

import logging
import os
import signal
import sys

import typer
from rich.console import Console
from rich.markup import escape

from fmnist.cli.app import app
from fmnist.errors import FmnistError

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``fmnist`` console script."""
    _quiet_libraries()
    # Imported here so `fmnist --help` does not pay for importing TensorFlow and PyTorch.
    from fmnist.cli import data, flows, models, stack  # noqa: F401

    # `kill` (SIGTERM) stops a command as Ctrl-C does, so its MLflow runs end KILLED instead of staying RUNNING.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        # Not standalone: click would print a bad option as a multi-line usage box; it gets one line here.
        code = app(prog_name="fmnist", standalone_mode=False)
    except FmnistError as exc:
        if "--debug" in sys.argv:
            raise
        _print_error(str(exc))
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:  # the (vendored) click errors: typer's public base class of them all
        if _is_usage_error(exc):
            ctx = getattr(exc, "ctx", None)
            where = f"; see `{ctx.command_path} --help`" if ctx is not None else ""
            _print_error(exc.format_message().replace("\n", " ").rstrip(".") + where)
        else:
            exc.show()
        sys.exit(getattr(exc, "exit_code", 1))
    except typer.Abort:
        Console(stderr=True).print("Aborted.")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _is_usage_error(exc: Exception) -> bool:
    """A bad option or argument (click's UsageError, exit status 2), except a bare command that shows its help.
    Told by its interface, since typer exports click's error classes only under a private module."""
    return (
        getattr(exc, "exit_code", None) == 2
        and hasattr(exc, "ctx")
        and hasattr(exc, "format_message")
        and type(exc).__name__ != "NoArgsIsHelpError"
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _print_error(message: str) -> None:
    from fmnist.redaction import redact

    Console(stderr=True).print(f"[bold red]error:[/] {escape(redact(message))}", highlight=False, soft_wrap=True)


def _quiet_libraries() -> None:
    # TensorFlow's C++ start-up chatter and MLflow's INFO lines bury the command's own output.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Offline-friendly defaults (a user can set them otherwise): no usage telemetry from MLflow or Prefect.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # MLflow resets its loggers to this level when it is imported (after this runs), so a level set below is lost.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    import pooch

    pooch.get_logger().setLevel(logging.WARNING)  # its "Downloading data from ..." line repeats the download bar
