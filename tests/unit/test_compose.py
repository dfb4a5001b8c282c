"""docker-compose.yml cannot be run here (no Docker engine), so it is checked instead."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import typer.main
import yaml

from reminders.cli import app

REPO = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_compose_file_matches_the_compose_specification() -> None:
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    jsonschema.validate(_compose(), schema)


def test_every_service_command_is_a_cli_command() -> None:
    for name, service in _compose()["services"].items():
        words = list(service.get("command", []))
        command: Any = typer.main.get_command(app)
        # Walk the command tree the way the CLI parses it: group, subcommand, ...
        while hasattr(command, "commands") and words and not words[0].startswith("-"):
            word = words.pop(0)
            assert word in command.commands, f"service {name}: unknown command {word!r}"
            command = command.commands[word]
        assert not hasattr(command, "commands"), f"service {name}: incomplete command"


def test_compose_builds_from_a_dockerfile_that_exists() -> None:
    for service in _compose()["services"].values():
        if "build" in service:
            assert (REPO / "Dockerfile").is_file()
