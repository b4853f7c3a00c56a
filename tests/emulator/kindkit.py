"""Helpers for the over-HTTP tests of company kinds, tax, credits and closed books (raw JSON calls).

Money is read with ``parse_float=Decimal`` so amounts compare exactly to the cent.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import requests
from wirekit import Conn, connect, fault_of

from qbo_toolkit.emulator import EmulatorServer

CLOSED_TEXT = ("The account period has closed and the account books cannot be updated through the QBO Services "
               "API, please use the QBO website")


def D(value: Any) -> Decimal:
    return Decimal(str(value))


def ok(resp: requests.Response) -> dict[str, Any]:
    assert resp.status_code == 200, f"HTTP {resp.status_code}: {resp.text[:800]}"
    body: dict[str, Any] = resp.json(parse_float=Decimal)
    return body


def fault(resp: requests.Response, status: int = 400) -> dict[str, Any]:
    assert resp.status_code == status, f"HTTP {resp.status_code}: {resp.text[:800]}"
    return fault_of(resp)


def kind_conn(start_emulator: Callable[..., EmulatorServer], kind: str, **config: Any) -> Conn:
    return connect(start_emulator(company_kind=kind, **config))


def rows(conn: Conn, statement: str, entity: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(conn.query(statement))["QueryResponse"].get(entity, [])
    return found


def by_name(conn: Conn, entity: str, name: str) -> dict[str, Any]:
    found = rows(conn, f"SELECT * FROM {entity} WHERE Name = '{name}'", entity)
    assert len(found) == 1, f"{entity} {name!r}: {found}"
    return found[0]


def code_id(conn: Conn, name: str) -> str:
    return str(by_name(conn, "TaxCode", name)["Id"])


def customer(conn: Conn, **fields: Any) -> dict[str, Any]:
    made: dict[str, Any] = ok(conn.post("customer", {"DisplayName": f"Kind {uuid.uuid4().hex[:10]}", **fields}))
    return made["Customer"]


def line(amount: str, item: str = "1", code: str | None = None, **detail: Any) -> dict[str, Any]:
    if code is not None:
        detail["TaxCodeRef"] = {"value": code}
    return {"Amount": amount, "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": {"ItemRef": {"value": item}, **detail}}


def post(conn: Conn, entity: str, customer_id: str | None, lines: list[dict[str, Any]],
         params: dict[str, str] | None = None, **fields: Any) -> requests.Response:
    body: dict[str, Any] = {"Line": lines, **fields}
    if customer_id is not None:
        body["CustomerRef"] = {"value": customer_id}
    return conn.post(entity.lower(), body, params=params)


def read(conn: Conn, entity: str, id_: str) -> dict[str, Any]:
    doc: dict[str, Any] = ok(conn.get(f"{entity.lower()}/{id_}"))[entity]
    return doc


def balance(conn: Conn, customer_id: str) -> Decimal:
    return D(read(conn, "Customer", customer_id)["Balance"])


def close_books(conn: Conn, day: str) -> None:
    prefs = ok(conn.get("preferences"))["Preferences"]
    body = {"Id": prefs["Id"], "SyncToken": prefs["SyncToken"], "sparse": True,
            "AccountingInfoPrefs": {**prefs.get("AccountingInfoPrefs", {}), "BookCloseDate": day}}
    updated = ok(conn.post("preferences", body))["Preferences"]
    assert updated["AccountingInfoPrefs"]["BookCloseDate"] == day


def tax_lines(doc: dict[str, Any]) -> dict[Decimal, tuple[Decimal, Decimal]]:
    """TaxPercent -> (Amount, NetAmountTaxable) of a document's TxnTaxDetail.TaxLine."""
    out = {}
    for tl in doc["TxnTaxDetail"].get("TaxLine", []):
        detail = tl["TaxLineDetail"]
        out[D(detail["TaxPercent"])] = (D(tl["Amount"]), D(detail["NetAmountTaxable"]))
    return out
