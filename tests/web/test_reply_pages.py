"""The replies page through a test client: the inbox's order, acknowledging a flag,
confirming or dismissing a request to stop texts, the day's needs-a-call list."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from reminders.bootstrap import App
from reminders.clock import FixedClock
from reminders.db import repo
from reminders.db.models import Clinic, InboundMessage
from reminders.replies import ReplyFilter
from tests.api import TestClient
from tests.support import RecordingChannel, dispatcher
from tests.web.conftest import csrf
from tests.web.test_treatment_pages import logged

PATIENT = "+12125550199"
SENDER = "+12125550100"
ON_CALL = "+12125550188"
DROOPING = "my eyelid is drooping"
STOP_WORDS = "please stop texting me"
BREATHING = "I can't breathe properly"
BREATHING_HTML = BREATHING.replace("'", "&#39;")  # as the page escapes it


def reply(app: App, clock: FixedClock, body: str, sid: str) -> InboundMessage:
    """The patient texts `body`, a minute after the last reply; the stored reply."""
    clock.advance(timedelta(minutes=1))
    app.reports.inbound_text(from_phone=PATIENT, to_sender=SENDER, body=body, provider_id=sid)
    [found] = [
        r for r in app.replies.inbox(app.clinic.id) if r.provider_id == f"{sid}:{app.clinic.id}"
    ]
    return found


def order(html: str) -> list[str]:
    """The replies' texts, in the page's order."""
    return re.findall(r'<blockquote class="reply__text">(.*?)</blockquote>', html)


def test_replies_waiting_for_staff_are_on_top_emergencies_first(
    client: TestClient, app: App, clock: FixedClock
) -> None:
    logged(client)
    reply(app, clock, DROOPING, "SM1")
    reply(app, clock, BREATHING, "SM2")
    reply(app, clock, STOP_WORDS, "SM3")
    reply(app, clock, "thanks", "SM4")
    page = client.get("/replies")
    assert page.status_code == 200
    assert order(page.text) == [BREATHING_HTML, DROOPING, STOP_WORDS, "thanks"]
    waiting = client.get("/replies?show=open")
    assert order(waiting.text) == [BREATHING_HTML, DROOPING, STOP_WORDS]


def test_a_flagged_reply_shows_the_patient_the_flag_its_citation_and_the_answer(
    client: TestClient, app: App, clock: FixedClock
) -> None:
    treatment_id = logged(client)
    drooping = reply(app, clock, DROOPING, "SM1")
    page = client.get("/replies").text
    assert f'<a href="/treatments/{treatment_id}">Jane Doe</a>' in page
    assert '<span class="tag tag--clinical">Clinical flag</span>' in page
    assert "2026-11-27 14:01 EST" in page
    assert "<summary>What the clinicians say</summary>" in page
    assert "Memphis Plastic Surgeon" in page
    assert drooping.answer
    assert drooping.answer.replace("'", "&#39;") in page
    assert "not alerted: no on-call contact is configured" in page
    assert "not yet: waiting for staff" in page
    assert '<span id="replies-count" class="nav-count">1 flagged</span>' in page


def test_acknowledging_records_who_once_and_moves_it_out_of_the_open_list(
    client: TestClient, app: App, clock: FixedClock
) -> None:
    logged(client)
    drooping = reply(app, clock, DROOPING, "SM1")
    token = csrf(client, "/replies")
    done = client.post(
        f"/replies/{drooping.id}/acknowledge", data={"csrf_token": token, "next": "/replies"}
    )
    assert (done.status_code, done.headers["location"]) == (303, "/replies")
    clock.advance(timedelta(hours=1))
    again = client.post(f"/replies/{drooping.id}/acknowledge", data={"csrf_token": token})
    assert again.status_code == 303
    [acknowledged] = app.replies.inbox(app.clinic.id)
    assert (acknowledged.acknowledged_by, acknowledged.acknowledged_at) == (
        "Ann Lee",
        clock.now() - timedelta(hours=1),
    )
    assert app.replies.open_flagged(app.clinic.id) == []
    assert "acknowledged by Ann Lee at 2026-11-27 14:01 EST" in client.get("/replies").text
    assert "No replies are waiting for staff." in client.get("/replies?show=open").text


def test_confirming_a_request_to_stop_records_the_opt_out_and_no_text_goes(
    client: TestClient, app: App, clock: FixedClock
) -> None:
    treatment_id = logged(client)
    dispatcher(app, RecordingChannel()).dispatch_due()  # the first text
    request = reply(app, clock, STOP_WORDS, "SM1")
    done = client.post(
        f"/replies/{request.id}/confirm-opt-out",
        data={"csrf_token": csrf(client), "next": "/today"},
    )
    assert (done.status_code, done.headers["location"]) == (303, "/today")
    with app.sessions() as session:
        assert repo.is_opted_out(session, clinic_id=app.clinic.id, phone=PATIENT)
    clock.advance(timedelta(hours=5))
    channel = RecordingChannel()
    dispatcher(app, channel).dispatch_due()
    assert channel.sent == []
    messages = app.service.treatment(app.clinic.id, treatment_id).messages
    assert [(m.step_id, m.state) for m in messages] == [
        ("avoid", "sent"),
        ("all_clear", "cancelled"),
    ]
    assert "opted out of texts, confirmed by Ann Lee" in client.get("/replies").text


def test_whether_on_call_was_alerted_and_how_far_the_alert_got(
    client: TestClient, app: App, clock: FixedClock
) -> None:
    with app.sessions.begin() as session:
        session.execute(
            sa.update(Clinic).where(Clinic.id == app.clinic.id).values(on_call_phone=ON_CALL)
        )
    logged(client)
    reply(app, clock, DROOPING, "SM1")
    assert "alerted by text: waiting to be sent" in client.get("/replies").text
    channel = RecordingChannel()
    assert app.on_call(channel.registry(), "test").send_due().sent == 1
    assert [m.to for m in channel.sent] == [ON_CALL]
    assert "alerted by text: sent" in client.get("/replies").text


def test_a_form_sends_the_person_back_only_to_a_page_of_this_site(
    client: TestClient, app: App, clock: FixedClock
) -> None:
    logged(client)
    drooping = reply(app, clock, DROOPING, "SM1")
    done = client.post(
        f"/replies/{drooping.id}/acknowledge",
        data={"csrf_token": csrf(client), "next": "//evil.example/replies"},
    )
    assert (done.status_code, done.headers["location"]) == (303, "/replies")


def test_dismissing_a_request_to_stop_keeps_the_texts(
    client: TestClient, app: App, clock: FixedClock
) -> None:
    logged(client)
    request = reply(app, clock, STOP_WORDS, "SM1")
    client.post(f"/replies/{request.id}/acknowledge", data={"csrf_token": csrf(client)})
    with app.sessions() as session:
        assert not repo.is_opted_out(session, clinic_id=app.clinic.id, phone=PATIENT)
    assert "dismissed (texts go on) by Ann Lee" in client.get("/replies").text


def test_another_clinics_reply_is_not_found_and_a_post_without_the_token_is_refused(
    client: TestClient, other_client: TestClient, app: App, clock: FixedClock
) -> None:
    logged(client)
    drooping = reply(app, clock, DROOPING, "SM1")
    request = reply(app, clock, STOP_WORDS, "SM2")
    token = csrf(other_client)
    for action, reply_id in (("acknowledge", drooping.id), ("confirm-opt-out", request.id)):
        assert client.post(f"/replies/{reply_id}/{action}").status_code == 403
        foreign = other_client.post(f"/replies/{reply_id}/{action}", data={"csrf_token": token})
        assert foreign.status_code == 404
        assert "Page not found" in foreign.text
    # The other clinic shares the sender, so it keeps a copy of its own: never this one.
    assert f"/replies/{drooping.id}/" not in other_client.get("/replies").text
    assert len(app.replies.inbox(app.clinic.id, ReplyFilter(open=True))) == 2
    with app.sessions() as session:
        assert not repo.is_opted_out(session, clinic_id=app.clinic.id, phone=PATIENT)


def test_the_days_needs_a_call_lists_replies_waiting_for_staff(
    client: TestClient, app: App, clock: FixedClock
) -> None:
    logged(client)
    reply(app, clock, DROOPING, "SM1")
    reply(app, clock, "thanks", "SM2")
    reply(app, clock, BREATHING, "SM3")
    lists = client.get("/today/lists").text
    assert order(lists) == [BREATHING_HTML, DROOPING]
    assert 'action="/replies/' in lists
    assert 'name="next" value="/today"' in lists
    # The refreshed lists carry the nav's count too, swapped in out of band.
    assert '<span id="replies-count" class="nav-count" hx-swap-oob="true">2 flagged</span>' in lists
    assert "Nobody to call" not in lists


def test_the_lists_alone_are_served_for_the_inboxs_refresh(
    client: TestClient, app: App, clock: FixedClock
) -> None:
    logged(client)
    reply(app, clock, DROOPING, "SM1")
    fragment = client.get("/replies/list?show=open")
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert order(fragment.text) == [DROOPING]
