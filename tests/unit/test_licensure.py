"""Licensure: state licenses and compact privileges, as data, valid on the visit's date."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from telehealth.domain.licensure import License, LicenseStatus, LicensurePolicy, Refusal

POLICY = LicensurePolicy()
VISIT = date(2026, 12, 1)


def ny(**changes: object) -> License:
    fields: dict[str, object] = {
        "state": "NY",
        "number": "NY-1",
        "valid_from": date(2025, 1, 1),
        "valid_until": date(2027, 1, 1),
    }
    return License(**(fields | changes))  # type: ignore[arg-type]


def test_an_active_license_in_the_patients_state_on_the_day_allows_the_visit() -> None:
    assert POLICY.check([ny()], "NY", VISIT) is None


@pytest.mark.parametrize(
    ("credentials", "refusal"),
    [
        ([], Refusal.NO_LICENSE),
        ([ny(state="NJ")], Refusal.NO_LICENSE),
        ([ny(status=LicenseStatus.SUSPENDED)], Refusal.NOT_ACTIVE),
        ([ny(valid_until=date(2026, 11, 30))], Refusal.NOT_VALID_THAT_DAY),
        ([ny(valid_from=date(2026, 12, 2))], Refusal.NOT_VALID_THAT_DAY),
    ],
)
def test_licensure_refuses_with_the_reason(credentials: list[License], refusal: Refusal) -> None:
    assert POLICY.check(credentials, "NY", VISIT) is refusal
    assert not POLICY.may_treat(credentials, "NY", VISIT)


def test_a_compact_privilege_is_as_good_as_a_license_in_its_state() -> None:
    privilege = ny(state="CO", number="IMLC-77", compact="IMLC")
    assert POLICY.may_treat([ny(), privilege], "CO", VISIT)
    assert not POLICY.may_treat([privilege], "UT", VISIT)


def test_one_valid_credential_among_lapsed_ones_is_enough() -> None:
    lapsed = ny(number="NY-0", valid_from=date(2020, 1, 1), valid_until=date(2024, 12, 31))
    assert POLICY.may_treat([lapsed, ny()], "NY", VISIT)


def test_the_last_day_of_a_license_still_counts() -> None:
    assert POLICY.may_treat([ny(valid_until=VISIT)], "NY", VISIT)


def test_a_license_must_name_a_real_jurisdiction_and_a_forward_period() -> None:
    with pytest.raises(ValueError, match="USPS"):
        ny(state="XX")
    with pytest.raises(ValueError, match="end after"):
        ny(valid_until=date(2024, 1, 1))


def test_a_visit_is_checked_on_every_calendar_day_it_touches_across_us_zones() -> None:
    from datetime import UTC, datetime, timedelta

    ends_june_30 = ny(valid_until=date(2026, 6, 30))
    # 01:00 on 1 July in New York is still 30 June in California: the license has lapsed there
    # for a patient in New York, whatever the provider's own calendar says.
    start = datetime(2026, 7, 1, 5, tzinfo=UTC)
    assert (
        POLICY.check_visit([ends_june_30], "NY", start, start + timedelta(minutes=30))
        is Refusal.NOT_VALID_THAT_DAY
    )
    earlier = datetime(2026, 6, 30, 15, tzinfo=UTC)
    assert POLICY.check_visit([ends_june_30], "NY", earlier, earlier + timedelta(minutes=30)) is None


def test_every_jurisdiction_has_its_zones() -> None:
    from zoneinfo import ZoneInfo

    from telehealth.domain.jurisdictions import JURISDICTION_ZONES, US_JURISDICTIONS

    assert set(JURISDICTION_ZONES) == US_JURISDICTIONS
    assert all(ZoneInfo(z) for zones in JURISDICTION_ZONES.values() for z in zones)


def test_the_states_open_now_are_those_with_a_credential_valid_today_in_every_zone_of_the_state() -> None:
    credentials = [
        ny(),
        ny(state="NJ", number="NJ-1", status=LicenseStatus.SUSPENDED),
        # The day is the state's own: at 03:00 UTC on 1 December it is still 30 November in
        # Colorado and Oregon, so a licence ending on the 30th still holds there and one
        # starting on the 1st does not hold yet; six hours later it is the other way round.
        ny(state="CO", number="CO-1", valid_until=date(2026, 11, 30)),
        ny(state="OR", number="OR-1", valid_from=date(2026, 12, 1)),
        ny(state="OR", number="OR-2", valid_until=date(2026, 11, 29)),
    ]
    early = datetime(2026, 12, 1, 3, tzinfo=UTC)
    assert POLICY.states_open(credentials, early) == ("CO", "NY")
    assert POLICY.states_open(credentials, early + timedelta(hours=6)) == ("NY", "OR")
    assert POLICY.states_open([], early) == ()
