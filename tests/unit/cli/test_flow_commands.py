"""The commands that run a flow hand it their options by name: each name must be a parameter of that flow."""

from __future__ import annotations

import importlib
import inspect
from types import SimpleNamespace

import pytest
import typer.main

# Command → flow (as `fmnist.cli.flows.FLOWS` names it) and the parameters the command adds itself.
COMMANDS = {
    "run": ("pipeline", set()),
    "sweep": ("sweep", set()),
    "ablate": ("ablation", set()),
    "retrain": ("retrain", {"trigger"}),
    "score-batch": ("score-batch", set()),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_is_a_parameter_of_the_command_s_flow(command: str) -> None:
    from fmnist.cli import app, data, flows, models, stack  # noqa: F401  (registers the commands)

    flow_name, extra = COMMANDS[command]
    click_command = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    params = flows.flow_params(SimpleNamespace(params={p.name: None for p in click_command.params}))
    module, function = flows.FLOWS[flow_name]
    flow = getattr(importlib.import_module(module), function)
    assert set(params) | extra <= set(inspect.signature(flow.fn).parameters)
