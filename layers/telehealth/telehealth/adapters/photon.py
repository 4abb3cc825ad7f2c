"""E-prescribing through Photon Health's network: its GraphQL clinical API and its webhooks, in
their documented shapes (docs.photon.health: patients, prescriptions, orders, pharmacies,
prescription screening; order and prescription events signed with `X-Photon-Signature`).

Two sides, one module:
- `PhotonNetwork`, in the prescribing function alone (the egress path): the tenant's Photon
  credentials from its secret, an organization token for patients, orders, screening, the pharmacy
  directory and cancelling, and the prescriber's own token for `createPrescription` (Photon lets
  only a prescriber write one). EPCS's two-factor signing is Photon's.
- Linking a prescriber's Photon account: their own sign-in at Photon (authorization code with
  PKCE), whose refresh token the function seals under the tenant's prescriber-credentials key
  (`PrescriberSeal`, the provider as encryption context) and hands back. The api keeps only the
  sealed copy and passes it with each send: no other function can open it, nor use one
  provider's for another.
- `PrescribingFunction`, in the api: the `PrescribingNetwork` port over Lambda Invoke.

Ids on both sides: our prescription id is the order's and the prescription's `externalId`, so a
webhook names our record, and a send that was cut short finds what it made before (`resume`).
`PHOTON_API_BASE` and `PHOTON_AUTH_BASE` point it at the local stand-in.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from telehealth.adapters.sealing import Seal
from telehealth.api_conventions import PRESCRIBER_SEAL_PURPOSE
from telehealth.domain.prescriptions import (
    Directions,
    Notice,
    NoticeKind,
    Pharmacy,
    PrescriberAccount,
    Screened,
)
from telehealth.ports import NoticeRefusedError, PrescribingRefusedError, PrescribingUnavailableError

AUDIENCE = "https://api.photon.health"
TIMEOUT_S = 10.0
TOKEN_MARGIN_S = 60  # a token this close to its expiry is renewed first
# Photon's events the platform reads; the rest (created, fulfillment progress) change nothing here.
EVENT_KINDS: dict[str, NoticeKind] = {
    "photon:order:placed": NoticeKind.TRANSMITTED,
    "photon:order:error": NoticeKind.ERROR,
    "photon:order:completed": NoticeKind.DISPENSED,
    "photon:order:canceled": NoticeKind.CANCELLED,
    # Not in Photon's public event list: the pharmacy's renewal request (NCPDP RxRenewalRequest)
    # as the platform expects it under the same envelope; to be confirmed with Photon before use.
    "photon:prescription:renewal_requested": NoticeKind.RENEWAL_REQUESTED,
}


# --- the wire between the api and the prescribing function --------------------------------------


class _Wire(BaseModel):
    # A request names the patient: a validation error must not quote it (it would reach a log).
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class WirePatient(_Wire):
    patient_id: str
    vendor_patient_id: str | None = None
    given_name: str = Field(max_length=100)
    family_name: str = Field(max_length=100)
    birth_date: date
    sex: Literal["MALE", "FEMALE", "UNKNOWN"] = "UNKNOWN"
    phone: str = Field(pattern=r"^\+1[0-9]{10}$")


class WireDirections(_Wire):
    rxcui: str
    dose: str
    route: str
    frequency: str
    quantity: int
    quantity_unit: str
    days_supply: int
    refills: int
    substitution_allowed: bool
    sig: str


class PharmaciesRequest(_Wire):
    operation: Literal["pharmacies"] = "pharmacies"
    name: str = Field(default="", max_length=60)
    state: str = Field(default="", pattern=r"^([A-Z]{2})?$")
    pharmacy_id: str = Field(default="", max_length=80)  # one pharmacy, by the network's id


class ScreenRequest(_Wire):
    operation: Literal["screen"] = "screen"
    patient: WirePatient
    directions: WireDirections
    pharmacy_id: str = Field(max_length=80)  # looked up in the same call: one round trip fewer


class SendRequest(_Wire):
    operation: Literal["send"] = "send"
    prescription_id: str
    prescriber_id: str  # our provider id: whose Photon account writes it
    credential: str = Field(max_length=8192)  # their sealed refresh token (`PrescriberSeal`)
    patient: WirePatient
    directions: WireDirections
    pharmacy_id: str
    resume: bool = False  # an earlier attempt may have made some of it


class CancelRequest(_Wire):
    operation: Literal["cancel"] = "cancel"
    vendor_order_id: str


class NoticeRequest(_Wire):
    operation: Literal["notice"] = "notice"
    body: str = Field(max_length=65_536)
    signature: str = Field(max_length=200)


class AuthorizeRequest(_Wire):
    """Where the prescriber signs in at Photon to link their account."""

    operation: Literal["authorize"] = "authorize"
    state: str = Field(pattern=r"^[A-Za-z0-9_-]{20,100}$")
    code_challenge: str = Field(pattern=r"^[A-Za-z0-9_-]{43}$")  # S256 of the verifier
    redirect_uri: str = Field(max_length=500)


class LinkRequest(_Wire):
    """The sign-in's code, exchanged for the prescriber's refresh token, sealed."""

    operation: Literal["link"] = "link"
    prescriber_id: str
    code: str = Field(max_length=500)
    code_verifier: str = Field(pattern=r"^[A-Za-z0-9._~-]{43,128}$")
    redirect_uri: str = Field(max_length=500)


class UnlinkRequest(_Wire):
    """The prescriber's refresh token revoked at Photon."""

    operation: Literal["unlink"] = "unlink"
    prescriber_id: str
    credential: str = Field(max_length=8192)


