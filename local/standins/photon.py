"""A stand-in for Photon Health's e-prescribing network: its OAuth token endpoint, the GraphQL
operations the platform uses (pharmacies, medications, patients, prescription screening,
prescriptions, orders, cancelling), and its webhooks, signed as Photon signs them
(`X-Photon-Signature`: the hex HMAC-SHA256 of the body with the endpoint's secret).

What the network sends back is emitted as Photon's events, at least once and not in order:
- an order placed at a reachable pharmacy: `photon:order:placed` (transmitted);
- at the directory's pharmacy that takes no e-prescriptions: `photon:order:error`, with a reason;
- `POST /_control/orders/<order id>/fill` (the pharmacy dispensed it): `photon:order:completed`;
- a cancelled order: `photon:order:canceled`; an order already filled cannot be cancelled;
- `POST /_control/orders/<order id>/renewal` (the pharmacy asks to renew it):
  `photon:prescription:renewal_requested` (the platform's expected shape, see the adapter).

A prescriber links their account by signing in at its `/authorize` page (a form: their email, and
"Sign in and allow"), which sends the browser back to a registered callback with a code; the
token endpoint exchanges the code for a refresh token (authorization code with PKCE, S256) and
`/oauth/revoke` revokes one. As Auth0 (Photon's sign-in) does, it refuses a callback not
registered, a code used twice, older than ten minutes, or given with another verifier or callback.

It refuses what Photon refuses: a request without a token it issued; `createPrescription` with the
organization's token (only a prescriber writes a prescription: their token comes from their
refresh token); a patient without name, date of birth, sex or an E.164 phone; a prescription of a
medication not in its catalog, with more than 11 refills, or a quantity or supply below one; an
order at a pharmacy not in its directory.

Its screening (`prescriptionScreen`) alerts as a network would, deterministically: a drug that
interacts with one already prescribed to the patient here (a short list of well-known pairs), and
a dose above four units a day.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import queue
import re
import secrets
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from local.loopback import JsonRequestHandler, LoopbackServer
from telehealth.terminology import drugs

# Ingredient pairs (RxNorm ingredient codes) a network's interaction screening flags: lisinopril with
# ibuprofen or naproxen (a weaker blood-pressure effect, a risk to the kidneys), sertraline or
# fluoxetine with tramadol (serotonin syndrome).
INTERACTIONS: dict[frozenset[str], str] = {
    frozenset(
        {"29046", "5640"}
    ): "Ibuprofen with lisinopril: less effect on blood pressure, risk to the kidneys.",
    frozenset(
        {"29046", "7258"}
    ): "Naproxen with lisinopril: less effect on blood pressure, risk to the kidneys.",
    frozenset({"36437", "10689"}): "Sertraline with tramadol: risk of serotonin syndrome.",
    frozenset({"4493", "10689"}): "Fluoxetine with tramadol: risk of serotonin syndrome.",
}
MAX_UNITS_A_DAY = 4
CODE_LIFETIME_S = 600  # a sign-in's code, exchanged within ten minutes or never
CLOSED_DOOR = "phr_closeddoor0001"  # the directory's pharmacy that takes no e-prescriptions

PHARMACIES: tuple[dict[str, Any], ...] = tuple(
    {
        "id": pid,
        "name": name,
        "phone": phone,
        "ncpdpId": ncpdp,
        "address": {"street1": street, "city": city, "state": state, "postalCode": postal},
    }
    for pid, name, phone, ncpdp, street, city, state, postal in (
        (
            "phr_riverside00001",
            "Riverside Community Pharmacy",
            "+15555550101",
            "3912345",
            "12 Main Street",
            "Albany",
            "NY",
            "12207",
        ),
        (
            "phr_hudsonrx000002",
            "Hudson Valley Drugs",
            "+15555550102",
            "3923456",
            "480 River Road",
            "Kingston",
            "NY",
            "12401",
        ),
        (
            "phr_lakeside000003",
            "Lakeside Pharmacy",
            "+15555550103",
            "3934567",
            "7 Lake Avenue",
            "Newark",
            "NJ",
            "07102",
        ),
        (
            "phr_capitolrx00004",
            "Capitol Apothecary",
            "+15555550104",
            "3945678",
            "1 State Street",
            "Hartford",
            "CT",
            "06103",
        ),
        (
            "phr_desertsun00005",
            "Desert Sun Pharmacy",
            "+15555550105",
            "0345678",
            "220 Camelback Road",
            "Phoenix",
            "AZ",
            "85012",
        ),
        (
            "phr_mesarx00000006",
            "Mesa Family Drugstore",
            "+15555550106",
            "0356789",
            "95 Main Street",
            "Mesa",
            "AZ",
            "85201",
        ),
        (
            "phr_sierra00000007",
            "Sierra Pharmacy",
            "+15555550107",
            "2967890",
            "3 Virginia Street",
            "Reno",
            "NV",
            "89501",
        ),
        (
            "phr_riogrande00009",
            "Rio Grande Pharmacy",
            "+15555550109",
            "3289012",
            "410 Central Avenue",
            "Albuquerque",
            "NM",
            "87102",
        ),
        (
            CLOSED_DOOR,
            "Closed Door Long-Term Care Pharmacy",
            "+15555550108",
            "3978901",
            "90 Hospital Drive",
            "Troy",
            "NY",
            "12180",
        ),
    )
)


@dataclass
class Endpoint:
    url: str
    secret: str


@dataclass(frozen=True)
class SignIn:
    """A code the sign-in page gave: for whom, to which callback, with which PKCE challenge."""

    prescriber: str
    redirect_uri: str
    challenge: str
    issued: float


@dataclass
class State:
    tokens: dict[str, str] = field(default_factory=dict)  # access token -> "" (organization) or prescriber
    codes: dict[str, SignIn] = field(default_factory=dict)
    patients: dict[str, dict[str, Any]] = field(default_factory=dict)
    prescriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)


class GraphQLError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class PhotonStandIn:
    def __init__(
        self,
        client_id: str,
        client_secret: str,
        prescribers: dict[str, str],
        port: int = 0,
    ) -> None:
        """`prescribers`: each linked prescriber's refresh token -> their user id."""
        self.client_id, self.client_secret = client_id, client_secret
        self.prescribers = dict(prescribers)
        self.callbacks: list[str] = []  # where the sign-in may send a browser back (allowed callbacks)
        self.state = State()
        self.endpoints: list[Endpoint] = []
        self.delivered: list[dict[str, Any]] = []  # every event delivered, for the tests to read
        self.calls: list[str] = []  # each request's operation (`token`, a GraphQL field), for the bench
        self._lock = threading.Lock()
        self._outgoing: queue.Queue[tuple[dict[str, Any], Endpoint, int]] = queue.Queue()
        self._stopped = threading.Event()
        owner = self

        class Handler(_Handler):
            network = owner

        self._server = LoopbackServer(("127.0.0.1", port), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, name="photon", daemon=True).start()
        threading.Thread(target=self._deliver_forever, name="photon-webhooks", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()
        self._server.shutdown()
        self._server.server_close()

    def add_endpoint(self, url: str, secret: str) -> None:
        with self._lock:
            self.endpoints.append(Endpoint(url, secret))

    # --- webhooks ------------------------------------------------------------------------------

    def emit(self, kind: str, subject: str, data: dict[str, Any]) -> None:
        event = {
            "id": secrets.token_hex(13).upper(),
            "type": kind,
            "specversion": "1.0",
            "datacontenttype": "application/json",
            "time": _now(),
            "subject": subject,
            "source": "org:org_standin",
            "data": data,
        }
        for endpoint in list(self.endpoints):
            self._outgoing.put((event, endpoint, 0))

    def _deliver_forever(self) -> None:
        while not self._stopped.is_set():
            try:
                event, endpoint, attempt = self._outgoing.get(timeout=0.2)
            except queue.Empty:
                continue
            body = json.dumps(event).encode()
            signature = hmac.new(endpoint.secret.encode(), body, hashlib.sha256).hexdigest()
            request = urllib.request.Request(endpoint.url, data=body, method="POST")  # noqa: S310 (loopback)
            request.add_header("Content-Type", "application/json")
            request.add_header("X-Photon-Signature", signature)
            request.add_header("X-Photon-Timestamp", str(int(time.time())))
            try:
                with urllib.request.urlopen(request, timeout=15):  # noqa: S310
                    self.delivered.append(event)
            except OSError:
                if attempt < 5 and not self._stopped.is_set():  # at least once: again, later
                    threading.Timer(
                        0.5 * 2**attempt, self._outgoing.put, ((event, endpoint, attempt + 1),)
                    ).start()

    # --- the API ---------------------------------------------------------------------------------

    def token(self, form: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.calls.append("token")
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return 401, {"error": "access_denied"}
        grant = form.get("grant_type")
        refresh = None
        with self._lock:
            if grant == "client_credentials":
                who = ""
            elif grant == "refresh_token" and form.get("refresh_token") in self.prescribers:
                who = self.prescribers[str(form["refresh_token"])]
            elif grant == "authorization_code":
                sign_in = self.state.codes.pop(str(form.get("code")), None)  # once, whatever follows
                verifier = str(form.get("code_verifier") or "")
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                if (
                    sign_in is None
                    or time.time() - sign_in.issued > CODE_LIFETIME_S
                    or form.get("redirect_uri") != sign_in.redirect_uri
                    or challenge.rstrip(b"=").decode() != sign_in.challenge
                ):
                    return 403, {"error": "invalid_grant", "error_description": "Invalid authorization code"}
                who = sign_in.prescriber
                refresh = f"rt-{secrets.token_urlsafe(24)}"
                self.prescribers[refresh] = who
            else:
                return 403, {"error": "invalid_grant"}
            token = secrets.token_urlsafe(24)
            self.state.tokens[token] = who
        answer = {"access_token": token, "token_type": "Bearer", "expires_in": 86400}
        return 200, {**answer, **({"refresh_token": refresh} if refresh else {})}

    def revoke(self, form: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Auth0's `/oauth/revoke`: 200 for any token of the client's, known or not."""
        self.calls.append("revoke")
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return 401, {"error": "access_denied"}
        with self._lock:
            self.prescribers.pop(str(form.get("token")), None)
        return 200, {}

    def _authorize_error(self, query: dict[str, str]) -> str | None:
        if query.get("client_id") != self.client_id:
            return "Unknown client."
        if query.get("redirect_uri") not in self.callbacks:
            return "Callback URL mismatch: the URL is not in the application's allowed callbacks."
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256":
            return "Only the authorization code flow with PKCE (S256) is allowed."
        if not re.fullmatch(r"[A-Za-z0-9_-]{43}", query.get("code_challenge", "")) or not query.get("state"):
            return "A code challenge and a state are required."
        if "offline_access" not in query.get("scope", "").split():
            return "offline_access is required for a refresh token."
        return None

    def sign_in_page(self, query: dict[str, str]) -> tuple[int, str]:
        """Photon's sign-in page, as plain as it can be: who signs in, and the consent."""
        error = self._authorize_error(query)
        if error:
            page = "<!doctype html><title>Photon sign-in</title><h1>Sign-in refused</h1>"
            return 400, f"{page}<p>{html.escape(error)}</p>"
        kept = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in query.items()
        )
        return 200, (
            '<!doctype html><html lang="en"><meta charset="utf-8"><title>Sign in to Photon</title>'
            "<main><h1>Sign in to Photon</h1>"
            '<form method="post" action="/authorize">'
            f"{kept}"
            '<label for="email">Email</label> <input id="email" name="email" type="email" required>'
            "<p>The clinic asks to write prescriptions as you.</p>"
            '<button type="submit">Sign in and allow</button></form></main></html>'
        )

    def signed_in(self, form: dict[str, str]) -> tuple[int, str]:
        """The form sent: a code for the callback (with the state as it came)."""
        error = self._authorize_error(form)
        if error or not form.get("email"):
            return 400, ""
        code = secrets.token_urlsafe(24)
        with self._lock:
            self.state.codes[code] = SignIn(
                f"usr_{hashlib.sha256(form['email'].encode()).hexdigest()[:16]}",
                form["redirect_uri"],
                form["code_challenge"],
                time.time(),
            )
        query = urllib.parse.urlencode({"code": code, "state": form["state"]})
        return 302, f"{form['redirect_uri']}?{query}"

    def graphql(self, who: str, query: str, variables: dict[str, Any]) -> Any:
        found = re.search(r"\{\s*(\w+)\s*\(", query)
        if not found:
            raise GraphQLError("GRAPHQL_PARSE_FAILED", "no operation")
        operation = found.group(1)
        self.calls.append(operation)
        snake = re.sub(r"(?<!^)([A-Z])", r"_\1", operation).lower()  # createPatient: create_patient
        handler = getattr(self, f"_op_{snake}", None)
        if handler is None:
            raise GraphQLError("GRAPHQL_VALIDATION_FAILED", f"Cannot query field {operation}")
        with self._lock:
            return {operation: handler(who, variables)}

    def _op_pharmacies(self, who: str, v: dict[str, Any]) -> list[dict[str, Any]]:
        name = str(v.get("name") or "").casefold()
        return [p for p in PHARMACIES if name in p["name"].casefold()]

    def _op_pharmacy(self, who: str, v: dict[str, Any]) -> dict[str, Any] | None:
        return next((p for p in PHARMACIES if p["id"] == v.get("id")), None)

    def _op_medications(self, who: str, v: dict[str, Any]) -> list[dict[str, Any]]:
        drug = drugs.drug(str(v.get("code")))
        return (
            [{"id": f"med_{drug.rxcui}", "name": drug.name, "codes": {"rxcui": drug.rxcui}}] if drug else []
        )

    def _op_create_patient(self, who: str, v: dict[str, Any]) -> dict[str, Any]:
        name = v.get("name") or {}
        if not (name.get("first") and name.get("last") and v.get("dateOfBirth")):
            raise GraphQLError("BAD_USER_INPUT", "name and dateOfBirth are required")
        if v.get("sex") not in ("MALE", "FEMALE", "UNKNOWN"):
            raise GraphQLError("BAD_USER_INPUT", "sex must be a SexType")
        if not re.fullmatch(r"\+[1-9][0-9]{7,14}", str(v.get("phone") or "")):
            raise GraphQLError("BAD_USER_INPUT", "phone must be an AWSPhone")
        patient_id = f"pat_{secrets.token_hex(8)}"
        self.state.patients[patient_id] = {
            "id": patient_id,
            "externalId": v.get("externalId"),
            "prescribed": [],
        }
        return {"id": patient_id}

    def _medication(self, treatment_id: str) -> drugs.Drug:
        drug = drugs.drug(treatment_id.removeprefix("med_"))
        if drug is None:
            raise GraphQLError("BAD_USER_INPUT", "no such treatment")
        return drug

    def _op_prescription_screen(self, who: str, v: dict[str, Any]) -> dict[str, Any]:
        patient = self.state.patients.get(str(v.get("patientId")))
        if patient is None:
            raise GraphQLError("NOT_FOUND", "no such patient")
        alerts: list[dict[str, Any]] = []
        for draft in v.get("draftedPrescriptions") or []:
            drug = self._medication(str((draft.get("treatment") or {}).get("id")))
            mine = {i.rxcui for i in drug.ingredients}
            for other_id in patient["prescribed"]:
                other = drugs.drug(other_id)
                if other is None:
                    continue
                for pair, words in INTERACTIONS.items():
                    if pair <= mine | {i.rxcui for i in other.ingredients} and not pair <= mine:
                        alerts.append({"type": "DRUG_DRUG", "severity": "MAJOR", "description": words})
            quantity, days = float(draft.get("dispenseQuantity") or 0), int(draft.get("daysSupply") or 0)
            if days and quantity / days > MAX_UNITS_A_DAY:
                alerts.append(
                    {
                        "type": "DOSE",
                        "severity": "MODERATE",
                        "description": f"{drug.name}: more than {MAX_UNITS_A_DAY} {drug.dose_unit}s a day.",
                    }
                )
        return {"alerts": alerts}

    def _op_create_prescription(self, who: str, v: dict[str, Any]) -> dict[str, Any]:
        if not who:
            raise GraphQLError("FORBIDDEN", "only a prescriber can write a prescription")
        patient = self.state.patients.get(str(v.get("patientId")))
        if patient is None:
            raise GraphQLError("NOT_FOUND", "no such patient")
        drug = self._medication(str(v.get("treatmentId")))
        if not 0 <= int(v.get("refillsAllowed", -1)) <= 11:
            raise GraphQLError("BAD_USER_INPUT", "refillsAllowed must be 0 to 11")
        if float(v.get("dispenseQuantity") or 0) < 1 or int(v.get("daysSupply") or 1) < 1:
            raise GraphQLError("BAD_USER_INPUT", "dispenseQuantity and daysSupply must be positive")
        if not str(v.get("instructions") or "").strip():
            raise GraphQLError("BAD_USER_INPUT", "instructions are required")
        prescription_id = f"rx_{secrets.token_hex(8)}"
        self.state.prescriptions[prescription_id] = {**v, "id": prescription_id, "prescriberId": who}
        patient["prescribed"].append(drug.rxcui)
        return {"id": prescription_id}

    def _op_prescriptions(self, who: str, v: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"id": p["id"]}
            for p in self.state.prescriptions.values()
            if p.get("externalId") == v.get("externalId")
        ]

    def _op_orders(self, who: str, v: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"id": o["id"]} for o in self.state.orders.values() if o.get("externalId") == v.get("externalId")
        ]

    def _op_create_order(self, who: str, v: dict[str, Any]) -> dict[str, Any]:
        pharmacy = self._op_pharmacy(who, {"id": v.get("pharmacyId")})
        if pharmacy is None:
            raise GraphQLError("BAD_USER_INPUT", "no such pharmacy")
        fills = v.get("fills") or []
        if not fills or any(f.get("prescriptionId") not in self.state.prescriptions for f in fills):
            raise GraphQLError("BAD_USER_INPUT", "fills must name prescriptions")
        order_id = f"ord_{secrets.token_hex(8)}"
        order = {
            **v,
            "id": order_id,
            "state": "PLACED",
            "fills": [{"id": f"fil_{secrets.token_hex(8)}", **f} for f in fills],
        }
        self.state.orders[order_id] = order
        data = self._order_data(order)
        self.emit("photon:order:created", order_id, {**data, "pharmacyId": pharmacy["id"]})
        if pharmacy["id"] == CLOSED_DOOR:
            order["state"] = "ERROR"
            self.emit(
                "photon:order:error",
                order_id,
                {**data, "reason": "The pharmacy does not accept electronic prescriptions."},
            )
        else:
            self.emit("photon:order:placed", order_id, data)
        return {"id": order_id}

    def _order_data(self, order: dict[str, Any]) -> dict[str, Any]:
        patient = self.state.patients.get(str(order.get("patientId")), {})
        return {
            "id": order["id"],
            "externalId": order.get("externalId"),
            "patient": {"id": patient.get("id"), "externalId": patient.get("externalId")},
        }

    def _op_cancel_order(self, who: str, v: dict[str, Any]) -> dict[str, Any]:
        order = self.state.orders.get(str(v.get("id")))
        if order is None:
            raise GraphQLError("NOT_FOUND", "no such order")
        if order["state"] == "COMPLETED":
            raise GraphQLError("ORDER_ALREADY_FILLED", "the pharmacy has filled this order")
        order["state"] = "CANCELED"
        self.emit("photon:order:canceled", order["id"], self._order_data(order))
        return {"id": order["id"], "state": "CANCELED"}

    # --- the pharmacy's side (what the tests and the demo make happen) ------------------------------

    def control(self, order_id: str, action: str) -> int:
        with self._lock:
            order = self.state.orders.get(order_id)
            if order is None:
                return 404
            if action == "fill":
                if order["state"] == "CANCELED":
                    return 409
                order["state"] = "COMPLETED"
                prescription = self.state.prescriptions[order["fills"][0]["prescriptionId"]]
                fill = {
                    "id": f"fil_{secrets.token_hex(8)}",
                    "quantity": prescription.get("dispenseQuantity"),
                    "prescription": {"id": prescription["id"], "externalId": prescription.get("externalId")},
                }
                self.emit("photon:order:completed", order_id, {**self._order_data(order), "fills": [fill]})
                return 200
            if action == "renewal":
                data = {**self._order_data(order), "renewalRequestId": f"rnw_{secrets.token_hex(8)}"}
                self.emit("photon:prescription:renewal_requested", order["fills"][0]["prescriptionId"], data)
                return 200
        return 404

    def order_of(self, external_id: str) -> dict[str, Any] | None:
        with self._lock:
            return next((o for o in self.state.orders.values() if o.get("externalId") == external_id), None)


