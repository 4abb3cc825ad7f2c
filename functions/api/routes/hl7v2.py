"""HL7 v2 over HTTPS (telehealth/application/adt_feed.py): a health system's interface engine
posts one ADT message a request, as HL7 over HTTP (HAPI's specification) sends them, and reads the
acknowledgment in the answer.

Every message the route reads is answered 200 with its ACK, `AE` and `AR` included: the ACK is
this protocol's error document, naming the segment and field at fault, and engines read it from a
200 (a 4xx or 5xx they would queue and send again unchanged). A problem+json 4xx is only for what
is not a message to acknowledge: a body of another content type (415), or a caller without the
`hl7.adt` scope (403).
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from functions.api import context, problems
from functions.api.contract import HL7_V2, INTEGRATIONS, answers
from telehealth.api_conventions import HL7_ADT, HL7_ADT_SCOPE

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated

# What engines label ER7 with: HL7 over HTTP's type, Medplum's and some engines' older one, and
# plain text (Mirth's HTTP sender's default).
ACCEPTED_TYPES = (HL7_V2, "x-application/hl7-v2+er7", "text/plain")


@router.post(
    HL7_ADT,
    summary="An HL7 v2 ADT message (A04, A08, A40), answered with its ACK (scope hl7.adt)",
    description="One ER7 message a request (segments separated by CR; LF and MLLP's framing are "
    "tolerated). `ADT^A04` registers a patient or updates the one its MRN (PID-3, the identifier "
    "typed MR) names; `ADT^A08` updates a patient on file; `ADT^A40` merges the patient of MRG-1 "
    "into the one of PID-3: the retired record is linked `replaced-by`, its appointments and "
    "portal account move to the survivor, and staff can undo it. The answer is the ACK, with "
    "status 200 whatever its code: `AA` applied; `AE` the message is wrong (ERR names the segment, "
    "field and HL7 error code; do not resend it unchanged); `AR` not taken (not HL7, an event or "
    "version the clinic does not take, or a record busy: the text says whether to send it again). "
    "A message sent again changes nothing more.",
    tags=[INTEGRATIONS],
    **answers(415, model=None, raw_body=ACCEPTED_TYPES),
)
def adt() -> Response[str]:
    caller = context.caller(router)
    caller.require_scope(f"telehealth/{HL7_ADT_SCOPE}")
    event = router.current_event
    sent = (event.get_header_value("Content-Type", case_sensitive=False) or "").split(";")[0].strip().lower()
    if sent not in ACCEPTED_TYPES:
        return problems.problem(
            415,
            "unsupported-media-type",
            "An HL7 v2 message is sent as application/hl7-v2 (ER7).",
            f"Send the message as one of: {', '.join(ACCEPTED_TYPES)}.",
        )
    acknowledged = context.adt_feed().receive(caller, event.decoded_body or "")
    return Response(status_code=200, content_type=f"{HL7_V2}; charset=utf-8", body=acknowledged.body)