class PrescribingReply(_Wire):
    ok: bool
    result: dict[str, Any] = {}
    error: Literal["unavailable", "refused", "signature"] | None = None
    code: str | None = None


WireRequest = (
    PharmaciesRequest
    | ScreenRequest
    | SendRequest
    | CancelRequest
    | NoticeRequest
    | AuthorizeRequest
    | LinkRequest
    | UnlinkRequest
)
_REQUESTS: dict[str, type[_Wire]] = {
    "pharmacies": PharmaciesRequest,
    "screen": ScreenRequest,
    "send": SendRequest,
    "cancel": CancelRequest,
    "notice": NoticeRequest,
    "authorize": AuthorizeRequest,
    "link": LinkRequest,
    "unlink": UnlinkRequest,
}


def parse_request(event: Any) -> WireRequest:
    operation = event.get("operation") if isinstance(event, dict) else None
    kind = _REQUESTS.get(str(operation))
    if kind is None:
        raise ValueError(f"no such prescribing operation: {operation!r}")
    return kind.model_validate(event)  # type: ignore[return-value]


_SEX = {"male": "MALE", "female": "FEMALE"}


def wire_patient(profile: Any, vendor_patient_id: str | None) -> WirePatient:
    """The patient as the network needs them: name, date of birth, sex, phone (`PatientProfile`)."""
    return WirePatient(
        patient_id=profile.patient_id,
        vendor_patient_id=vendor_patient_id,
        given_name=profile.given_name or "",
        family_name=profile.family_name or "",
        birth_date=profile.birth_date,
        sex=_SEX.get(str(profile.gender or "").lower(), "UNKNOWN"),  # type: ignore[arg-type]
        phone=profile.phone,
    )


def wire_directions(d: Directions) -> WireDirections:
    return WireDirections(**{k: getattr(d, k) for k in WireDirections.model_fields})


def pharmacy_record(p: Pharmacy) -> dict[str, str]:
    return {k: getattr(p, k) for k in Pharmacy.__dataclass_fields__}


def pharmacy_of(raw: Mapping[str, Any]) -> Pharmacy:
    return Pharmacy(**{k: str(raw.get(k) or "") for k in Pharmacy.__dataclass_fields__})


def notice_record(n: Notice) -> dict[str, Any]:
    return {**n.__dict__, "kind": n.kind.value, "at": n.at.isoformat()}


def notice_of(raw: Mapping[str, Any]) -> Notice:
    return Notice(
        str(raw["notice_id"]),
        NoticeKind(raw["kind"]),
        str(raw["prescription_id"]),
        datetime.fromisoformat(str(raw["at"])),
        str(raw.get("reason", "")),
        str(raw.get("fill_id", "")),
        int(raw.get("quantity", 0)),
        str(raw.get("request_id", "")),
    )


# --- Photon's side: in the prescribing function ----------------------------------------------------

