"""US states for client addresses: QBO's sales tax works out a customer's tax from the state.

An address is checked only when its country is blank or the United States (``US``, ``USA``,
``United States`` and their dotted and long forms, any case): there the state must be a US
state, territory, armed-forces or DC code (``CA``, ``PR``, ``DC``, ``AE``) or its full name
(``California``), any case, or blank (the company's default state may fill it in). Other
countries' subdivisions are not checked. Nothing is ever corrected here: a value that does not
pass is reported, so "Calfornia" is fixed by a person, not guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["US_COUNTRY_NAMES", "US_STATES", "is_us_country", "state_problem"]

#: USPS codes of the states, DC, the territories, the freely associated states and the armed
#: forces, with their names.
US_STATES: Final[Mapping[str, str]] = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "FL": "Florida", "GA": "Georgia",
    "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois", "IN": "Indiana", "IA": "Iowa", "KS": "Kansas",
    "KY": "Kentucky", "LA": "Louisiana", "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts",
    "MI": "Michigan", "MN": "Minnesota", "MS": "Mississippi", "MO": "Missouri", "MT": "Montana",
    "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico",
    "NY": "New York", "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma",
    "OR": "Oregon", "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina",
    "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont",
    "VA": "Virginia", "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
    "DC": "District of Columbia",
    "AS": "American Samoa", "GU": "Guam", "MP": "Northern Mariana Islands", "PR": "Puerto Rico",
    "VI": "U.S. Virgin Islands", "UM": "U.S. Minor Outlying Islands",
    "FM": "Federated States of Micronesia", "MH": "Marshall Islands", "PW": "Palau",
    "AA": "Armed Forces Americas", "AE": "Armed Forces Europe", "AP": "Armed Forces Pacific",
}

#: How the United States is written in an address's country (compared case-insensitively).
US_COUNTRY_NAMES: Final = frozenset({
    "us", "u.s.", "usa", "u.s.a.", "united states", "united states of america",
})

_ACCEPTED: Final = frozenset({code.casefold() for code in US_STATES} |
                             {name.casefold() for name in US_STATES.values()} |
                             {"virgin islands", "us virgin islands", "washington dc", "washington d.c."})


def _key(value: str) -> str:
    return " ".join(value.split()).casefold()


def is_us_country(country: str) -> bool:
    """Whether an address's country means the United States (a blank country does too)."""
    return not country.strip() or _key(country) in US_COUNTRY_NAMES


def state_problem(state: str, country: str) -> str | None:
    """Why ``state`` cannot be a US address's state, or None when it can (or is not checked).

    Blank states pass; so does anything when ``country`` is not the United States.
    """
    if not state.strip() or not is_us_country(country):
        return None
    if _key(state) in _ACCEPTED:
        return None
    why = f"its country is {country.strip()!r}" if country.strip() else "its country is blank"
    return (f"{state!r} is not a US state, territory or DC, as a code (CA) or a name (California), and the "
            f"address is in the United States ({why}); QuickBooks' sales tax needs the customer's state")
