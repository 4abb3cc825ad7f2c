"""Free text read by Amazon Comprehend Medical (`InferSNOMEDCT`): the symptoms and conditions a
patient names in their own words, each with its SNOMED CT concept, negated mentions marked.

InferSNOMEDCT's quota is two requests a second in the account. The function that calls it runs one
at a time (its reserved concurrency is 1), and this reader keeps its own calls at least half a
second apart; a throttle that still comes (another caller in the account) is retried by botocore's
standard mode, with back-off. What the service finds is for the clinician to read, never a decider
(`application/triage.py`).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from telehealth.domain.triage import Finding

MIN_INTERVAL_S = 0.5  # two a second
CATEGORIES = frozenset({"MEDICAL_CONDITION"})


class ComprehendMedicalReader:
    def __init__(self, client: Any = None, min_interval_s: float = MIN_INTERVAL_S) -> None:
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client(
                "comprehendmedical", config=Config(retries={"mode": "standard", "max_attempts": 6})
            )
        self._client = client
        self._interval = min_interval_s
        self._last = 0.0
        self._lock = threading.Lock()

    def _pace(self) -> None:
        with self._lock:
            wait = self._last + self._interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last = time.monotonic()

    def findings(self, text: str) -> tuple[Finding, ...]:
        self._pace()
        answer = self._client.infer_snomedct(Text=text)
        found = []
        for entity in answer.get("Entities", ()):
            if entity.get("Category") not in CATEGORIES:
                continue
            concepts = entity.get("SNOMEDCTConcepts") or ()
            top = max(concepts, key=lambda c: c.get("Score", 0.0)) if concepts else None
            found.append(
                Finding(
                    text=str(entity["Text"]),
                    category=str(entity["Category"]),
                    negated=any(t.get("Name") == "NEGATION" for t in entity.get("Traits", ())),
                    code=str(top["Code"]) if top else None,
                    display=str(top["Description"]) if top else None,
                    score=round(float(entity.get("Score", 0.0)), 3),
                )
            )
        return tuple(found)
