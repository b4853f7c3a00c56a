"""Helpers for the emulator's over-HTTP tests: connecting python-quickbooks, raw calls, sample shapes.

Everything here talks to a running emulator the way an app talks to Intuit: intuitlib for OAuth,
unmodified python-quickbooks on its own OAuth2Session for data calls, and plain ``requests`` only for
what python-quickbooks cannot express (sparse updates, GET queries, raw batches, missing tokens).
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from quickbooks import QuickBooks
from quickbooks.objects.base import Address, LinkedTxn, Ref
from quickbooks.objects.customer import Customer
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.payment import Payment, PaymentLine

from qbo_toolkit.emulator import EmulatorServer

# ../shared/qbo/samples beside the checkout (CI lays a copy of shared/ there), or QBO_SAMPLES_DIR
SAMPLES = Path(os.environ.get("QBO_SAMPLES_DIR", Path(__file__).resolve().parents[3] / "shared" / "qbo" / "samples"))
TIMEOUT = 10


# -- connecting ---------------------------------------------------------------------------------------

@dataclass
class Conn:
    """One app connected to one emulator: the AuthClient, a python-quickbooks client and raw helpers."""

    emu: EmulatorServer
    auth: AuthClient
    qb: QuickBooks
    realm: str

    @property
    def company_url(self) -> str:
        return f"{self.emu.info['api_base_url']}/company/{self.realm}"

    @property
    def access_token(self) -> str:
        return str(self.auth.access_token)

    def headers(self, token: str | None = None, content_type: str = "application/json") -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.access_token}", "Accept": "application/json",
                "Content-Type": content_type}

    def get(self, path: str, params: dict[str, str] | None = None, token: str | None = None) -> requests.Response:
        return requests.get(f"{self.company_url}/{path}", params={"minorversion": "75", **(params or {})},
                            headers=self.headers(token), timeout=TIMEOUT)

    def post(self, path: str, body: Any, params: dict[str, str] | None = None,
             content_type: str = "application/json") -> requests.Response:
        """POST ``body``: bytes as they are, a str as UTF-8, anything else as JSON."""
        if isinstance(body, bytes):
            data = body
        else:
            data = (body if isinstance(body, str) else json.dumps(body)).encode("utf-8")
        return requests.post(f"{self.company_url}/{path}", params={"minorversion": "75", **(params or {})},
                             data=data, headers=self.headers(content_type=content_type), timeout=TIMEOUT)

    def query(self, statement: str) -> requests.Response:
        return self.post("query", statement, content_type="application/text")

    def reconnect(self) -> QuickBooks:
        """A new python-quickbooks client on the AuthClient's current tokens."""
        self.qb = make_client(self.emu, self.auth, self.realm)
        return self.qb


def make_client(emu: EmulatorServer, auth: AuthClient, realm: str) -> QuickBooks:
    qb = QuickBooks(auth_client=auth, refresh_token=auth.refresh_token, company_id=realm, minorversion=75,
                    use_decimal=True)
    qb.api_url_v3 = emu.info["api_base_url"]
    return qb


