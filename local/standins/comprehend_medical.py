"""A stand-in for Amazon Comprehend Medical's `InferSNOMEDCT`, which moto does not have.

It speaks both protocols the service does, so boto3 and the production adapter talk to it
unchanged through `AWS_ENDPOINT_URL_COMPREHENDMEDICAL`: Smithy RPC v2 CBOR
(`POST /service/ComprehendMedical_20181030/operation/InferSNOMEDCT`, which botocore prefers) and
JSON 1.1 (`X-Amz-Target: ComprehendMedical_20181030.InferSNOMEDCT`). Like the service it refuses an
unsigned request, text of more than 10,000 characters (`TextSizeLimitExceededException`) or none
(`ValidationException`), and more than two requests a second in the account, InferSNOMEDCT's quota
(`ThrottlingException`, which botocore retries).

What it finds is a small lexicon's worth: symptoms patients name in their own words, each with its
SNOMED CT concept, marked NEGATION when "no", "not", "denies" or "without" comes just before it (the
service's trait for a negated mention). It keeps nothing of the text, and writes no access log.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from local.loopback import JsonRequestHandler, LoopbackServer

TARGET = "ComprehendMedical_20181030"
OPERATION = "InferSNOMEDCT"
MAX_TEXT = 10_000  # InferSNOMEDCT's limit, in UTF-8 characters
PER_SECOND = 2.0  # InferSNOMEDCT's default quota: transactions a second, per account and region
NAMESPACE = "com.amazonaws.comprehendmedical#"

# Phrases patients use, with the SNOMED CT concept the service would infer (the International
# Edition's codes and preferred terms).
LEXICON: tuple[tuple[str, str, str], ...] = (
    (r"head ?aches?", "25064002", "Headache"),
    (r"fever|temperature", "386661006", "Fever"),
    (r"cough(?:ing)?", "49727002", "Cough"),
    (r"sore throat", "162397003", "Pain in throat"),
    (r"nause(?:a|ous)|feel(?:ing)? sick", "422587007", "Nausea"),
    (r"vomit(?:ing|ed)?|throwing up", "422400008", "Vomiting"),
    (r"diarrh(?:o)?ea", "62315008", "Diarrhea"),
    (r"rash(?:es)?", "271807003", "Eruption of skin"),
    (r"chest pain", "29857009", "Chest pain"),
    (r"short(?:ness)? of breath|breathless(?:ness)?", "267036007", "Dyspnea"),
    (r"dizz(?:y|iness)", "404640003", "Dizziness"),
    (r"(?:stomach|belly|abdominal) pain", "21522001", "Abdominal pain"),
    (r"back ?(?:pain|ache)", "161891005", "Backache"),
    (r"tired(?:ness)?|fatigue", "84229001", "Fatigue"),
    (r"itch(?:y|ing)?", "418290006", "Itching"),
    (r"runny nose", "64531003", "Nasal discharge"),
    (r"ear ?(?:ache|pain)", "16001004", "Otalgia"),
    (r"joint pain", "57676002", "Pain of joint"),
    (r"palpitations?|heart racing", "80313002", "Palpitations"),
    (r"anxi(?:ety|ous)", "48694002", "Anxiety"),
    (r"insomnia|can'?t sleep", "193462001", "Insomnia"),
    (r"swelling|swollen", "442672001", "Swelling"),
    (r"burning (?:when|while) (?:peeing|urinating)|painful urination", "49650001", "Dysuria"),
    (r"constipat(?:ed|ion)", "14760008", "Constipation"),
    (r"wheez(?:e|ing)", "56018004", "Wheezing"),
)
_PATTERNS = [(re.compile(rf"\b(?:{p})\b", re.IGNORECASE), code, term) for p, code, term in LEXICON]
_NEGATION = re.compile(r"\b(?:no|not|denies|without|never)\b(?:\W+\w+){0,2}\W*$", re.IGNORECASE)


class ServiceError(Exception):
    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


def infer(text: str) -> dict[str, Any]:
    """InferSNOMEDCT's answer for `text`, as the service shapes it."""
    entities: list[dict[str, Any]] = []
    for pattern, code, term in _PATTERNS:
        for match in pattern.finditer(text):
            negated = bool(_NEGATION.search(text[max(0, match.start() - 30) : match.start()]))
            traits = [{"Name": "SYMPTOM", "Score": 0.91}]
            if negated:
                traits.append({"Name": "NEGATION", "Score": 0.94})
            entities.append(
                {
                    "Id": len(entities),
                    "Text": match.group(0),
                    "Category": "MEDICAL_CONDITION",
                    "Type": "DX_NAME",
                    "Score": 0.93,
                    "BeginOffset": match.start(),
                    "EndOffset": match.end(),
                    "Attributes": [],
                    "Traits": traits,
                    "SNOMEDCTConcepts": [{"Description": term, "Code": code, "Score": 0.88}],
                }
            )
    entities.sort(key=lambda e: e["BeginOffset"])
    for n, entity in enumerate(entities):
        entity["Id"] = n
    return {
        "Entities": entities,
        "ModelVersion": "0.1.0",
        "SNOMEDCTDetails": {"Edition": "US", "Language": "en", "VersionDate": "20250301"},
        "Characters": {"OriginalTextCharacters": len(text)},
    }


