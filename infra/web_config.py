"""The web apps' runtime configuration (`config.json`) and their Content-Security-Policy.

Plain Python, read by the CDK stack (deployed beside the apps, and CloudFront's response headers
policy) and by the local gateway (rendered per request) alike, so the two environments serve one
policy that differs only in origins. The template is `web/csp.txt`; nothing here adds a directive.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent
CSP_TEMPLATE = ROOT / "web" / "csp.txt"

Pool = Literal["patients", "workforce"]
POOLS: tuple[Pool, ...] = ("patients", "workforce")
# What the apps ask the managed login for: the user's own claims, and the scope Cognito puts in
# every user's access token that the API's methods accept (infra/topology.py USER_SCOPE).
SCOPE = "openid email profile aws.cognito.signin.user.admin"
VideoImplementation = Literal["loopback", "chime"]
# The extra origins config.json may name, per directive of the template.
CSP_KEYS = ("connect", "media", "img", "script", "frame")

# Chime's media placement (signalling, TURN control, event ingestion) lives under chime.aws, at
# hosts each meeting names, so Chime's CSP guide allows them by wildcard. Its guide also lists
# https://*.amazonaws.com, for nothing the meeting session reaches: left out, since it would let a
# script post to any bucket or API in AWS. *.sdkassets.chime.aws and 'wasm-unsafe-eval' serve
# Voice Focus and the background filters only, which the call view does not load.
CHIME_CONNECT = ("https://*.chime.aws", "wss://*.chime.aws")
# What only Chime's SDK needs, added only when `video.implementation` is "chime" (not by
# environment): its transceiver controller runs audio redundancy (RED) in a worker it creates
# from a Blob URL. Filled into the template's `{worker}`.
CHIME_ONLY: dict[str, tuple[str, ...]] = {"worker": ("blob:",)}
# Stripe.js: its script, its API, and the iframes of its Elements and 3-D Secure.
STRIPE_CSP: dict[str, tuple[str, ...]] = {
    "script": ("https://js.stripe.com",),
    "connect": ("https://api.stripe.com",),
    "frame": ("https://js.stripe.com", "https://hooks.stripe.com"),
}
# Where Stripe.js is loaded from (never bundled: Stripe requires it from its own host).
STRIPE_JS = "https://js.stripe.com/v3/"
# The only wildcards a rendering may hold: the ones Chime documents.
ALLOWED_WILDCARDS = frozenset(CHIME_CONNECT)

# A CDK token as it reads in a string at synth time (an API id, the account): resolved by
# CloudFormation at deploy time, so it stands where a DNS label or a port would.
_TOKEN = r"\$\{Token\[[A-Za-z0-9._-]+\]\}"  # noqa: S105 (a pattern, not a password)
# A DNS label, where a token may stand for any part (a bucket's name with its account id in it).
_EDGE = rf"(?:[a-z0-9]|{_TOKEN})"
_LABEL = rf"{_EDGE}(?:(?:[a-z0-9-]|{_TOKEN})*{_EDGE})?"
_HOST_SOURCE = re.compile(
    rf"^(?P<scheme>https|wss|http|ws)://(?P<host>(?:\*\.)?{_LABEL}(?:\.{_LABEL})*)(?::(?:\d{{1,5}}|{_TOKEN}))?$"
)
_ORIGIN_OF = re.compile(r"^(?P<origin>[a-z][a-z0-9+.-]*://[^/?#]+)")
# Keywords the template itself holds; a rendering adds no other.
UNSAFE = ("'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "'strict-dynamic'")

# The headers CloudFront's response headers policy sets and the local gateway sends, every file.
HSTS_MAX_AGE_S = 2 * 365 * 24 * 3600  # two years: what browsers' preload lists ask, without preload
REFERRER_POLICY = "strict-origin-when-cross-origin"
# Build output under assets/ is named by its content hash: cached for a year, never revalidated.
# Everything else (the two index.html, config.json) is asked for again on every load.
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
ASSETS_PREFIX = "assets/"


def origin(url: str) -> str:
    """`scheme://host[:port]` of a URL (CDK tokens allowed in the host)."""
    found = _ORIGIN_OF.match(url)
    if not found:
        raise ValueError(f"not an absolute URL: {url!r}")
    return found["origin"]


def pool_auth(*, issuer: str, client_id: str, base: str, sign_up: bool) -> dict[str, Any]:
    """A pool's sign-in as the apps call it. `base` is where its endpoints live: the Cognito
    domain (`https://<prefix>.auth.<region>.amazoncognito.com`) in AWS, the gateway's
    `BASE/auth/<pool>` locally; the paths under it are Cognito's in both."""
    base = base.rstrip("/")
    return {
        "issuer": issuer,
        "clientId": client_id,
        "authorizationEndpoint": f"{base}/oauth2/authorize",
        "tokenEndpoint": f"{base}/oauth2/token",
        "endSessionEndpoint": f"{base}/logout",
        "signUpUrl": f"{base}/signup" if sign_up else None,
        "scope": SCOPE,
    }


