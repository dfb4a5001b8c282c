"""ORM rows and plans to response bodies, with local times in the patient's or clinic's zone."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from reminders.api import schemas
from reminders.db.models import Alert, ChannelProblem, InboundMessage, Message, Treatment
from reminders.domain import ChannelKind, MessageState, TreatmentStatus
from reminders.durations import format_duration
from reminders.planning import Plan, PlannedStep
from reminders.policies import Citation, Instruction, Policy, step_times
from reminders.progress import FirstMessage
from reminders.replies import WAITING
from reminders.triage import TriagePolicy


def treatment_zone(treatment: Treatment, clinic_zone: ZoneInfo) -> ZoneInfo:
    zone = treatment.patient.timezone
    return ZoneInfo(zone) if zone else clinic_zone


def message_public(message: Message, zone: ZoneInfo) -> schemas.MessagePublic:
    return schemas.MessagePublic(
        id=message.id,
        step_id=message.step_id,
        channel=ChannelKind(message.channel),
        state=MessageState(message.state),
        natural_at=message.natural_at,
        due_at=message.due_at,
        due_at_local=message.due_at.astimezone(zone),
        expires_at=message.expires_at,
        not_before=message.not_before,
        sent_at=message.sent_at,
        attempts=message.attempts,
        subject=message.subject,
        body=message.body,
        sent_subject=message.sent_subject,
        sent_body=message.sent_body,
        policy_version=message.policy_version,
        note=message.note,
        reason=message.reason,
        last_error=message.last_error,
        delivery_status=message.delivery_status,
        delivery_error=message.delivery_error,
        events=[
            schemas.EventPublic(at=e.at, kind=e.kind, state=MessageState(e.state), detail=e.detail)
            for e in message.events
        ],
    )


def treatment_public(treatment: Treatment, clinic_zone: ZoneInfo) -> schemas.TreatmentPublic:
    zone = treatment_zone(treatment, clinic_zone)
    patient = treatment.patient
    return schemas.TreatmentPublic(
        id=treatment.id,
        treatment_type=treatment.treatment_type,
        status=TreatmentStatus(treatment.status),
        performed_at=treatment.performed_at,
        performed_at_local=treatment.performed_at.astimezone(zone),
        logged_at=treatment.logged_at,
        restriction=treatment.restriction,
        restriction_reason=treatment.restriction_reason,
        restriction_source=treatment.restriction_source,
        policy_version=treatment.policy_version,
        cancelled_at=treatment.cancelled_at,
        cancel_reason=treatment.cancel_reason,
        correction_note=treatment.correction_note,
        patient=schemas.PatientPublic(
            id=patient.id,
            name=patient.name,
            phone=patient.phone,
            email=patient.email,
            preferred_channel=ChannelKind(patient.preferred_channel)
            if patient.preferred_channel
            else None,
            sms_consent_at=patient.sms_consent_at,
            timezone=patient.timezone,
        ),
        messages=[message_public(m, zone) for m in treatment.messages],
        alerts=[alert_public(a) for a in treatment.alerts],
    )


def first_message_public(first: FirstMessage, zone: ZoneInfo) -> schemas.FirstMessagePublic:
    return schemas.FirstMessagePublic(
        message_id=first.message_id,
        channel=first.channel,
        stage=first.stage,
        final=first.final,
        problem=first.problem,
        summary=first.summary,
        what_to_do=list(first.what_to_do),
        due_at=first.due_at,
        due_at_local=first.due_at.astimezone(zone) if first.due_at else None,
        email_instead=first.email_instead,
    )


def alert_public(alert: Alert) -> schemas.AlertPublic:
    return schemas.AlertPublic(
        id=alert.id,
        kind=alert.kind,
        treatment_id=alert.treatment_id,
        detail=alert.detail,
        created_at=alert.created_at,
        updated_at=alert.updated_at,
        acknowledged_at=alert.acknowledged_at,
        acknowledged_by=alert.acknowledged_by,
    )


def channel_waiting_public(problem: ChannelProblem) -> schemas.ChannelWaitingPublic:
    return schemas.ChannelWaitingPublic(
        channel=ChannelKind(problem.channel),
        problem=problem.problem,
        since=problem.since,
        retry_at=problem.retry_at,
    )


def plan_public(plan: Plan) -> schemas.PlanPublic:
    return schemas.PlanPublic(
        treatment_at=plan.treatment_at,
        restriction_end=plan.restriction_end,
        restriction_end_local=plan.restriction_end.astimezone(plan.zone),
        timezone=plan.zone.key,
        policy_version=plan.policy_version,
        steps=[planned_step_public(s, plan.zone) for s in plan.steps],
    )


def planned_step_public(step: PlannedStep, zone: ZoneInfo) -> schemas.PlannedStepPublic:
    return schemas.PlannedStepPublic(
        step_id=step.step_id,
        channel=step.channel,
        natural_at=step.natural_at,
        due_at=step.due_at,
        due_at_local=step.due_at.astimezone(zone),
        expires_at=step.expires_at,
        not_before=step.not_before,
        subject=step.subject,
        body=step.body,
        skip_reason=step.skip_reason,
        note=step.note,
    )


def policy_public(policy: Policy, restriction: str) -> schemas.PolicyPublic:
    steps = []
    for step in policy.steps:
        offset, expires = step_times(step)
        steps.append(
            schemas.PolicyStepPublic(
                id=step.id,
                offset=offset,
                expires=expires,
                not_before_restriction_end=step.not_before_restriction_end,
                may_wait=step.may_wait,
                when=step.when,
                sms=step.sms,
                email_subject=step.email_subject,
                email_body=step.email_body,
                instructions=[_instruction(i) for i in step.instructions],
            )
        )
    cited = policy.restriction
    return schemas.PolicyPublic(
        treatment=policy.treatment,
        title=policy.title,
        version=policy.version,
        restriction=restriction,
        supported_restrictions=schemas.RestrictionRangePublic(
            shortest=format_duration(policy.shortest),
            longest=format_duration(policy.longest),
            says=cited.says,
            citations=[_citation(c) for c in cited.citations],
        ),
        windows=[
            schemas.WindowPublic(
                id=w.id,
                length="restriction" if w.length is None else format_duration(w.length),
                avoid=list(w.avoid),
                resume=list(w.resume),
                instructions=[_instruction(i) for i in w.instructions],
            )
            for w in policy.windows
        ],
        steps=steps,
    )


def _instruction(instruction: Instruction) -> schemas.InstructionPublic:
    return schemas.InstructionPublic(
        says=instruction.says, citations=[_citation(c) for c in instruction.citations]
    )


def _citation(citation: Citation) -> schemas.CitationPublic:
    return schemas.CitationPublic(
        heading=citation.heading, clinician=citation.clinician, quote=citation.quote
    )


def reply_public(reply: InboundMessage, triage: TriagePolicy) -> schemas.ReplyPublic:
    return schemas.ReplyPublic(
        id=reply.id,
        received_at=reply.received_at,
        kind=reply.kind,
        triage=reply.triage,
        flags=reply.flag_ids,
        flag_labels=triage.labels(reply.flag_ids),
        body=reply.body,
        from_phone=reply.from_phone,
        answer=reply.answer,
        patient_id=reply.patient_id,
        patient_name=reply.patient.name if reply.patient else None,
        treatment_id=reply.treatment_id,
        open=reply.acknowledged_at is None and reply.triage in WAITING,
        acknowledged_at=reply.acknowledged_at,
        acknowledged_by=reply.acknowledged_by,
        opt_out_confirmed_at=reply.opt_out_confirmed_at,
    )
