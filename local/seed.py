"""Synthetic people for the demo tenant: clinicians, staff, an admin and patients.

Every name and address here is invented (`.example` domains); none is a real person's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from local.provision import ProvisionedTenant

DEMO_PASSWORD = "Demo-Passw0rd!"  # noqa: S105 (a published, local-only demo credential)


@dataclass(frozen=True)
class SeedUser:
    pool: str  # workforce | patients
    local_part: str
    given_name: str
    family_name: str
    group: str | None = None


SEED_USERS = (
    SeedUser("workforce", "admin", "Avery", "Admin", "admins"),
    SeedUser("workforce", "staff", "Sam", "Scheduler", "staff"),
    SeedUser("workforce", "dr.okafor", "Ngozi", "Okafor", "providers"),
    SeedUser("workforce", "dr.lindqvist", "Erik", "Lindqvist", "providers"),
    SeedUser("workforce", "dr.ramirez", "Lucia", "Ramirez", "providers"),
    SeedUser("patients", "patient.one", "Jordan", "Testpatient"),
    SeedUser("patients", "patient.two", "Riley", "Samplecase"),
)


def email_of(user: SeedUser, tenant_id: str) -> str:
    return f"{user.local_part}@{tenant_id}.example"


def seed_tenant(idp: Any, tenant: ProvisionedTenant) -> None:
    for user in SEED_USERS:
        pool = tenant.user_pools[user.pool]
        email = email_of(user, tenant.tenant.id)
        idp.admin_create_user(
            UserPoolId=pool,
            Username=email,
            UserAttributes=[
                {"Name": "email", "Value": email},
                {"Name": "email_verified", "Value": "true"},
                {"Name": "given_name", "Value": user.given_name},
                {"Name": "family_name", "Value": user.family_name},
            ],
            MessageAction="SUPPRESS",
        )
        idp.admin_set_user_password(UserPoolId=pool, Username=email, Password=DEMO_PASSWORD, Permanent=True)
        if user.group:
            idp.admin_add_user_to_group(UserPoolId=pool, Username=email, GroupName=user.group)