_PHARMACIES = """query pharmacies($name: String) {
  pharmacies(name: $name) { id name phone ncpdpId address { street1 city state postalCode } }
}"""
_PHARMACY = """query pharmacy($id: ID!) {
  pharmacy(id: $id) { id name phone ncpdpId address { street1 city state postalCode } }
}"""
_MEDICATION = """query medications($code: String!) {
  medications(filter: {drug: {code: $code}}) { id name codes { rxcui } }
}"""
_CREATE_PATIENT = """mutation createPatient($externalId: ID, $name: NameInput!, $dateOfBirth: AWSDate!,
  $sex: SexType!, $phone: AWSPhone!) {
  createPatient(externalId: $externalId, name: $name, dateOfBirth: $dateOfBirth, sex: $sex,
    phone: $phone) { id }
}"""
_SCREEN = """query prescriptionScreen($draftedPrescriptions: [DraftedPrescriptionInput!]!,
  $patientId: ID!) {
  prescriptionScreen(draftedPrescriptions: $draftedPrescriptions, patientId: $patientId) {
    alerts { type severity description }
  }
}"""
_FIND_PRESCRIPTION = """query prescriptions($externalId: ID) {
  prescriptions(filter: {externalId: $externalId}) { id }
}"""
_CREATE_PRESCRIPTION = """mutation createPrescription($externalId: ID, $patientId: ID!,
  $treatmentId: ID!, $dispenseAsWritten: Boolean, $dispenseQuantity: Float!, $dispenseUnit: String!,
  $refillsAllowed: Int!, $daysSupply: Int, $instructions: String!, $notes: String,
  $effectiveDate: AWSDate) {
  createPrescription(externalId: $externalId, patientId: $patientId, treatmentId: $treatmentId,
    dispenseAsWritten: $dispenseAsWritten, dispenseQuantity: $dispenseQuantity,
    dispenseUnit: $dispenseUnit, refillsAllowed: $refillsAllowed, daysSupply: $daysSupply,
    instructions: $instructions, notes: $notes, effectiveDate: $effectiveDate) { id }
}"""
_FIND_ORDER = """query orders($externalId: ID) { orders(filter: {externalId: $externalId}) { id } }"""
_CREATE_ORDER = """mutation createOrder($externalId: ID, $patientId: ID!, $fills: [FillInput!]!,
  $pharmacyId: ID) {
  createOrder(externalId: $externalId, patientId: $patientId, fills: $fills, pharmacyId: $pharmacyId) { id }
}"""
_CANCEL_ORDER = """mutation cancelOrder($id: ID!) { cancelOrder(id: $id) { id state } }"""


