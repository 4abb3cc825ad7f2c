"""Visit routes: the patient checks in (where they are, an emergency contact, their consents)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel, ConfigDict, Field

from functions.api import context
from functions.api.routes.scheduling import AppointmentId, StateCode

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated


class CheckInRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: StateCode
    emergency_contact: Annotated[str, Field(min_length=5, max_length=200)] = Field(
        description="A callback number or an address where help can be sent during the visit"
    )
    consent_to_telehealth: bool
    consent_to_recording: bool


class CheckInOut(BaseModel):
    appointment_id: str
    checked_in_at: datetime
    recording_consented: bool


@router.post(
    "/v1/appointments/<appointment_id>/check-in", summary="Check in (opens 15 minutes before the start)"
)
def check_in(appointment_id: AppointmentId, request: CheckInRequest) -> CheckInOut:
    done = context.visits().check_in(
        context.caller(router),
        appointment_id,
        state=request.state,
        emergency_contact=request.emergency_contact,
        consents_to_telehealth=request.consent_to_telehealth,
        consents_to_recording=request.consent_to_recording,
    )
    return CheckInOut(
        appointment_id=appointment_id, checked_in_at=done.at, recording_consented=done.consents_to_recording
    )