def aws_csp_origins(*, payments: bool, uploads: str | None = None) -> dict[str, list[str]]:
    """The third parties' origins of a tenant in AWS: Chime's, Stripe's where it takes payments,
    and its uploads bucket's where patients send photos (their browser posts them straight there)."""
    extra: dict[str, list[str]] = {key: [] for key in CSP_KEYS}
    extra["connect"] += CHIME_CONNECT
    if uploads:
        extra["connect"].append(uploads)
    if payments:
        for key, origins in STRIPE_CSP.items():
            extra[key] += origins
    return extra


def local_csp_origins(
    *, signalling: str | None, stripe_js: str | None = None, uploads: str | None = None
) -> dict[str, list[str]]:
    """The local platform's: the signalling relay's WebSocket origin (where it runs), for a
    tenant with payments the local Stripe's (its stand-in of Stripe.js, and the API that script
    calls), and for one with triage the emulator's S3, where patients' photos are posted; nothing
    else (the API and the sign-in stand-in are the gateway's own origin)."""
    extra: dict[str, list[str]] = {key: [] for key in CSP_KEYS}
    if uploads:
        extra["connect"].append(origin(uploads))
    if signalling:
        extra["connect"].append(origin(signalling))
    if stripe_js:
        extra["script"].append(origin(stripe_js))
        extra["connect"].append(origin(stripe_js))
    return extra


def runtime_config(
    *,
    tenant: str,
    api_base: str,
    auth: Mapping[str, Mapping[str, Any]],
    video: VideoImplementation,
    csp: Mapping[str, Sequence[str]],
    stripe_js: str | None = None,
    monitoring: bool = False,
    triage: bool = False,
) -> dict[str, Any]:
    """config.json (the `RuntimeConfig` of web/src/shared/config.ts). Public by design: ids and
    URLs only, which the browser sees anyway; no secret (the portal clients have none)."""
    if set(auth) != set(POOLS):
        raise ValueError(f"auth must name exactly {list(POOLS)}")
    unknown = set(csp) - set(CSP_KEYS)
    if unknown:
        raise ValueError(f"csp names unknown directives {sorted(unknown)}; known: {list(CSP_KEYS)}")
    config = {
        "tenant": tenant,
        "apiBase": api_base.rstrip("/"),
        "auth": {pool: dict(auth[pool]) for pool in POOLS},
        "video": {"implementation": video},
        "csp": {key: list(csp.get(key, ())) for key in CSP_KEYS},
        # Stripe.js's URL where the tenant takes payments (the portal's card form loads it); null
        # where it does not.
        "payments": {"stripeJs": stripe_js} if stripe_js else None,
        # Remote monitoring's screens (the care team's panel, the patient's readings) where it is on.
        "monitoring": monitoring,
        # Virtual triage's screens (the patient's symptom check, the care team's views) where it is on.
        "triage": triage,
    }
    render_csp(config)  # refuses a config whose origins the policy could not hold
    return config


def _template() -> list[tuple[str, list[str]]]:
    directives = []
    for line in CSP_TEMPLATE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, *sources = line.split()
            directives.append((name, sources))
    return directives


def _host_source(value: str) -> str:
    found = _HOST_SOURCE.match(value)
    if not found or value.endswith("/"):
        raise ValueError(f"not a host source (scheme://host[:port], unquoted): {value!r}")
    if "*" in value and value not in ALLOWED_WILDCARDS:
        raise ValueError(f"wildcard {value!r} is not one Chime documents ({sorted(ALLOWED_WILDCARDS)})")
    return value


def csp_fill(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """What each `{name}` of the template stands for, from config.json."""
    auth_origins = [
        origin(config["auth"][pool][key])
        for pool in POOLS
        for key in ("authorizationEndpoint", "tokenEndpoint")
    ]
    fill = {key: [_host_source(o) for o in config["csp"].get(key, ())] for key in CSP_KEYS}
    fill["api"] = [_host_source(origin(config["apiBase"]))]
    fill["auth"] = [_host_source(o) for o in auth_origins]
    chime = config["video"]["implementation"] == "chime"
    fill["worker"] = list(CHIME_ONLY["worker"]) if chime else []
    return fill


def render_csp(config: Mapping[str, Any], *, report_uri: str | None = None) -> str:
    """The template filled from config.json: duplicates dropped, an empty directive 'none', and
    `report-uri` last where reports have somewhere to go."""
    fill = csp_fill(config)
    rendered = []
    for name, template_sources in _template():
        sources: list[str] = []
        for source in template_sources:
            for value in fill[source[1:-1]] if source.startswith("{") else [source]:
                if value not in sources:
                    sources.append(value)
        rendered.append(" ".join([name, *(sources or ["'none'"])]))
    if report_uri:
        rendered.append(f"report-uri {report_uri}")
    policy = "; ".join(rendered)
    assert not any(keyword in policy for keyword in UNSAFE), policy
    return policy


def security_headers(csp: str) -> dict[str, str]:
    """What CloudFront's response headers policy puts on every file, and the gateway too."""
    return {
        "Content-Security-Policy": csp,
        "Strict-Transport-Security": f"max-age={HSTS_MAX_AGE_S}; includeSubDomains",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": REFERRER_POLICY,
    }


def cache_control(key: str) -> str:
    """Cache-Control for a file of the build, by its key (path without the leading slash)."""
    return IMMUTABLE if key.startswith(ASSETS_PREFIX) else NO_CACHE
