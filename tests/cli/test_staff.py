"""`reminders staff`: accounts for the web page, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from tests.cli.support import describe, invoke, run

PASSWORD = "correct horse battery"


def add(username: str = "Ann@Example.org", *options: str, password: str = PASSWORD) -> str:
    result = invoke(
        "staff", "add", username, "--clinic", "default", "--name", "Ann Lee",
        "--password-stdin", *options, input=f"{password}\n",
    )  # fmt: skip
    assert result.exit_code == 0, describe(result)
    return result.output


def listed() -> list[dict[str, object]]:
    items: list[dict[str, object]] = json.loads(run("staff", "list", "--json"))["items"]
    return items


def test_add_keeps_the_username_case_folded_and_never_shows_the_password(
    any_database: str,
) -> None:
    said = add()
    assert "Staff account 'Ann@Example.org' added for clinic 'default'" in said
    shown = run("staff", "list", "--json")
    assert PASSWORD not in shown
    assert "argon2" not in shown
    [account] = json.loads(shown)["items"]
    assert (account["username"], account["display_name"], account["clinic"]) == (
        "ann@example.org",
        "Ann Lee",
        "default",
    )


def test_the_password_is_asked_twice_at_the_terminal(any_database: str) -> None:
    result = invoke(
        "staff", "add", "ann", "--clinic", "default", "--name", "Ann",
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )  # fmt: skip
    assert result.exit_code == 0, describe(result)
    assert PASSWORD not in result.output
    assert [account["username"] for account in listed()] == ["ann"]


def test_two_different_entries_are_refused(any_database: str) -> None:
    result = invoke(
        "staff", "add", "ann", "--clinic", "default", "--name", "Ann",
        input=f"{PASSWORD}\n{PASSWORD}x\n",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "error: password: the two entries differ" in result.stderr
    assert listed() == []


@pytest.mark.parametrize(
    ("args", "password", "refusal"),
    [
        (("ann", "--clinic", "default"), "short", "password: must be at least 12 characters"),
        (("annannannann", "--clinic", "default"), "AnnAnnAnnAnn", "password: must not be the"),
        (("ann", "--clinic", "nowhere"), PASSWORD, "clinic: no clinic 'nowhere'"),
        (("ann smith", "--clinic", "default"), PASSWORD, "username: must not contain spaces"),
        (("\udcff", "--clinic", "default"), PASSWORD, "username: "),
    ],
)
def test_a_refused_account_names_the_field(
    any_database: str, args: tuple[str, ...], password: str, refusal: str
) -> None:
    result = invoke(
        "staff", "add", *args, "--name", "Ann", "--password-stdin", input=f"{password}\n"
    )
    assert result.exit_code == 2, describe(result)
    assert f"error: {refusal}" in result.stderr
    assert listed() == []


def test_a_username_already_taken_is_refused_before_a_password_is_asked(
    any_database: str,
) -> None:
    add()
    result = invoke("staff", "add", "ANN@example.org", "--clinic", "default", "--name", "A")
    assert result.exit_code == 2
    assert "error: username: an account 'ann@example.org' already exists" in result.stderr
    assert "Password" not in result.output


def test_disable_and_enable_are_shown_in_the_list(any_database: str) -> None:
    add()
    assert "disabled" in run("staff", "disable", "ann@example.org")
    assert listed()[0]["disabled_at"] is not None
    assert "disabled" in run("staff", "list")
    run("staff", "enable", "ANN@example.org")
    assert listed()[0]["disabled_at"] is None


def test_list_can_keep_to_one_clinic(any_database: str) -> None:
    add()
    assert len(json.loads(run("staff", "list", "--clinic", "default", "--json"))["items"]) == 1
    result = invoke("staff", "list", "--clinic", "nowhere")
    assert result.exit_code == 2
    assert "error: clinic: no clinic 'nowhere'" in result.stderr


def test_password_sets_a_new_one(any_database: str) -> None:
    add()
    result = invoke(
        "staff", "password", "ann@example.org", "--password-stdin",
        input="a brand new passphrase\n",
    )  # fmt: skip
    assert result.exit_code == 0, describe(result)
    assert "Password changed for 'ann@example.org'" in result.output
    refused = invoke("staff", "password", "ann@example.org", "--password-stdin", input="short\n")
    assert "error: password: must be at least 12 characters" in refused.stderr


def test_an_unknown_account_is_named(any_database: str) -> None:
    result = invoke("staff", "disable", "nobody")
    assert result.exit_code == 2
    assert "error: no staff account 'nobody'" in result.stderr
