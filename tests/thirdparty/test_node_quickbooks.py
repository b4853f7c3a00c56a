"""node-quickbooks (mcohen01, npm; a widely used QBO client in another language), unmodified.

``make thirdparty`` installs it under ``.venv/thirdparty/node`` with the machine's npm. The Node script
``node_quickbooks_driver.js`` points it at the emulator through its static settings (the v3 base URL,
the token and UserInfo URLs), runs every check in one process and prints the outcome of each; each check
is one test here. The checks follow issue 13's findings from that client's integration suite: the entities
every company has, ``!=``, ``AccountSubType``, Preferences, credit memos and refunds, terms, the PDF,
``allowduplicatedocnum``, the 2500 on a missing PaymentMethodRef, reports, CDC and batch.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from intuitlib.enums import Scopes
from thirdkit import authorize, line, unique

from qbo_toolkit.emulator import EmulatorConfig, EmulatorServer

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / ".venv" / "thirdparty" / "node" / "node_modules"
DRIVER = Path(__file__).with_name("node_quickbooks_driver.js")
NODE = shutil.which("node")

CHECKS = [
    "refresh rotates the tokens", "companyinfo",
    *(f"find{plural}" for plural in (
        "Accounts", "Attachables", "Bills", "BillPayments", "Budgets", "Classes", "CompanyCurrencies", "CreditMemos",
        "Customers", "CustomerTypes", "Departments", "Deposits", "Employees", "Estimates", "Invoices", "Items",
        "JournalEntries", "Payments", "PaymentMethods", "Purchases", "PurchaseOrders", "RefundReceipts",
        "SalesReceipts", "TaxAgencies", "TaxCodes", "TaxRates", "Terms", "TimeActivities", "Transfers", "Vendors",
        "VendorCredits")),
    "query with != (Balance != 0)", "query on Account.AccountSubType", "preferences read and update",
    "create and get Term", "create and get PaymentMethod", "create and get Class", "create and get Department",
    "credit memo applied through a payment", "refund receipt from Undeposited Funds",
    "invoice with a term: SalesTermRef kept, DueDate from the term", "invoice PDF", "allowDuplicateDocNum",
    "PaymentMethodRef to a missing method is 2500",
    *(f"report{r}" for r in ("ProfitAndLoss", "BalanceSheet", "AgedReceivables", "AgedReceivableDetail",
                              "CustomerBalance")),
    "CDC naming the new entities", "batch of queries on the new entities", "userinfo",
]

pytestmark = pytest.mark.skipif(
    NODE is None or not (NODE_MODULES / "node-quickbooks").is_dir(),
    reason=f"node-quickbooks is not installed in {NODE_MODULES} (`make thirdparty`; `make test` does it)",
)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    patch = pytest.MonkeyPatch()
    patch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    emu = EmulatorServer(EmulatorConfig(auto_approve=True, throttle=False)).start()
    try:
        company = authorize(emu, [Scopes.ACCOUNTING, Scopes.OPENID, Scopes.EMAIL])
        customer = company.post("customer", {"DisplayName": unique("Node")})["Customer"]
        invoice = company.post("invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [line("90.00")]})
        info = emu.info
        config = {"node_modules": str(NODE_MODULES), "api_base": info["api_base_url"],
                  "token_url": company.auth.token_endpoint, "userinfo_url": company.auth.user_info_url,
                  "realm": company.realm, "client_id": info["client_id"], "client_secret": info["client_secret"],
                  "access_token": company.auth.access_token, "refresh_token": company.auth.refresh_token,
                  "ids": {"customer": customer["Id"], "invoice": invoice["Invoice"]["Id"]}}
        path = tmp_path_factory.mktemp("node") / "config.json"
        path.write_text(json.dumps(config))
        env = {k: v for k, v in os.environ.items() if not k.startswith("QBO_")}
        result = subprocess.run([str(NODE), str(DRIVER), str(path)], capture_output=True, text=True, timeout=300,
                                env=env, check=False)
        assert result.returncode == 0, result.stderr[-3000:]
        answers: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
        assert sorted(answers) == sorted(CHECKS), "the driver's checks and this list differ"
        yield answers
    finally:
        emu.stop()
        patch.undo()


@pytest.mark.parametrize("check", CHECKS)
def test_node_quickbooks(outcomes: dict[str, Any], check: str) -> None:
    outcome = outcomes[check]
    assert outcome["ok"], outcome["detail"]