class _Handler(JsonRequestHandler):
    network: PhotonStandIn

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path, _, query = self.path.partition("?")
        if path != "/authorize":
            self._send(404, {"message": "Not Found"})
            return
        self._page(*self.network.sign_in_page(dict(urllib.parse.parse_qsl(query))))

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path == "/authorize":  # the sign-in page's form
            status, answer = self.network.signed_in(dict(urllib.parse.parse_qsl(raw.decode())))
            self._page(status, "", answer) if status == 302 else self._page(status, "Sign-in refused.")
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send(400, {"error": "invalid_request"})
            return
        if self.path == "/oauth/token":
            self._send(*self.network.token(body))
            return
        if self.path == "/oauth/revoke":
            self._send(*self.network.revoke(body))
            return
        control = re.fullmatch(r"/_control/orders/([\w]+)/(fill|renewal)", self.path)
        if control:
            status = self.network.control(control.group(1), control.group(2))
            self._send(status, {})
            return
        if self.path != "/graphql":
            self._send(404, {"message": "Not Found"})
            return
        token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        who = self.network.state.tokens.get(token)
        if who is None:
            self._send(
                401, {"errors": [{"message": "Unauthorized", "extensions": {"code": "UNAUTHENTICATED"}}]}
            )
            return
        try:
            data = self.network.graphql(who, str(body.get("query") or ""), dict(body.get("variables") or {}))
        except GraphQLError as error:
            self._send(
                200, {"data": None, "errors": [{"message": str(error), "extensions": {"code": error.code}}]}
            )
            return
        self._send(200, {"data": data})
