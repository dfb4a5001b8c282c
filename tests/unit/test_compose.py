"""docker-compose.yml cannot be run here (no Docker engine), so it is checked instead."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
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


# --- The file as Docker Compose reads it: Debian's docker-compose (v1) interpolates and
# resolves it without a Docker engine (`docker-compose config`).

COMPOSE_V1 = shutil.which("docker-compose")
REQUIRE_COMPOSE = os.environ.get("REMINDERS_TEST_REQUIRE_COMPOSE") == "1"


def _readme_compose_commands() -> list[str]:
    """The README's compose block, line by line, comments dropped."""
    readme = (REPO / "README.md").read_text()
    block = re.search(r"```sh\n(cp config/compose\.env\.example[^`]*?)```", readme)
    assert block, "the README shows how to start the compose file"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


@pytest.fixture
def compose_project(tmp_path: Path) -> Path:
    """A copy of what the README's commands run in: the compose file, config/ and the
    Dockerfile, as a fresh clone has them."""
    if COMPOSE_V1 is None:
        if REQUIRE_COMPOSE:
            pytest.fail(
                "docker-compose required but not installed (apt-get install docker-compose)"
            )
        pytest.skip("docker-compose not installed (apt-get install docker-compose)")
    for name in ("docker-compose.yml", "Dockerfile", ".dockerignore"):
        shutil.copy(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "config", tmp_path / "config", ignore=shutil.ignore_patterns("*.env"))
    return tmp_path


def _config(project: Path) -> subprocess.CompletedProcess[str]:
    assert COMPOSE_V1 is not None
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "COMPOSE_"))
    }
    return subprocess.run(
        [COMPOSE_V1, "config"],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_readme_commands_give_a_file_that_compose_resolves(compose_project: Path) -> None:
    commands = _readme_compose_commands()
    assert commands[0] == "cp config/compose.env.example .env"
    assert commands[1].startswith("docker compose up")
    subprocess.run(commands[0], shell=True, cwd=compose_project, check=True)  # noqa: S602

    resolved = _config(compose_project)

    assert resolved.returncode == 0, resolved.stderr
    services = yaml.safe_load(resolved.stdout)["services"]
    assert set(services) == {"postgres", "migrate", "api", "worker", "mailpit"}
    for name in ("migrate", "api", "worker"):
        environment = services[name]["environment"]
        assert environment["REMINDERS_DATABASE_URL"] == (
            "postgresql+psycopg://reminders:change-me@postgres:5432/reminders"
        )
        # Email goes to the project's Mailpit, not to a relay the host may not have.
        assert environment["REMINDERS_SMTP__HOST"] == "mailpit"
        assert environment["REMINDERS_SMTP__PORT"] == "1025"
        assert environment["REMINDERS_SMTP__SECURITY"] == "none"
        volumes = services[name]["volumes"]
        assert "reminders-data:/data:rw" in volumes
        assert f"{compose_project / 'config'}:/app/config:ro" in volumes
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "change-me"
    assert services["api"]["environment"]["REMINDERS_API__PORT"] == "8080"


def test_only_the_api_and_mailpits_page_are_published(compose_project: Path) -> None:
    subprocess.run(_readme_compose_commands()[0], shell=True, cwd=compose_project, check=True)  # noqa: S602

    services = yaml.safe_load(_config(compose_project).stdout)["services"]

    published = {name: s.get("ports", []) for name, s in services.items() if s.get("ports")}
    # PostgreSQL's 5432 and SMTP's 1025 stay inside: the host may run its own servers there.
    assert published == {
        "api": ["127.0.0.1:8080:8080/tcp"],
        "mailpit": ["127.0.0.1:8025:8025/tcp"],
    }


def test_without_the_env_file_compose_says_what_to_do(compose_project: Path) -> None:
    refused = _config(compose_project)

    assert refused.returncode != 0
    assert "cp config/compose.env.example .env" in refused.stderr + refused.stdout


def test_the_image_runs_as_a_user_that_owns_the_data_folder() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    user = re.findall(r"^USER (\S+)", dockerfile, flags=re.MULTILINE)
    assert user == ["reminders"]
    assert "chown reminders:reminders /data" in dockerfile
    assert 'VOLUME ["/data"]' in dockerfile