class PhotonNetwork:
    """Photon's clinical API with the tenant's credentials (`credentials` is the secret's JSON:
    client id and secret, the webhook secret, and each linked prescriber's refresh token)."""

    def __init__(
        self, credentials: Mapping[str, Any], *, api_base: str | None = None, auth_base: str | None = None
    ) -> None:
        self.client_id = str(credentials.get("client_id", ""))
        self.client_secret = str(credentials.get("client_secret", ""))
        self.webhook_secret = str(credentials.get("webhook_secret", ""))
        self.organization_id = str(credentials.get("organization_id", ""))
        self.api = (api_base or os.environ.get("PHOTON_API_BASE", "https://api.photon.health")).rstrip("/")
        auth = auth_base or os.environ.get("PHOTON_AUTH_BASE", "https://auth.photon.health")
        self.auth = auth.rstrip("/")
        self._tokens: dict[str, tuple[str, float]] = {}  # by `_held`
        self._treatments: dict[str, str] = {}  # RxCUI -> Photon's medication id

    # --- transport -------------------------------------------------------------------------------

    def _post(self, url: str, body: Mapping[str, Any], token: str | None = None) -> Any:
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")  # noqa: S310 (https, or the stand-in)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            if error.code >= 500 or error.code in (408, 429):
                raise PrescribingUnavailableError(f"photon answered {error.code}") from None
            raise PrescribingRefusedError(f"http-{error.code}") from None
        except (TimeoutError, OSError) as error:
            raise PrescribingUnavailableError(f"photon did not answer: {type(error).__name__}") from None

    def _oauth(self, path: str, body: Mapping[str, str]) -> Any:
        return self._post(
            f"{self.auth}/{path}", {**body, "client_id": self.client_id, "client_secret": self.client_secret}
        )

    @staticmethod
    def _held(refresh: str) -> str:
        """Where an access token is kept: "" for the organization's, else its refresh token's digest."""
        return hashlib.sha256(refresh.encode()).hexdigest() if refresh else ""

    def _token(self, refresh: str = "") -> str:
        """The organization's access token, or (`refresh`) the prescriber's, kept until near expiry."""
        held = self._held(refresh)
        kept = self._tokens.get(held)
        if kept and kept[1] - TOKEN_MARGIN_S > time.time():
            return kept[0]
        if refresh:
            grant: dict[str, str] = {"grant_type": "refresh_token", "refresh_token": refresh}
        else:
            grant = {"grant_type": "client_credentials", "audience": AUDIENCE}
        answer = self._oauth("oauth/token", grant)
        token = str(answer["access_token"])
        self._tokens[held] = (token, time.time() + float(answer.get("expires_in", 3600)))
        return token

    # --- a prescriber's account --------------------------------------------------------------------

    def authorize_url(self, request: AuthorizeRequest) -> str:
        """Photon's sign-in page for the prescriber (authorization code with PKCE; `offline_access`
        for the refresh token the platform keeps, sealed)."""
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": request.redirect_uri,
            "scope": "openid profile email offline_access",
            "audience": AUDIENCE,
            "state": request.state,
            "code_challenge": request.code_challenge,
            "code_challenge_method": "S256",
        }
        if self.organization_id:
            query["organization"] = self.organization_id
        return f"{self.auth}/authorize?{urllib.parse.urlencode(query)}"

    def link(self, request: LinkRequest) -> str:
        """The prescriber's refresh token for the sign-in's code."""
        answer = self._oauth(
            "oauth/token",
            {
                "grant_type": "authorization_code",
                "code": request.code,
                "code_verifier": request.code_verifier,
                "redirect_uri": request.redirect_uri,
            },
        )
        refresh = answer.get("refresh_token") if isinstance(answer, Mapping) else None
        if not refresh:  # the client is not allowed `offline_access`: nothing to keep
            raise PrescribingRefusedError("no-refresh-token")
        return str(refresh)

    def unlink(self, refresh: str) -> None:
        self._oauth("oauth/revoke", {"token": refresh})
        self._tokens.pop(self._held(refresh), None)

    def _graphql(self, query: str, variables: Mapping[str, Any], prescriber: str = "") -> dict[str, Any]:
        """`prescriber`: their refresh token, for what only a prescriber may do."""
        answer = self._post(
            f"{self.api}/graphql", {"query": query, "variables": variables}, self._token(prescriber)
        )
        errors = answer.get("errors") if isinstance(answer, Mapping) else None
        if errors:
            # GraphQL's errors name the field at fault and Photon's code; the message may quote input.
            code = (errors[0].get("extensions") or {}).get("code") or "graphql-error"
            raise PrescribingRefusedError(str(code))
        data: dict[str, Any] = answer.get("data") or {}
        return data

    # --- what the port asks --------------------------------------------------------------------------

    @staticmethod
    def _pharmacy(p: Mapping[str, Any]) -> Pharmacy:
        address = p.get("address") or {}
        return Pharmacy(
            str(p["id"]),
            str(p["name"]),
            str(address.get("street1") or ""),
            str(address.get("city") or ""),
            str(address.get("state") or ""),
            str(address.get("postalCode") or ""),
            str(p.get("phone") or ""),
            str(p.get("ncpdpId") or ""),
        )

    def pharmacies(self, name: str, state: str) -> list[Pharmacy]:
        found = self._graphql(_PHARMACIES, {"name": name or None}).get("pharmacies") or []
        return [self._pharmacy(p) for p in found if (p.get("address") or {}).get("state") == state]

    def pharmacy(self, pharmacy_id: str) -> Pharmacy | None:
        found = self._graphql(_PHARMACY, {"id": pharmacy_id}).get("pharmacy")
        return self._pharmacy(found) if found else None

    def _treatment(self, rxcui: str) -> str:
        if rxcui not in self._treatments:
            found = self._graphql(_MEDICATION, {"code": rxcui}).get("medications") or []
            if not found:
                raise PrescribingRefusedError("medication-not-in-catalog")
            self._treatments[rxcui] = str(found[0]["id"])
        return self._treatments[rxcui]

    def patient(self, patient: WirePatient) -> str:
        """The patient's Photon id: theirs if known, else made now (with our id as its external id)."""
        if patient.vendor_patient_id:
            return patient.vendor_patient_id
        made = self._graphql(
            _CREATE_PATIENT,
            {
                "externalId": patient.patient_id,
                "name": {"first": patient.given_name, "last": patient.family_name},
                "dateOfBirth": patient.birth_date.isoformat(),
                "sex": patient.sex,
                "phone": patient.phone,
            },
        )
        return str(made["createPatient"]["id"])

    def screen(self, patient_id: str, directions: WireDirections) -> list[dict[str, str]]:
        """Photon's drug-drug and drug-allergy alerts on the draft, against what it knows of the patient."""
        draft = {
            "treatment": {"id": self._treatment(directions.rxcui)},
            "dispenseQuantity": directions.quantity,
            "dispenseUnit": directions.quantity_unit,
            "daysSupply": directions.days_supply,
            "refillsAllowed": directions.refills,
            "instructions": directions.sig,
        }
        found = self._graphql(_SCREEN, {"draftedPrescriptions": [draft], "patientId": patient_id})
        alerts = (found.get("prescriptionScreen") or {}).get("alerts") or []
        return [
            {
                "code": "vendor-" + hashlib.sha256(str(a.get("description", "")).encode()).hexdigest()[:12],
                "kind": str(a.get("type", "")),
                "severity": str(a.get("severity", "")),
                "message": str(a.get("description", ""))[:300],
            }
            for a in alerts
        ]

    def send(self, request: SendRequest, patient_id: str, refresh: str) -> tuple[str, str]:
        """The prescription written by its prescriber and ordered to the pharmacy: Photon's ids.
        Resuming, what an earlier attempt made (found by our external id) is not made again."""
        d = request.directions
        prescription_id = order_id = None
        if request.resume:
            found = self._graphql(_FIND_PRESCRIPTION, {"externalId": request.prescription_id})
            prescription_id = next((str(p["id"]) for p in found.get("prescriptions") or []), None)
            orders = self._graphql(_FIND_ORDER, {"externalId": request.prescription_id})
            order_id = next((str(o["id"]) for o in orders.get("orders") or []), None)
        if prescription_id is None:
            made = self._graphql(
                _CREATE_PRESCRIPTION,
                {
                    "externalId": request.prescription_id,
                    "patientId": patient_id,
                    "treatmentId": self._treatment(d.rxcui),
                    "dispenseAsWritten": not d.substitution_allowed,
                    "dispenseQuantity": d.quantity,
                    "dispenseUnit": d.quantity_unit,
                    "refillsAllowed": d.refills,
                    "daysSupply": d.days_supply,
                    "instructions": d.sig,
                    "notes": f"{d.dose} {d.route} {d.frequency}"[:200],
                    "effectiveDate": datetime.now(UTC).date().isoformat(),
                },
                prescriber=refresh,
            )
            prescription_id = str(made["createPrescription"]["id"])
        if order_id is None:
            ordered = self._graphql(
                _CREATE_ORDER,
                {
                    "externalId": request.prescription_id,
                    "patientId": patient_id,
                    "fills": [{"prescriptionId": prescription_id}],
                    "pharmacyId": request.pharmacy_id,
                },
            )
            order_id = str(ordered["createOrder"]["id"])
        return prescription_id, order_id

    def cancel(self, vendor_order_id: str) -> None:
        self._graphql(_CANCEL_ORDER, {"id": vendor_order_id})

    def notice(self, body: str, signature: str) -> Notice | None:
        """The webhook's news, once its signature is Photon's (HMAC-SHA256 of the body with the
        webhook secret, hex); None for an event that changes nothing here."""
        if not self.webhook_secret:
            raise NoticeRefusedError("no webhook secret")
        expected = hmac.new(self.webhook_secret.encode(), body.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.strip().lower()):
            raise NoticeRefusedError("signature")
        event = json.loads(body)
        kind = EVENT_KINDS.get(str(event.get("type")))
        data = event.get("data") or {}
        if kind is None or not data.get("externalId"):
            return None
        fills = data.get("fills") or [{}]
        return Notice(
            notice_id=str(event["id"]),
            kind=kind,
            prescription_id=str(data["externalId"]),
            at=datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00")),
            reason=str(data.get("reason") or "")[:200],
            fill_id=str(fills[0].get("id") or event["id"]),
            quantity=int(fills[0].get("quantity") or 0),
            request_id=str(data.get("renewalRequestId") or ""),
        )


