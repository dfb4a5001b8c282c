"""The first message's progress at the desk's terminal: a line per stage as it happens,
what to do when the text does not arrive, and the offer to send by email instead."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.text import Text

from reminders.desk import Desk
from reminders.errors import InputError
from reminders.progress import FirstMessage, Stage
from reminders.views import as_text, visible

MARKS = {Stage.DELIVERED: " ✓", Stage.UNDELIVERED: " ✗", Stage.FAILED: " ✗"}
# Times an address is asked for before the desk is left to do it later.
ASKS = 3
STYLES = {Stage.DELIVERED: "green", Stage.UNDELIVERED: "red", Stage.FAILED: "red"}


class Outcome(IntEnum):
    """`reminders log --wait`'s exit status, for scripts."""

    ARRIVED = 0  # delivered, sent where no report comes, or planned for later
    PROBLEM = 3  # it will not reach the patient as it stands
    NO_WORD = 4  # the wait ended first


@dataclass(frozen=True)
class EmailOffer:
    """How to ask the desk about email instead; None where nobody can answer (a script)."""

    confirm: Callable[[str], bool]
    prompt: Callable[[str], str]


def watch(
    desk: Desk,
    *,
    clinic_id: int,
    treatment_id: int,
    seconds: float,
    zone: ZoneInfo,
    console: Console,
    offer: EmailOffer | None,
    now_text: Callable[[], str],
) -> Outcome:
    """Follow the first message for up to `seconds`, printing each stage as it comes."""
    console.print(Text(f"First message, followed for up to {seconds:g} s:"))

    def show(progress: FirstMessage) -> None:
        line = Text(f"  {now_text()}  ")
        stage = f"{progress.stage.value}{MARKS.get(progress.stage, '')}"
        line.append(f"{stage:<14}", style=STYLES.get(progress.stage, ""))
        line.append_text(as_text(progress.summary))
        console.print(line)

    last = desk.wait_for_first_message(clinic_id, treatment_id, timeout=seconds, on_change=show)
    if last is None:
        return Outcome.ARRIVED  # nothing to send: the plan above says why
    if last.problem:
        _what_to_do(last, treatment_id, console)
        if last.email_instead:
            _offer_email(desk, clinic_id, treatment_id, console, offer)
        return Outcome.PROBLEM
    if not last.final:
        console.print(Text(_no_word(last, seconds, treatment_id)))
        return Outcome.NO_WORD
    if last.due_at is not None:
        console.print(Text(f"  it goes at {last.due_at.astimezone(zone):%H:%M %Z}"))
    return Outcome.ARRIVED


def _no_word(last: FirstMessage, seconds: float, treatment_id: int) -> str:
    if last.stage in (Stage.QUEUED, Stage.SENDING):
        return (
            f"Still {last.stage.value} after {seconds:g} s: is the worker running "
            "(`reminders serve` or `reminders worker`)?"
        )
    return (
        f"No delivery report within {seconds:g} s: `reminders show {treatment_id}` later "
        "shows it, or ask the patient whether the text came."
    )


def _what_to_do(last: FirstMessage, treatment_id: int, console: Console) -> None:
    console.print(Text("What to do:"))
    for step in last.what_to_do:
        if step.startswith("print the instructions"):
            step += f" (`reminders show {treatment_id}` shows them)"
        console.print(Text(f"  - {visible(step)}"))


def _offer_email(
    desk: Desk,
    clinic_id: int,
    treatment_id: int,
    console: Console,
    offer: EmailOffer | None,
) -> None:
    command = f"reminders email-instead {treatment_id}"
    if offer is None:
        console.print(Text(f"To send the aftercare by email instead: {command} [--email ADDRESS]"))
        return
    for _attempt in range(ASKS):
        address = _address(desk, clinic_id, treatment_id, offer)
        if address is None:
            console.print(Text(f"Texts kept. Later, to send by email instead: {command}"))
            return
        try:
            rerouted = desk.email_instead(
                clinic_id, treatment_id, email=address or None, why="the first text did not arrive"
            )
            break
        except InputError as exc:
            console.print(Text(f"{exc.field}: {visible(exc.message)}", style="red"))
    else:
        console.print(Text(f"Texts kept. Later, to send by email instead: {command}"))
        return
    console.print(
        Text(
            f"Texts stopped for this patient; {len(rerouted.emailed)} message(s) will go by "
            f"email instead (`reminders show {treatment_id}`)."
        )
    )
    if rerouted.missed:
        console.print(Text("Some steps cannot go by email: see `reminders failures`."))


def _address(desk: Desk, clinic_id: int, treatment_id: int, offer: EmailOffer) -> str | None:
    """The address to use ("" for the one on record), or None: keep the texts."""
    on_record = desk.patient_email(clinic_id, treatment_id)
    if on_record:
        question = f"Send the aftercare by email to {visible(on_record)} instead?"
        return "" if offer.confirm(question) else None
    answer = offer.prompt("Email address to send the aftercare to instead (empty: keep texts)")
    return answer.strip() or None
