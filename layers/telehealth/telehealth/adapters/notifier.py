"""Reminders by e-mail (Amazon SES) and text message (Amazon SNS SMS).

Both clients come from the standard chain, so `AWS_ENDPOINT_URL_SES` and `AWS_ENDPOINT_URL_SNS`
point them at the emulator without a branch here. Addresses and numbers are PHI: nothing here
logs them, and a refusal is reported by its error code alone (SES's and SNS's messages quote the
address or number they refused, and a task's error lands in the execution history).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from telehealth.ports import Notice, NotificationFailedError


def _sent(channel: str, send: Callable[[], Any]) -> None:
    try:
        send()
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code") or "ClientError")
        # `from None`: the original, message and all, must not ride along as the cause.
        raise NotificationFailedError(channel, code) from None
    except BotoCoreError as error:  # no answer at all (a timeout, no endpoint): its class says which
        raise NotificationFailedError(channel, type(error).__name__) from None


class SesSnsNotifier:
    def __init__(self, sender: str | None = None, *, ses_client: Any = None, sns_client: Any = None) -> None:
        import boto3

        self.sender = sender or os.environ["NOTIFY_FROM"]
        self._ses = ses_client or boto3.client("ses")
        self._sns = sns_client or boto3.client("sns")

    def send(self, notice: Notice) -> list[str]:
        used: list[str] = []
        if notice.email:
            email = notice.email
            _sent(
                "email",
                lambda: self._ses.send_email(
                    Source=self.sender,
                    Destination={"ToAddresses": [email]},
                    Message={
                        "Subject": {"Data": notice.subject, "Charset": "UTF-8"},
                        "Body": {"Text": {"Data": notice.text, "Charset": "UTF-8"}},
                    },
                ),
            )
            used.append("email")
        if notice.phone:
            phone = notice.phone
            _sent(
                "sms",
                lambda: self._sns.publish(
                    PhoneNumber=phone,
                    Message=notice.text,
                    MessageAttributes={
                        "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}
                    },
                ),
            )
            used.append("sms")
        return used
