"""Secrets sealed under a tenant's `SealingKey` (infra/topology.py): KMS encryption whose context
names the key's purpose and the one record the secret belongs to, so a sealed secret copied onto
another record does not open. Only the function the key's grant names can open what it seals; the
table keeps the sealed form alone.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any


class Seal:
    def __init__(
        self,
        key_arn: str,
        purpose: str,
        subject: str,
        refused: Callable[[], Exception],
        *,
        client: Any = None,
    ) -> None:
        """`subject`: the context's name for the record (`telehealth:provider`); `refused`: what a
        sealed form that does not open raises (tampered, or another record's)."""
        self.key_arn, self.purpose, self.subject, self.refused = key_arn, purpose, subject, refused
        if client is None:
            import boto3

            client = boto3.client("kms")
        self._kms = client
        # Opened once per execution environment: later uses ask KMS nothing.
        self._opened: dict[tuple[str, str], str] = {}

    def _context(self, owner: str) -> dict[str, str]:
        return {"telehealth:purpose": self.purpose, self.subject: owner}

    def seal(self, owner: str, secret: str) -> str:
        sealed = self._kms.encrypt(
            KeyId=self.key_arn, Plaintext=secret.encode(), EncryptionContext=self._context(owner)
        )["CiphertextBlob"]
        return base64.b64encode(sealed).decode()

    def open(self, owner: str, sealed: str) -> str:
        held = (owner, hashlib.sha256(sealed.encode()).hexdigest())
        if held not in self._opened:
            self._opened[held] = self._open(owner, sealed)
        return self._opened[held]

    def _open(self, owner: str, sealed: str) -> str:
        try:
            blob = base64.b64decode(sealed, validate=True)
        except ValueError:
            raise self.refused() from None
        try:
            plain = self._kms.decrypt(
                KeyId=self.key_arn, CiphertextBlob=blob, EncryptionContext=self._context(owner)
            )["Plaintext"]
        except self._kms.exceptions.InvalidCiphertextException:
            raise self.refused() from None
        return bytes(plain).decode()
