"""US jurisdictions a clinic can serve and a clinician can be licensed in."""

from typing import Final

# The 50 states, DC and the inhabited territories, by USPS code: the codes state medical boards use.
US_JURISDICTIONS: Final[frozenset[str]] = frozenset(
    {
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
        "DC",
        "PR",
        "GU",
        "VI",
        "AS",
        "MP",
    }
)


def is_us_jurisdiction(code: str) -> bool:
    return code in US_JURISDICTIONS


_E, _C, _M, _P = "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"

# The wall-clock zones each jurisdiction spans, for the calendar day of a visit where the patient
# is: a license "valid on 30 June" means 30 June where the patient sits, in any part of the state.
JURISDICTION_ZONES: Final[dict[str, tuple[str, ...]]] = {
    **{
        s: (_E,)
        for s in (
            "CT",
            "DE",
            "DC",
            "GA",
            "ME",
            "MD",
            "MA",
            "NH",
            "NJ",
            "NY",
            "NC",
            "OH",
            "PA",
            "RI",
            "SC",
            "VT",
            "VA",
            "WV",
        )
    },
    **{s: (_E, _C) for s in ("FL", "IN", "KY", "MI", "TN")},
    **{s: (_C,) for s in ("AL", "AR", "IL", "IA", "LA", "MN", "MS", "MO", "OK", "WI")},
    **{s: (_C, _M) for s in ("KS", "NE", "ND", "SD", "TX")},
    **{s: (_M,) for s in ("CO", "MT", "NM", "UT", "WY")},
    "AZ": ("America/Phoenix",),
    "ID": (_M, _P),
    "OR": (_P, _M),
    **{s: (_P,) for s in ("CA", "WA")},
    "NV": (_P, _M),
    "AK": ("America/Anchorage", "America/Adak"),
    "HI": ("Pacific/Honolulu",),
    **{s: ("America/Puerto_Rico",) for s in ("PR", "VI")},
    **{s: ("Pacific/Guam",) for s in ("GU", "MP")},
    "AS": ("Pacific/Pago_Pago",),
}
