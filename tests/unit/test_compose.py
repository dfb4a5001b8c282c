"""docker-compose.yml cannot be run here (no Docker engine), so it is checked instead."""

from __future__ import annotations

import json
import re
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
    ours = {n: s for n, s in _compose()["services"].items() if "build" in s}
    assert ours
    for name, service in ours.items():
        words = list(service["command"])
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


def test_every_published_port_is_bound_to_loopback() -> None:
    for name, service in _compose()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_production_layout_has_database_migration_api_scalable_worker_and_mail_catcher() -> None:
    services = _compose()["services"]
    assert {"postgres", "migrate", "api", "worker", "mailpit"} <= set(services)
    assert services["postgres"]["volumes"], "PostgreSQL data must live in a volume"
    assert services["migrate"]["command"] == ["db", "upgrade"]
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    # A scalable service cannot pin a container name or a host port.
    assert "container_name" not in services["worker"]
    assert "ports" not in services["worker"]


def test_every_variable_the_compose_file_needs_is_documented_in_the_env_example() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    needed = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    example = (REPO / "config" / "compose.env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z_][A-Z0-9_]*)=", example, flags=re.MULTILINE))
    assert needed
    assert needed <= documented
