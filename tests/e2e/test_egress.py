"""The egress path, locally: each execution environment may connect only to the endpoints its
function's topology entry allows (the emulated AWS, and the stand-ins of its third parties), and
the api reaches Stripe only by asking the payments function."""

from __future__ import annotations

import time

from infra import topology
from local.egress import endpoint_of
from local.platform import LocalPlatform
from tests.conftest import HEALTH_CACHE_S, http

RIVERSIDE, DESERT = "riverside", "desert-clinic"
# An address on the internet (example.com's): refused before any packet leaves, never "unreachable".
OUTSIDE = ("93.184.215.14", 443)


def test_only_the_payments_function_may_connect_to_stripe(platform: LocalPlatform) -> None:
    stripe, aws = endpoint_of(platform.urls["stripe"]), endpoint_of(platform.urls["aws"])
    riverside = platform.hosts[RIVERSIDE]
    # The api, like every function that holds PHI, is refused the payments stand-in...
    for function in ("api", "visit-tasks", "outbox-relay", "outbox-sweeper", "chime-events"):
        assert riverside.probe(function, *stripe) == "refused", function
    # ...and reaches the emulated AWS and AWS's stand-ins, as through the VPC's endpoints.
    for where in (aws, endpoint_of(platform.urls["healthlake"]), endpoint_of(platform.urls["chime"])):
        assert riverside.probe("api", *where) == "connected", where
    # The payments function reaches Stripe's stand-in, and AWS; nothing else.
    assert riverside.probe("payments", *stripe) == "connected"
    assert riverside.probe("payments", *aws) == "connected"
    assert riverside.probe("payments", *OUTSIDE) == "refused"
    assert riverside.probe("api", *OUTSIDE) == "refused"
    # Each refusal is logged, naming the function and the address.
    log = (platform.settings.state_dir / "logs" / f"functions-{RIVERSIDE}.log").read_text()
    assert f"egress refused: function api may not connect to {stripe[0]}:{stripe[1]}" in log


def test_a_tenant_without_payments_has_no_payments_function_and_no_route_to_stripe(
    platform: LocalPlatform, gateway: str
) -> None:
    desert = platform.hosts[DESERT]
    assert desert.probe("payments", *endpoint_of(platform.urls["stripe"])) == "unknown"
    for function in ("api", "visit-tasks", "outbox-relay", "outbox-sweeper", "chime-events"):
        assert desert.probe(function, *endpoint_of(platform.urls["stripe"])) == "refused", function
    assert topology.PAYMENTS.name(DESERT) not in platform.provisioned[DESERT].function_arns.values()
    assert "payments" not in http("GET", f"{gateway}/tenants/{DESERT}/health").json()["components"]


def test_health_asks_the_payments_function_which_alone_calls_stripe(
    platform: LocalPlatform, gateway: str
) -> None:
    payments = topology.PAYMENTS.name(RIVERSIDE)
    time.sleep(HEALTH_CACHE_S + 0.1)  # past every api environment's health cache
    before = sum(name == payments for name, _ in list(platform.dispatcher.invocations))
    reply = http("GET", f"{gateway}/health")
    assert reply.status == 200 and reply.json()["components"]["payments"] == "ok", reply.json()
    after = sum(name == payments for name, _ in list(platform.dispatcher.invocations))
    assert after == before + 1
