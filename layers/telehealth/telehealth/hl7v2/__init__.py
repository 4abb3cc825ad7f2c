"""HL7 v2 (ER7, the pipe-delimited encoding) as health systems' interface engines speak it: the
ADT messages they post (`adt`), and the acknowledgments the platform answers. Parsed and built
with python-hl7 (`hl7`): pure Python without dependencies (a small import for the api's cold
start), and version-agnostic, reading any 2.x message without a per-version profile; the rules a
message must meet are the platform's own, here, each refusal naming the segment and field at fault.
"""
