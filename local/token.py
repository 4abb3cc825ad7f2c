"""Print an access token from the running local platform: `python -m local.token WHO`.

WHO is a seeded user's e-mail (signs in to the pool that user belongs to) or a machine client's
name (client-credentials grant at the gateway's /oauth2/token). `--id` prints the ID token instead.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import urllib.parse
import urllib.request
from typing import Any

import boto3

from local.platform import STATE_FILE
from local.seed import DEMO_PASSWORD


def state() -> dict[str, Any]:
    if not STATE_FILE.exists():
        sys.exit("The local platform is not running: start it with `make run`.")
    data: dict[str, Any] = json.loads(STATE_FILE.read_text())
    return data


def user_tokens(
    who: str, password: str = DEMO_PASSWORD, platform: dict[str, Any] | None = None
) -> dict[str, str]:
    """`platform`: a platform's state (its `platform.json`), the running `make run`'s by default."""
    platform = platform or state()
    tenant_id = who.rsplit("@", 1)[-1].removesuffix(".example")
    tenant = platform["tenants"].get(tenant_id)
    if tenant is None:
        sys.exit(f"No tenant {tenant_id!r}: seeded users are <name>@<tenant>.example")
    idp = boto3.client(
        "cognito-idp",
        endpoint_url=platform["urls"]["aws"],
        region_name=tenant["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106
    )
    for pool in ("workforce", "patients"):
        try:
            result = idp.initiate_auth(
                ClientId=tenant["portal_clients"][pool],
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": who, "PASSWORD": password},
            )["AuthenticationResult"]
            return {"access": result["AccessToken"], "id": result["IdToken"]}
        except idp.exceptions.UserNotFoundException:
            continue
    sys.exit(f"No such user: {who}")


def machine_token(name: str, tenant_id: str | None = None) -> str:
    platform = state()
    tenant_id = tenant_id or platform["default_tenant"]
    client = platform["tenants"][tenant_id]["machine_clients"].get(name)
    if client is None:
        sys.exit(f"No machine client {name!r} in tenant {tenant_id}")
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 (loopback)
        f"{platform['urls']['gateway']}/tenants/{tenant_id}/oauth2/token",
        data=urllib.parse.urlencode(
            {"grant_type": "client_credentials", "scope": " ".join(client["scopes"])}
        ).encode(),
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request) as response:  # noqa: S310
        token: str = json.loads(response.read())["access_token"]
        return token


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("who", help="a seeded user's e-mail, or a machine client's name")
    parser.add_argument("--tenant", help="for a machine client: its tenant (default: the default tenant)")
    parser.add_argument("--id", action="store_true", help="print the ID token rather than the access token")
    args = parser.parse_args()
    if "@" in args.who:
        print(user_tokens(args.who)["id" if args.id else "access"])
    else:
        print(machine_token(args.who, args.tenant))


if __name__ == "__main__":
    main()
