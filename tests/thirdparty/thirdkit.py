"""Helpers for the third-party client tests: connect through intuit-oauth, plain-HTTP setup writes.

Nothing here imports python-quickbooks or the toolkit's client side: the point of these tests is to see
the emulator through other people's code.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes

from qbo_toolkit.emulator import EmulatorServer

TIMEOUT = 10


@dataclass
class Company:
    """One app connected to one emulator's company through intuit-oauth."""

    emu: EmulatorServer
    auth: AuthClient
    realm: str

    @property
    def base_url(self) -> str:
        return str(self.emu.info["base_url"])

    @property
    def company_url(self) -> str:
        return f"{self.emu.info['api_base_url']}/company/{self.realm}"

    def _headers(self, content_type: str = "application/json") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.auth.access_token}", "Accept": "application/json",
                "Content-Type": content_type}

    def get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        resp = requests.get(f"{self.company_url}/{path}", params={"minorversion": "75", **(params or {})},
                            headers=self._headers(), timeout=TIMEOUT)
        assert resp.status_code == 200, f"GET {path}: HTTP {resp.status_code} {resp.text[:500]}"
        body: dict[str, Any] = resp.json()
        return body

    def post(self, path: str, body: Any, params: dict[str, str] | None = None) -> dict[str, Any]:
        resp = requests.post(f"{self.company_url}/{path}", params={"minorversion": "75", **(params or {})},
                             data=json.dumps(body), headers=self._headers(), timeout=TIMEOUT)
        assert resp.status_code == 200, f"POST {path}: HTTP {resp.status_code} {resp.text[:500]}"
        answer: dict[str, Any] = resp.json()
        return answer

    def query(self, statement: str) -> dict[str, Any]:
        resp = requests.post(f"{self.company_url}/query", params={"minorversion": "75"}, data=statement.encode(),
                             headers=self._headers("application/text"), timeout=TIMEOUT)
        assert resp.status_code == 200, f"{statement}: HTTP {resp.status_code} {resp.text[:500]}"
        answer: dict[str, Any] = resp.json()["QueryResponse"]
        return answer

    def count(self, entity: str, where: str = "") -> int:
        return int(self.query(f"SELECT COUNT(*) FROM {entity}{' WHERE ' + where if where else ''}")["totalCount"])

    def one(self, entity: str, name: str, field: str = "Name") -> dict[str, Any]:
        rows = self.query(f"SELECT * FROM {entity} WHERE {field} = '{name}'").get(entity, [])
        assert len(rows) == 1, f"{entity} {name!r}: {rows}"
        row: dict[str, Any] = rows[0]
        return row


def authorize(emu: EmulatorServer, scopes: list[Scopes] | None = None) -> Company:
    """The authorization-code flow with intuit-oauth against an auto-approving emulator."""
    info = emu.info
    auth = AuthClient(info["client_id"], info["client_secret"], info["redirect_uris"][0],
                      environment=info["discovery_url"])
    state = secrets.token_urlsafe(8)
    url = auth.get_authorization_url(scopes or [Scopes.ACCOUNTING], state_token=state)
    answer = requests.get(url, allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 302, answer.text[:500]
    params = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert params["state"] == [state]
    realm = params["realmId"][0]
    auth.get_bearer_token(params["code"][0], realm_id=realm)
    return Company(emu, auth, realm)


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:10]}"


def line(amount: str, item: str = "1", **detail: Any) -> dict[str, Any]:
    return {"Amount": amount, "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": {"ItemRef": {"value": item}, **detail}}


def populate(company: Company, tax_code: str | None = None) -> dict[str, str]:
    """A customer with an invoice, a payment, a credit memo applied through a payment, a refund receipt,
    a deleted invoice, a class, a department and a vendor; returns their Ids by role. ``tax_code`` (a
    TaxCode name) goes on every sales line, as a non-US company requires."""
    ids: dict[str, str] = {}
    tax = {"TaxCodeRef": {"value": company.one("TaxCode", tax_code)["Id"]}} if tax_code else {}

    def sales(amount: str) -> list[dict[str, Any]]:
        return [line(amount, **tax)]
    customer = company.post("customer", {"DisplayName": unique("Thirdparty")})["Customer"]
    ids["customer"] = customer["Id"]
    invoice = company.post("invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": sales("200.00")})["Invoice"]
    ids["invoice"] = invoice["Id"]
    link = [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]
    ids["payment"] = company.post("payment", {"CustomerRef": {"value": customer["Id"]}, "TotalAmt": "50.00",
                                              "Line": [{"Amount": "50.00", "LinkedTxn": link}]})["Payment"]["Id"]
    memo = company.post("creditmemo", {"CustomerRef": {"value": customer["Id"]}, "Line": sales("30.00")})
    ids["credit_memo"] = memo["CreditMemo"]["Id"]
    applied = [{"Amount": "30.00", "LinkedTxn": link},
               {"Amount": "30.00", "LinkedTxn": [{"TxnId": ids["credit_memo"], "TxnType": "CreditMemo"}]}]
    ids["credit_payment"] = company.post("payment", {"CustomerRef": {"value": customer["Id"]}, "TotalAmt": "0",
                                                     "Line": applied})["Payment"]["Id"]
    funds = company.one("Account", "Undeposited Funds")
    refund = {"CustomerRef": {"value": customer["Id"]}, "Line": sales("15.00"),
              "DepositToAccountRef": {"value": funds["Id"]}}
    ids["refund"] = company.post("refundreceipt", refund)["RefundReceipt"]["Id"]
    doomed = company.post("invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": sales("10.00")})["Invoice"]
    company.post("invoice", {"Id": doomed["Id"], "SyncToken": doomed["SyncToken"]}, params={"operation": "delete"})
    ids["deleted_invoice"] = doomed["Id"]
    ids["class"] = company.post("class", {"Name": unique("Class")})["Class"]["Id"]
    ids["department"] = company.post("department", {"Name": unique("Location")})["Department"]["Id"]
    ids["vendor"] = company.post("vendor", {"DisplayName": unique("Vendor")})["Vendor"]["Id"]
    return ids
