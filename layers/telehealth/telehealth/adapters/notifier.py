"""Reminders by e-mail (Amazon SES) and text message (Amazon SNS SMS).

Both clients come from the standard chain, so `AWS_ENDPOINT_URL_SES` and `AWS_ENDPOINT_URL_SNS`
point them at the emulator without a branch here. Addresses and numbers are PHI: nothing here
logs them.
"""

from __future__ import annotations

import os
from typing import Any

from telehealth.ports import Notice


class SesSnsNotifier:
    def __init__(self, sender: str | None = None, *, ses_client: Any = None, sns_client: Any = None) -> None:
        import boto3

        self.sender = sender or os.environ["NOTIFY_FROM"]
        self._ses = ses_client or boto3.client("ses")
        self._sns = sns_client or boto3.client("sns")

    def send(self, notice: Notice) -> list[str]:
        used: list[str] = []
        if notice.email:
            self._ses.send_email(
                Source=self.sender,
                Destination={"ToAddresses": [notice.email]},
                Message={
                    "Subject": {"Data": notice.subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": notice.text, "Charset": "UTF-8"}},
                },
            )
            used.append("email")
        if notice.phone:
            self._sns.publish(
                PhoneNumber=notice.phone,
                Message=notice.text,
                MessageAttributes={
                    "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}
                },
            )
            used.append("sms")
        return used
