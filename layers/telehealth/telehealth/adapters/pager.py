"""Paging a provider: an e-mail, to the address their workforce sign-in has, that says an urgent
alert waits for them in the dashboard, and nothing of whose or why (e-mail leaves the platform's
encryption). The address is read from the workforce user pool when needed, never kept."""

from __future__ import annotations

import os
from typing import Any, Protocol

from telehealth.ports import Notice, Notifier, ProviderRecord


class Providers(Protocol):
    def provider(self, provider_id: str) -> ProviderRecord | None: ...


class PagerUnreachableError(Exception):
    """The provider the clinic names has no workforce sign-in with an e-mail (ids only)."""


class WorkforceEmailPager:
    def __init__(
        self, providers: Providers, notifier: Notifier, *, pool_id: str | None = None, client: Any = None
    ) -> None:
        import boto3

        self.providers, self.notifier = providers, notifier
        self.pool_id = pool_id or os.environ["WORKFORCE_POOL_ID"]
        self._idp = client or boto3.client("cognito-idp")
        self.dashboard = os.environ.get("DASHBOARD_URL", "")

    def page(self, provider_id: str) -> None:
        record = self.providers.provider(provider_id)
        email = self._email(record.user_sub) if record else None
        if email is None:
            raise PagerUnreachableError(f"provider {provider_id} has no workforce e-mail to page")
        self.notifier.send(
            Notice(
                email=email,
                phone=None,
                subject="An urgent alert is waiting for you",
                text=(
                    "An urgent remote-monitoring alert has not been acknowledged and is now yours.\n"
                    f"Open the clinic's dashboard to see it: {self.dashboard}#monitoring"
                ),
            )
        )

    def _email(self, sub: str) -> str | None:
        # ListUsers filters on `sub` (AdminGetUser takes the user name, which is not kept here).
        found = self._idp.list_users(UserPoolId=self.pool_id, Filter=f'sub = "{sub}"', Limit=1)["Users"]
        attributes = {a["Name"]: a["Value"] for user in found for a in user.get("Attributes", [])}
        return attributes.get("email")
