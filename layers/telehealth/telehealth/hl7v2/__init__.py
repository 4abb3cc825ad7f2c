"""HL7 v2 (ER7, the pipe-delimited encoding) as health systems' interface engines speak it: the
ADT messages they post and the acknowledgments the platform answers (`adt`), and the scheduling
messages it sends them (`siu`); here, what both write alike (the header, escaping, times). Parsed and built
with python-hl7 (`hl7`): pure Python without dependencies (a small import for the api's cold
start), and version-agnostic, reading any 2.x message without a per-version profile; the rules a
message must meet are the platform's own, here, each refusal naming the segment and field at fault.
"""

from __future__ import annotations

from datetime import UTC, datetime

# What the platform sends as: MSH-3 and MSH-4 of its acknowledgments and messages.
APPLICATION, FACILITY = "TELEHEALTH", "CLINIC"
DELIMITERS = "^~\\&"  # MSH-2, the default encoding characters (MSH-1 is "|")


def escaped(text: str) -> str:
    """A value for a field of a message written with the default delimiters: each escaped."""
    for char, escape in (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\")):
        text = text.replace(char, escape)
    return text


def when(moment: datetime) -> str:
    """A date and time (DTM, TS before v2.5) in UTC with its offset, to the second."""
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")


def header(
    message_type: str,
    receiver: tuple[str, str],
    control_id: str,
    now: datetime,
    *,
    processing: str = "P",
    version: str,
) -> str:
    """An MSH segment from the platform to `receiver` (its application and facility)."""
    return "|".join(
        [
            "MSH",
            DELIMITERS,
            APPLICATION,
            FACILITY,
            escaped(receiver[0]),
            escaped(receiver[1]),
            when(now),
            "",
            message_type,
            control_id,
            escaped(processing),
            version,
        ]
    )
