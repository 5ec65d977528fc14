"""``fmnist stack up|down|status``: the local Prefect + MLflow + worker stack."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from fmnist.cli.app import app, console_of

stack_app = typer.Typer(help="Start, inspect and stop the local Prefect server, MLflow server and worker.")
app.add_typer(stack_app, name="stack")

StateDir = typer.Option(Path(".fmnist-stack"), "--state-dir", help="Where the stack keeps its state and logs.")


@stack_app.command("up")
def up_cmd(
    ctx: typer.Context,
    state_dir: Path = StateDir,
    prefect_port: int = typer.Option(0, "--prefect-port", min=0, max=65535, help="0: a free port."),
    mlflow_port: int = typer.Option(0, "--mlflow-port", min=0, max=65535, help="0: a free port."),
    mlruns: Path = typer.Option(Path("mlruns"), "--mlruns", help="MLflow store (SQLite + artifacts)."),
) -> None:
    """Start a Prefect server, an MLflow server and a process worker on 127.0.0.1, and deploy prefect.yaml.

    Both servers require the credentials that `up` writes, fresh, to STATE_DIR/client.env (yours only).

    Example: fmnist stack up && prefect deployment run 'fmnist-pipeline/compare'
    """
    from fmnist.ops.stack import CLIENT_ENV_FILE, StackConfig, project_dir, up

    state = up(StackConfig(project_dir(), state_dir, mlruns, prefect_port, mlflow_port))
    client = state.path(CLIENT_ENV_FILE)
    console = console_of(ctx)
    console.print(f"Prefect UI  {state.prefect_url}  (log in with PREFECT_API_AUTH_STRING)")
    console.print(f"MLflow UI   {state.mlflow_url}  (MLFLOW_TRACKING_USERNAME, _PASSWORD)")
    console.print(f"URLs and credentials, readable by you only: {client}")
    console.print("To use the stack from this shell:")
    console.print(f"  set -a && . {client} && set +a")
    console.print("  prefect deployment run 'fmnist-pipeline/compare' --param max_epochs=5")


@stack_app.command("status")
def status_cmd(ctx: typer.Context, state_dir: Path = StateDir, as_json: bool = typer.Option(False, "--json")) -> None:
    """Show which stack processes run and the two UI URLs.

    Example: fmnist stack status
    """
    from fmnist.ops.stack import status

    info = status(state_dir)
    if as_json:
        typer.echo(json.dumps(info))
        return
    table = Table(title="fmnist stack" + ("" if info["running"] else " (not running)"))
    table.add_column("process")
    table.add_column("state")
    for name, alive in info["processes"].items():  # type: ignore[union-attr]
        table.add_row(name, "running" if alive else "stopped")
    console = console_of(ctx)
    console.print(table)
    if info["running"]:
        console.print(f"Prefect UI  {info['prefect_ui']}\nMLflow UI   {info['mlflow_ui']}")
        console.print(f"URLs and credentials: {info['client_env']}")


@stack_app.command("down")
def down_cmd(ctx: typer.Context, state_dir: Path = StateDir) -> None:
    """Stop exactly the processes `fmnist stack up` started.

    Example: fmnist stack down
    """
    from fmnist.ops.stack import down

    stopped = down(state_dir)
    console_of(ctx).print("stopped: " + (", ".join(stopped) or "nothing was running"))


@stack_app.command("automations")
def automations_cmd() -> None:
    """Create the automations a stack relies on, once, on $PREFECT_API_URL: a flow run whose heartbeats stop
    (its worker died) is marked Crashed. `stack up` does it for the local stack; Compose's deploy job runs this.

    Example: fmnist stack automations
    """
    import os

    from fmnist.errors import FmnistError
    from fmnist.ops.zombies import ensure_zombie_automation

    api_url = os.environ.get("PREFECT_API_URL", "").rstrip("/")
    if not api_url:
        raise FmnistError("PREFECT_API_URL is not set: point it at the Prefect server's API (http://host:4200/api)")
    ensure_zombie_automation(api_url, os.environ.get("PREFECT_API_AUTH_STRING", ""))