class PrescriberSeal(Seal):
    """A prescriber's refresh token sealed under the tenant's prescriber-credentials key, with the
    provider's id as encryption context: opened only by the prescribing function (the one role the
    key lets decrypt), and only for that provider."""

    def __init__(self, key_arn: str | None = None, *, client: Any = None) -> None:
        super().__init__(
            key_arn or os.environ["PRESCRIBER_KEY_ARN"],
            PRESCRIBER_SEAL_PURPOSE,
            "telehealth:provider",
            lambda: PrescribingRefusedError("prescriber-credential"),
            client=client,
        )


# --- the api's side: the port over Lambda Invoke ---------------------------------------------------


class PrescribingFunction:
    """The api's way to the network: the tenant's prescribing function, which alone reaches Photon."""

    def __init__(self, function_name: str | None = None, *, client: Any = None) -> None:
        import boto3
        from botocore.config import Config

        self.function_name = function_name or os.environ["PRESCRIBING_FUNCTION"]
        # A send is two or three calls to Photon while the prescriber waits: one try, a bounded wait.
        self._lambda = client or boto3.client(
            "lambda",
            config=Config(
                connect_timeout=2, read_timeout=25, retries={"mode": "standard", "max_attempts": 1}
            ),
        )

    def _ask(self, request: _Wire) -> dict[str, Any]:
        response = self._lambda.invoke(
            FunctionName=self.function_name, Payload=json.dumps(request.model_dump(mode="json")).encode()
        )
        body = response["Payload"].read()
        if response.get("FunctionError"):
            raise PrescribingUnavailableError(f"{self.function_name} failed")
        reply = PrescribingReply.model_validate_json(body)
        if reply.ok:
            return reply.result
        if reply.error == "signature":
            raise NoticeRefusedError("signature")
        if reply.error == "refused":
            raise PrescribingRefusedError(reply.code or "refused")
        raise PrescribingUnavailableError("prescribing unavailable")

    def pharmacies(self, name: str, state: str) -> list[Pharmacy]:
        found = self._ask(PharmaciesRequest(name=name, state=state))
        return [pharmacy_of(p) for p in found.get("pharmacies", [])]

    def pharmacy(self, pharmacy_id: str) -> Pharmacy | None:
        found = self._ask(PharmaciesRequest(pharmacy_id=pharmacy_id))
        return next((pharmacy_of(p) for p in found.get("pharmacies", [])), None)

    def screen(self, patient: WirePatient, directions: Directions, pharmacy_id: str) -> Screened:
        """Photon's alerts on the draft, the patient's Photon id (made now if they had none), and
        the pharmacy the draft names, from its directory."""
        found = self._ask(
            ScreenRequest(patient=patient, directions=wire_directions(directions), pharmacy_id=pharmacy_id)
        )
        pharmacy = pharmacy_of(found["pharmacy"]) if found.get("pharmacy") else None
        return Screened(str(found["vendor_patient_id"]), list(found.get("alerts", [])), pharmacy)

    def send(
        self,
        prescription_id: str,
        prescriber: PrescriberAccount,
        patient: WirePatient,
        directions: Directions,
        pharmacy_id: str,
        *,
        resume: bool,
    ) -> tuple[str, str, str]:
        """Photon's patient, prescription and order ids."""
        found = self._ask(
            SendRequest(
                prescription_id=prescription_id,
                prescriber_id=prescriber.provider_id,
                credential=prescriber.credential,
                patient=patient,
                directions=wire_directions(directions),
                pharmacy_id=pharmacy_id,
                resume=resume,
            )
        )
        return str(found["vendor_patient_id"]), str(found["prescription"]), str(found["order"])

    def cancel(self, vendor_order_id: str) -> None:
        self._ask(CancelRequest(vendor_order_id=vendor_order_id))

    def authorize_url(self, state: str, code_challenge: str, redirect_uri: str) -> str:
        found = self._ask(
            AuthorizeRequest(state=state, code_challenge=code_challenge, redirect_uri=redirect_uri)
        )
        return str(found["url"])

    def link(self, provider_id: str, code: str, code_verifier: str, redirect_uri: str) -> str:
        """The prescriber's credential, sealed."""
        found = self._ask(
            LinkRequest(
                prescriber_id=provider_id, code=code, code_verifier=code_verifier, redirect_uri=redirect_uri
            )
        )
        return str(found["credential"])

    def unlink(self, account: PrescriberAccount) -> None:
        self._ask(UnlinkRequest(prescriber_id=account.provider_id, credential=account.credential))

    def notice(self, body: str, signature: str) -> Notice | None:
        found = self._ask(NoticeRequest(body=body, signature=signature))
        return notice_of(found["notice"]) if found.get("notice") else None
