"""Reminders that SES or SNS refuse: the error that reaches the lifecycle names the channel and
the service's code, never the address or number (SES and SNS quote them in their messages, and a
task's error is kept in the execution history and the function's error report)."""

from __future__ import annotations

import traceback

import boto3
import pytest
from botocore.stub import Stubber

from telehealth.adapters.notifier import SesSnsNotifier
from telehealth.ports import Notice, NotificationFailedError

ADDRESS = "jordan.testpatient@riverside.example"
NUMBER = "+15555550123"


def _notifier() -> tuple[SesSnsNotifier, Stubber, Stubber]:
    keys = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
    ses, sns = boto3.client("ses", **keys), boto3.client("sns", **keys)
    notifier = SesSnsNotifier("clinic@riverside.example", ses_client=ses, sns_client=sns)
    return notifier, Stubber(ses), Stubber(sns)


def _as_reported(error: BaseException) -> str:
    """Everything Lambda and a log would show of it: type, message, the stack with its causes."""
    return "".join(traceback.format_exception(error))


def test_an_address_ses_refuses_is_not_in_the_error() -> None:
    notifier, ses, _ = _notifier()
    ses.add_client_error(
        "send_email",
        "MessageRejected",
        "Email address is not verified. The following identities failed the check in region "
        f"US-EAST-1: {ADDRESS}",
    )
    with ses, pytest.raises(NotificationFailedError) as raised:
        notifier.send(Notice(ADDRESS, None, "Your video visit", "Reminder"))
    assert str(raised.value) == "email not sent: MessageRejected"
    assert ADDRESS not in _as_reported(raised.value)


def test_a_number_sns_refuses_is_not_in_the_error() -> None:
    notifier, ses, sns = _notifier()
    ses.add_response("send_email", {"MessageId": "m-1"})
    sns.add_client_error(
        "publish", "InvalidParameter", f"Invalid parameter: PhoneNumber Reason: {NUMBER} is not valid"
    )
    with ses, sns, pytest.raises(NotificationFailedError) as raised:
        notifier.send(Notice(ADDRESS, NUMBER, "Your video visit", "Reminder"))
    assert (raised.value.channel, raised.value.code) == ("sms", "InvalidParameter")
    assert NUMBER not in _as_reported(raised.value)
    assert "5555550123" not in _as_reported(raised.value)
