"""The free-text reader against the Comprehend Medical stand-in, through boto3 as in AWS: symptoms
with their SNOMED CT concepts, a negated mention marked; the quota of two requests a second
answered with ThrottlingException, which botocore's standard retries ride out; what the service
refuses (unsigned, too long, empty), refused here too, in both of its protocols. Synthetic words."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local.standins.comprehend_medical import ComprehendMedicalStandIn
from telehealth.adapters.comprehend_medical import ComprehendMedicalReader


@pytest.fixture
def service() -> Iterator[ComprehendMedicalStandIn]:
    stand_in = ComprehendMedicalStandIn()
    stand_in.start()
    try:
        yield stand_in
    finally:
        stand_in.stop()


def client(url: str, attempts: int = 6) -> object:
    return boto3.client(
        "comprehendmedical",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 (the stand-in's, as moto's)
        config=Config(retries={"mode": "standard", "total_max_attempts": attempts}),
    )


def test_the_reader_finds_symptoms_with_their_concepts_and_marks_a_denied_one(
    service: ComprehendMedicalStandIn,
) -> None:
    reader = ComprehendMedicalReader(client(service.url))
    found = reader.findings("Burning when peeing since Monday, a fever last night, but no vomiting.")
    assert [(f.text, f.code, f.display, f.negated) for f in found] == [
        ("Burning when peeing", "49650001", "Dysuria", False),
        ("fever", "386661006", "Fever", False),
        ("vomiting", "422400008", "Vomiting", True),
    ]
    assert reader.findings("Nothing much to add.") == ()


def test_past_two_requests_a_second_the_service_throttles_and_botocore_retries(
    service: ComprehendMedicalStandIn,
) -> None:
    unpaced = ComprehendMedicalReader(client(service.url), min_interval_s=0)
    started = time.monotonic()
    for _ in range(6):
        assert unpaced.findings("a headache")[0].display == "Headache"
    assert service.throttled > 0 and service.calls == 6
    assert time.monotonic() - started >= 1.5  # two a second, after the first two
    # Paced as the function is, it is not throttled at all.
    service.throttled, paced = 0, ComprehendMedicalReader(client(service.url))
    time.sleep(1.0)  # the bucket refills
    for _ in range(4):
        paced.findings("a cough")
    assert service.throttled == 0
    # With no retries left, the throttle reaches the caller as the service's error.
    impatient = ComprehendMedicalReader(client(service.url, attempts=1), min_interval_s=0)
    with pytest.raises(ClientError) as throttled:
        for _ in range(5):
            impatient.findings("a rash")
    assert throttled.value.response["Error"]["Code"] == "ThrottlingException"


def test_what_the_service_refuses_is_refused_in_both_protocols(service: ComprehendMedicalStandIn) -> None:
    boto = client(service.url, attempts=1)
    with pytest.raises(ClientError) as refused:
        boto.infer_snomedct(Text="x" * 10_001)  # type: ignore[attr-defined]
    assert refused.value.response["Error"]["Code"] == "TextSizeLimitExceededException"

    def json_call(headers: dict[str, str], text: str = "a sore throat") -> tuple[int, dict[str, object]]:
        request = urllib.request.Request(  # noqa: S310 (the stand-in, on loopback)
            f"{service.url}/",
            data=json.dumps({"Text": text}).encode(),
            headers={
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": "ComprehendMedical_20181030.InferSNOMEDCT",
                **headers,
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as reply:  # noqa: S310
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    time.sleep(1.0)
    status, unsigned = json_call({})
    assert status == 403 and str(unsigned["__type"]).endswith("UnrecognizedClientException")
    signature = "AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/comprehendmedical/aws4_request, x"
    status, empty = json_call({"Authorization": signature}, text="")  # botocore itself refuses this
    assert status == 400 and str(empty["__type"]).endswith("ValidationException")
    status, answer = json_call({"Authorization": signature})
    assert status == 200 and answer["Entities"][0]["SNOMEDCTConcepts"][0]["Code"] == "162397003"  # type: ignore[index]
