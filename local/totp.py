"""Print the current sign-in code of a seeded workforce user: `python -m local.totp EMAIL`.

What the user's authenticator app would show (the secret `make run` prints, RFC 6238), for the
managed-login stand-in's MFA step.
"""

from __future__ import annotations

import argparse
import sys
import time

from local.signin import TOTP_STEP_S, totp
from local.token import state


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("email", help="a seeded workforce user's e-mail, e.g. dr.okafor@riverside.example")
    args = parser.parse_args()
    email = args.email.lower()
    for tenant in state()["tenants"].values():
        secret = tenant.get("totp", {}).get(email)
        if secret:
            now = time.time()
            print(totp(secret, now))
            left = TOTP_STEP_S - int(now) % TOTP_STEP_S
            print(f"(valid for {left} s more, and the 30 s after)", file=sys.stderr)
            return
    sys.exit(f"No TOTP secret for {email}: only the seeded workforce users have one.")


if __name__ == "__main__":
    main()
