"""A treatment's page, its first text's fragment, correct and cancel, through a test client."""

from __future__ import annotations

from reminders.bootstrap import App
from reminders.domain import MessageState, TreatmentStatus
from tests.api import TestClient
from tests.support import RecordingChannel, dispatcher
from tests.web.conftest import csrf
from tests.web.test_log_pages import form


def logged(client: TestClient) -> int:
    answer = client.post("/treatments/new", data=form(client))
    assert answer.status_code == 303
    return int(answer.headers["location"].rsplit("/", 1)[1])


def test_the_page_shows_the_patient_with_the_contact_masked(client: TestClient) -> None:
    page = client.get(f"/treatments/{logged(client)}")
    assert page.status_code == 200
    assert "<dd>+1 ••• 0199</dd>" in page.text
    assert "+12125550199" not in page.text
    assert "2026-11-27 14:00 EST" in page.text
    assert "<summary>History (1 event)</summary>" in page.text


def first_stage(client: TestClient, treatment_id: int) -> str:
    return client.get(f"/treatments/{treatment_id}/first-message").text


def test_the_first_text_is_polled_until_its_last_word(client: TestClient, app: App) -> None:
    treatment_id = logged(client)
    assert "<strong>queued</strong>" in first_stage(client, treatment_id)
    assert 'hx-trigger="every 1s"' in first_stage(client, treatment_id)
    dispatcher(app, RecordingChannel()).dispatch_due()
    # Sent, on a channel that reports delivery: still polled, for the report.
    assert "<strong>sent</strong>" in first_stage(client, treatment_id)
    assert 'hx-trigger="every 1s"' in first_stage(client, treatment_id)
    report(app, treatment_id, "delivered")
    assert "<strong>delivered ✓</strong>" in first_stage(client, treatment_id)
    assert "hx-trigger" not in first_stage(client, treatment_id)


def test_an_undelivered_text_says_what_to_do_and_offers_email(client: TestClient, app: App) -> None:
    treatment_id = logged(client)
    dispatcher(app, RecordingChannel()).dispatch_due()
    report(app, treatment_id, "undelivered", "30005")
    shown = first_stage(client, treatment_id)
    assert "<strong>not delivered</strong>" in shown
    assert "the number is unknown to its carrier (a wrong number?)" in shown
    assert "check the mobile number with the patient (it looks wrong)" in shown
    assert "hx-trigger" not in shown
    # No address on record: the form asks for one.
    moved = client.post(
        f"/treatments/{treatment_id}/email-instead",
        data={"csrf_token": csrf(client), "email_instead": "jane@example.org"},
    )
    assert moved.status_code == 303
    messages = app.service.treatment(app.clinic.id, treatment_id).messages
    assert [m.channel for m in messages if m.state == MessageState.PENDING.value] == [
        "email",
        "email",
    ]


def report(app: App, treatment_id: int, status: str, code: str | None = None) -> None:
    first = app.service.treatment(app.clinic.id, treatment_id).messages[0]
    assert first.provider_id is not None
    app.reports.delivery_status(provider_id=first.provider_id, status=status, error_code=code)


def test_correcting_a_cancelled_treatment_is_refused_with_a_reason(
    client: TestClient, app: App
) -> None:
    treatment_id = logged(client)
    app.service.cancel(app.clinic.id, treatment_id, reason="wrong day")
    page = client.get(f"/treatments/{treatment_id}/correct")
    assert page.status_code == 409
    assert "The treatment is cancelled; log a new treatment instead." in page.text
    posted = client.post(
        f"/treatments/{treatment_id}/correct/confirm",
        data={"csrf_token": csrf(client), "performed_at": "2026-11-27T13:00"},
    )
    assert posted.status_code == 409


def test_a_correction_changing_nothing_is_shown_at_the_time_field(client: TestClient) -> None:
    treatment_id = logged(client)
    answer = client.post(
        f"/treatments/{treatment_id}/correct",
        data={"csrf_token": csrf(client), "performed_at": "2026-11-27T14:00", "notify": "yes"},
    )
    assert answer.status_code == 422
    assert 'id="performed_at-error"' in answer.text


def test_the_correction_dry_run_stores_nothing_and_the_confirmation_does(
    client: TestClient, app: App
) -> None:
    treatment_id = logged(client)
    values = {"csrf_token": csrf(client), "performed_at": "2026-11-27T13:30", "notify": "yes"}
    check = client.post(f"/treatments/{treatment_id}/correct", data=values)
    assert check.status_code == 200
    assert "Confirm the correction" in check.text
    assert '<input type="hidden" name="performed_at" value="2026-11-27T13:30">' in check.text
    assert app.service.treatment(app.clinic.id, treatment_id).performed_at.hour == 19
    done = client.post(f"/treatments/{treatment_id}/correct/confirm", data=values)
    assert done.status_code == 303
    corrected = app.service.treatment(app.clinic.id, treatment_id)
    assert (corrected.performed_at.hour, corrected.performed_at.minute) == (18, 30)


def test_not_telling_the_patient_needs_a_reason(client: TestClient, app: App) -> None:
    treatment_id = logged(client)
    dispatcher(app, RecordingChannel()).dispatch_due()  # the first text has gone
    answer = client.post(
        f"/treatments/{treatment_id}/cancel",
        data={
            "csrf_token": csrf(client),
            "reason": "wrong patient",
            "error": "yes",
            "notify": "no",
        },
    )
    assert answer.status_code == 422
    assert 'id="not_notified_reason-error"' in answer.text


def test_cancelling_stops_the_messages_still_to_go(client: TestClient, app: App) -> None:
    treatment_id = logged(client)
    values = {"csrf_token": csrf(client), "reason": "patient changed their mind", "notify": "yes"}
    check = client.post(f"/treatments/{treatment_id}/cancel", data=values)
    assert "avoid (text), due 2026-11-27 14:00 EST" in check.text
    assert app.service.treatment(app.clinic.id, treatment_id).status == "active"
    done = client.post(f"/treatments/{treatment_id}/cancel/confirm", data=values)
    assert done.headers["location"] == f"/treatments/{treatment_id}?saved=cancelled"
    stored = app.service.treatment(app.clinic.id, treatment_id)
    assert stored.status == TreatmentStatus.CANCELLED.value
    assert {m.state for m in stored.messages} == {MessageState.CANCELLED.value}


def test_another_clinics_treatment_is_not_found_on_any_of_its_pages(
    client: TestClient, other_client: TestClient, app: App
) -> None:
    treatment_id = logged(client)
    for path in ("", "/first-message", "/correct", "/cancel"):
        assert other_client.get(f"/treatments/{treatment_id}{path}").status_code == 404, path
    token = csrf(other_client)
    for path in ("/correct/confirm", "/cancel/confirm", "/email-instead"):
        answer = other_client.post(
            f"/treatments/{treatment_id}{path}",
            data={"csrf_token": token, "reason": "x", "performed_at": "2026-11-27T13:00"},
        )
        assert answer.status_code == 404, path
    assert app.service.treatment(app.clinic.id, treatment_id).status == "active"
