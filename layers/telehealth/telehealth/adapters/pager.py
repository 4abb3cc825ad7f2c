"""Paging a provider: an e-mail to the work address their profile names (`page_email`, set by an
admin), saying that something urgent waits for them in the dashboard (an alert nobody acknowledged,
a patient shown an emergency instruction by the symptom check), and nothing of whose or why
(e-mail leaves the platform's encryption).

The address is the profile's, not the workforce sign-in's: the functions run in subnets without a
route to Cognito (a user pool with a sign-in domain takes no VPC endpoint), and a clinic's on-call
address is often not the one its people sign in with.
"""

from __future__ import annotations

import os
from typing import Protocol

from telehealth.ports import Notice, Notifier, ProviderRecord


class Providers(Protocol):
    def provider(self, provider_id: str) -> ProviderRecord | None: ...


class PagerUnreachableError(LookupError):
    """The provider the clinic names has no address for pages, or is no longer the clinic's (ids only)."""


# What a page says, by what it is about: where to look, never whose or why.
PAGES = {
    "alert": (
        "An urgent alert is waiting for you",
        "An urgent remote-monitoring alert has not been acknowledged and is now yours.",
        "monitoring",
    ),
    "triage-emergency": (
        "A patient was sent to emergency care",
        "The clinic's symptom check showed a patient an emergency instruction. You are on call.",
        "triage",
    ),
    "photo-case-nearing": (
        "A case of photos is nearing its deadline",
        "A patient's case of photos is unanswered and nearing the clinic's turnaround. You are on call.",
        "photo-reviews",
    ),
    "photo-case-overdue": (
        "A case of photos is overdue",
        "A patient's case of photos has not been answered within the clinic's turnaround.",
        "photo-reviews",
    ),
}


class ProviderEmailPager:
    def __init__(self, providers: Providers, notifier: Notifier, dashboard: str | None = None) -> None:
        self.providers, self.notifier = providers, notifier
        self.dashboard = dashboard if dashboard is not None else os.environ.get("DASHBOARD_URL", "")

    def page(self, provider_id: str, about: str = "alert") -> None:
        subject, words, view = PAGES[about]
        record = self.providers.provider(provider_id)
        email = record.profile.page_email if record else None
        if not email:
            raise PagerUnreachableError(f"provider {provider_id} has no address for pages")
        self.notifier.send(
            Notice(
                email=email,
                phone=None,
                subject=subject,
                text=f"{words}\nOpen the clinic's dashboard to see it: {self.dashboard}#{view}",
            )
        )