@dataclass
class _Bucket:
    tokens: float
    at: float


class ComprehendMedicalStandIn:
    def __init__(self, per_second: float = PER_SECOND) -> None:
        self.per_second = per_second
        self._bucket = _Bucket(per_second, time.monotonic())
        self._lock = threading.Lock()
        self.calls = 0  # answered
        self.throttled = 0
        self._server: LoopbackServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        handler = type("Handler", (_Handler,), {"service": self})
        self._server = LoopbackServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self._server.serve_forever, name="comprehend-medical", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def within_quota(self) -> bool:
        with self._lock:
            now = time.monotonic()
            bucket = self._bucket
            bucket.tokens = min(self.per_second, bucket.tokens + (now - bucket.at) * self.per_second)
            bucket.at = now
            if bucket.tokens < 1:
                self.throttled += 1
                return False
            bucket.tokens -= 1
            return True

    def answer(self, signed: bool, operation: str, request: Any) -> dict[str, Any]:
        if not signed:
            raise ServiceError(
                403, "UnrecognizedClientException", "The security token included in the request is invalid."
            )
        if operation != OPERATION:
            raise ServiceError(400, "UnknownOperationException", f"The stand-in answers {OPERATION} only.")
        if not isinstance(request, dict) or not isinstance(request.get("Text"), str) or not request["Text"]:
            raise ServiceError(400, "ValidationException", "Text must be 1 to 10000 characters.")
        if len(request["Text"]) > MAX_TEXT:
            raise ServiceError(400, "TextSizeLimitExceededException", "The size of the text is too large.")
        if not self.within_quota():
            raise ServiceError(400, "ThrottlingException", "Rate exceeded")
        with self._lock:
            self.calls += 1
        return infer(request["Text"])


class _Handler(JsonRequestHandler):
    service: ComprehendMedicalStandIn

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        import cbor2

        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        signed = (self.headers.get("Authorization") or "").startswith("AWS4-HMAC-SHA256 ") and (
            "/comprehendmedical/aws4_request" in (self.headers.get("Authorization") or "")
        )
        rpc = self.path.startswith(f"/service/{TARGET}/operation/")
        try:
            if rpc:
                operation = self.path.rsplit("/", 1)[-1]
                request = cbor2.loads(body) if body else {}
            else:
                target = self.headers.get("X-Amz-Target") or ""
                operation = target.removeprefix(f"{TARGET}.") if target.startswith(f"{TARGET}.") else ""
                request = json.loads(body or b"{}")
        except ValueError:
            self._reply(
                rpc, 400, {"__type": f"{NAMESPACE}SerializationException", "message": "Malformed body."}
            )
            return
        try:
            self._reply(rpc, 200, self.service.answer(signed, operation, request))
        except ServiceError as error:
            self._reply(rpc, error.status, {"__type": f"{NAMESPACE}{error.kind}", "message": error.message})

    def _reply(self, rpc: bool, status: int, document: dict[str, Any]) -> None:
        import cbor2

        payload = cbor2.dumps(document) if rpc else json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/cbor" if rpc else "application/x-amz-json-1.1")
        if rpc:
            self.send_header("smithy-protocol", "rpc-v2-cbor")
        self.send_header("x-amzn-RequestId", "00000000-0000-4000-8000-000000000000")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
