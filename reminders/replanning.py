"""A correction to a logged treatment (its time, or its restriction), planned and applied.

What still has to go is planned again from the corrected treatment; steps that went
stay in history. If the patient was already told other times, the correction message
is chosen by reminders.corrections, and the window-end messages are planned again
from the corrected times (the patient hears when each window really ends), except
those whose window has already ended: the correction tells them where they stand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from reminders import corrections
from reminders.db import plans, repo
from reminders.db.models import Treatment
from reminders.domain import ClinicProfile, EventKind
from reminders.durations import format_duration, parse_duration
from reminders.intake import Restriction
from reminders.localtime import format_staff
from reminders.patients import patient_profile_of
from reminders.planning import Plan, PlannedStep, plan_step_now, plan_treatment
from reminders.policies import Policy, Step


@dataclass(frozen=True)
class Change:
    treatment: Treatment
    policy: Policy
    clinic: ClinicProfile
    performed_at: datetime | None  # the corrected time; None: unchanged
    kept: Restriction  # the restriction as it was
    new: Restriction  # the restriction from now on
    now: datetime

    @property
    def treatment_at(self) -> datetime:
        return self.performed_at or self.treatment.performed_at

    def plan(self, sent: Sequence[str]) -> tuple[Plan, str | None, PlannedStep | None]:
        """The corrected plan, the correction the patient needs (if any) and its message."""
        patient = patient_profile_of(self.treatment.patient)
        plan = plan_treatment(
            treatment_at=self.treatment_at,
            policy=self.policy,
            clinic=self.clinic,
            patient=patient,
            now=self.now,
            restriction=self.new.length,
        )
        told = corrections.told(
            self.policy,
            treatment_at=self.treatment.performed_at,
            restriction=self.kept.length,
            sent_steps=sent,
        )
        kind = corrections.kind_of_correction(told, plan.windows, self.now)
        step = _step_for(self.policy, kind)
        if step is None:
            return plan, None, None
        message = plan_step_now(
            step,
            treatment_at=self.treatment_at,
            policy=self.policy,
            clinic=self.clinic,
            patient=patient,
            now=self.now,
            restriction=self.new.length,
        )
        return plan, kind, message

    def apply(self, session: Session, plan: Plan, kind: str | None, sent: Sequence[str]) -> None:
        """Cancel what is still to go, record the corrected treatment, plan what follows."""
        treatment = self.treatment
        repo.cancel_unsent(
            session, treatment_id=treatment.id, reason=f"re-planned: {self.what()}", now=self.now
        )
        treatment.performed_at = plan.treatment_at
        treatment.restriction = format_duration(self.new.length)
        treatment.restriction_reason = self.new.reason
        treatment.restriction_source = self.new.source
        treatment.policy_version = self.policy.version
        treatment.updated_at = self.now
        plans.insert_plans(
            session.connection(),
            [(treatment.clinic_id, treatment.id, plan)],
            self.now,
            event=EventKind.REPLANNED,
            done=self._done(plan, kind, sent),
        )

    def preview(self, plan: Plan) -> Treatment:
        """The treatment as the correction would leave it, for a dry run; not stored."""
        treatment = self.treatment
        shown = Treatment(
            id=treatment.id,
            clinic_id=treatment.clinic_id,
            patient_id=treatment.patient_id,
            treatment_type=treatment.treatment_type,
            performed_at=plan.treatment_at,
            logged_at=treatment.logged_at,
            status=treatment.status,
            policy_version=self.policy.version,
            restriction=format_duration(self.new.length),
            restriction_reason=self.new.reason,
            restriction_source=self.new.source,
            cancelled_at=None,
            cancel_reason=None,
            correction_note=treatment.correction_note,
            created_at=treatment.created_at,
            updated_at=self.now,
        )
        set_committed_value(shown, "patient", treatment.patient)
        set_committed_value(shown, "messages", list(treatment.messages))
        set_committed_value(shown, "alerts", list(treatment.alerts))
        return shown

    def what(self) -> str:
        """What changed, for the history: `treatment time corrected to ...; restriction 6h`."""
        parts = []
        if self.performed_at is not None:
            zone = self.clinic.timezone
            parts.append(f"treatment time corrected to {format_staff(self.performed_at, zone)}")
        if self.new != self.kept:
            why = f" ({self.new.reason})" if self.new.reason else ""
            parts.append(f"restriction now {format_duration(self.new.length)}{why}")
        return "; ".join(parts) or "re-planned"

    def _done(self, plan: Plan, kind: str | None, sent: Sequence[str]) -> dict[str, str]:
        """Steps not to plan again, with why."""
        if kind is None:
            return dict.fromkeys(sent, "already sent before the treatment was corrected")
        done = {
            step_id: "already sent before the treatment was corrected"
            for step_id in sent
            if not _tells_an_end(self.policy.step(step_id))
        }
        for step in plan.steps:
            if _tells_an_end(self.policy.step(step.step_id)) and step.natural_at <= self.now:
                done[step.step_id] = (
                    "its window ended before the correction, which tells the patient so"
                )
        return done


def _tells_an_end(step: Step | None) -> bool:
    return step is not None and (
        step.at_window_ends or (step.planned and step.offset.from_restriction_end)
    )


def _step_for(policy: Policy, kind: str | None) -> Step | None:
    if kind is None:
        return None
    return next((s for s in policy.steps if s.when == kind), None)


def plan_now(
    step: Step, treatment: Treatment, policy: Policy, clinic: ClinicProfile, now: datetime
) -> PlannedStep:
    """A correction step for a treatment as it stands, to go now."""
    return plan_step_now(
        step,
        treatment_at=treatment.performed_at,
        policy=policy,
        clinic=clinic,
        patient=patient_profile_of(treatment.patient),
        now=now,
        restriction=parse_duration(treatment.restriction),
    )
