"""Staff review a health system's merge of two patients' records in the dashboard and undo it:
the question first, the focus on the answer that keeps the merge, then the records parted. The
view passes axe. Names and numbers are synthetic."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

from playwright.sync_api import Page, expect

from local.platform import LocalPlatform
from tests.conftest import user_tokens
from tests.e2e.test_hl7v2 import acknowledged, client_token, message, post
from tests.e2e.test_scheduling import RIVERSIDE, call


def test_staff_undo_a_merge_the_health_system_made(
    platform: LocalPlatform, signed_in_page: Callable[..., Page], axe_check: Callable[[Page], None]
) -> None:
    gateway = platform.urls["gateway"]
    feed = client_token(platform, gateway, "adt-feed")
    kept, retired = f"E{secrets.token_hex(4)}", f"E{secrets.token_hex(4)}"
    family = f"Mergecase{secrets.token_hex(2)}"

    def pid(mrn: str, given: str) -> str:
        return f"PID|1||{mrn}^^^RVH^MR||{family}^{given}||19790301|M|||2 Hill St^^Albany^NY^12207"

    for n, (mrn, given) in enumerate(((kept, "JORDAN"), (retired, "JORDAN"))):
        assert acknowledged(post(gateway, feed, message("A04", f"B{n}", pid(mrn, given))))[0] == "AA"
    merged = post(gateway, feed, message("A40", "B9", pid(kept, "JORDAN"), f"MRG|{retired}^^^RVH^MR"))
    assert acknowledged(merged)[0] == "AA"

    page = signed_in_page("staff@riverside.example", "Merged records", route="#/merges")
    row = page.get_by_role("row", name=re.compile(f"JORDAN {family}.*MRN {retired}"))
    expect(row).to_contain_text(f"MRN {kept}", timeout=15_000)
    expect(row).to_contain_text("No appointments moved")
    axe_check(page)
    row.get_by_role("button", name=re.compile(f"Undo merge of JORDAN {family}")).click()
    expect(page.get_by_role("button", name="Keep it")).to_be_focused()
    axe_check(page)
    page.get_by_role("button", name="Yes, undo the merge").click()
    expect(page.get_by_role("status").filter(has_text="The records are parted")).to_be_focused(timeout=15_000)
    expect(page.get_by_role("row", name=re.compile(f"MRN {retired}"))).to_have_count(0)
    axe_check(page)
    staff = user_tokens(platform, RIVERSIDE, "staff@riverside.example")["access"]
    listed = call(gateway, "GET", "/v1/patients/merges", staff).json()["merges"]
    assert retired not in {m["retired"]["mrn"] for m in listed}