def authorize(emu: EmulatorServer) -> tuple[AuthClient, str]:
    """Run the authorization-code flow against an auto-approving emulator: (AuthClient with tokens, realm)."""
    info = emu.info
    auth = AuthClient(info["client_id"], info["client_secret"], info["redirect_uris"][0],
                      environment=info["discovery_url"])
    state = secrets.token_urlsafe(8)
    url = auth.get_authorization_url([Scopes.ACCOUNTING], state_token=state)
    answer = requests.get(url, allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 302, answer.text
    params = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert params["state"] == [state]
    realm = params["realmId"][0]
    auth.get_bearer_token(params["code"][0], realm_id=realm)
    return auth, realm


def connect(emu: EmulatorServer) -> Conn:
    auth, realm = authorize(emu)
    return Conn(emu, auth, make_client(emu, auth, realm), realm)


# -- building objects with python-quickbooks ---------------------------------------------------------

def unique(prefix: str = "Test") -> str:
    return f"{prefix} {uuid.uuid4().hex[:10]}"


def ref(value: str | int, name: str | None = None) -> Ref:
    r = Ref()
    r.value = str(value)
    if name is not None:
        r.name = name
    return r


def address(line1: str, city: str, state: str = "CA", postal: str = "94000") -> Address:
    addr = Address()
    addr.Line1, addr.City, addr.CountrySubDivisionCode, addr.PostalCode = line1, city, state, postal
    return addr


def make_customer(qb: QuickBooks, name: str | None = None, **fields: Any) -> Customer:
    customer = Customer()
    customer.DisplayName = name or unique("Customer")
    for key, value in fields.items():
        setattr(customer, key, value)
    saved: Customer = customer.save(qb=qb)
    return saved


def sales_line(item: str, qty: Any, price: Any, amount: Any | None = None) -> SalesItemLine:
    line = SalesItemLine()
    line.Amount = Decimal(str(amount)) if amount is not None else Decimal(str(qty)) * Decimal(str(price))
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = ref(item)
    line.SalesItemLineDetail.Qty = Decimal(str(qty))
    line.SalesItemLineDetail.UnitPrice = Decimal(str(price))
    return line


def build_invoice(customer_id: str, lines: list[tuple[str, Any, Any]], **fields: Any) -> Invoice:
    invoice = Invoice()
    invoice.CustomerRef = ref(customer_id)
    invoice.Line = [sales_line(item, qty, price) for item, qty, price in lines]
    for key, value in fields.items():
        setattr(invoice, key, value)
    return invoice


def make_invoice(qb: QuickBooks, customer_id: str, lines: list[tuple[str, Any, Any]], **fields: Any) -> Invoice:
    saved: Invoice = build_invoice(customer_id, lines, **fields).save(qb=qb)
    return saved


def build_payment(customer_id: str, total: Any, applied: list[tuple[str, Any]]) -> Payment:
    payment = Payment()
    payment.CustomerRef = ref(customer_id)
    payment.TotalAmt = Decimal(str(total))
    payment.Line = []
    for invoice_id, amount in applied:
        line = PaymentLine()
        line.Amount = Decimal(str(amount))
        link = LinkedTxn()
        link.TxnId, link.TxnType = str(invoice_id), "Invoice"
        line.LinkedTxn = [link]
        payment.Line.append(line)
    return payment


def make_payment(qb: QuickBooks, customer_id: str, total: Any, applied: list[tuple[str, Any]]) -> Payment:
    saved: Payment = build_payment(customer_id, total, applied).save(qb=qb)
    return saved


# -- shapes of replies -----------------------------------------------------------------------------------

def load_sample(name: str) -> Any:
    path = SAMPLES / f"{name}.json"
    if not path.exists():
        pytest.skip(f"sample {path} is not available")
    return json.loads(path.read_text())


def kind(value: Any) -> str:
    """The JSON type of a value, with every number one kind (QBO prints 0 and 100.0 alike)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "str"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "null"


def assert_shape(actual: Any, sample: Any, path: str = "$", *, exact: bool = False,
                 ignore: frozenset[str] = frozenset()) -> None:
    """Every key of ``sample`` is in ``actual`` with the same JSON type, recursively (first list items).

    ``exact`` also forbids keys the sample does not have, at every object level. Keys named in
    ``ignore`` (bare names) are skipped on both sides.
    """
    assert kind(actual) == kind(sample), f"{path}: {kind(actual)} != {kind(sample)} ({actual!r})"
    if isinstance(sample, dict):
        missing = {k for k in sample if k not in actual and k not in ignore}
        assert not missing, f"{path}: missing keys {sorted(missing)}"
        if exact:
            extra = {k for k in actual if k not in sample and k not in ignore}
            assert not extra, f"{path}: keys the sample does not have {sorted(extra)}"
        for key in sample:
            if key in actual and key not in ignore:
                assert_shape(actual[key], sample[key], f"{path}.{key}", exact=exact, ignore=ignore)
    elif isinstance(sample, list) and sample and actual:
        assert_shape(actual[0], sample[0], f"{path}[0]", exact=exact, ignore=ignore)


def fault_of(resp: requests.Response) -> dict[str, Any]:
    """The first Error of a standard JSON fault reply."""
    body = resp.json()
    assert "Fault" in body, body
    error: dict[str, Any] = body["Fault"]["Error"][0]
    return error
