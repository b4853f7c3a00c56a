"""QBO's report service and printed forms, computed from the company's stored documents.

``GET /v3/company/{realm}/reports/{Name}`` answers QBO's report JSON: a ``Header`` (``Time``,
``ReportName``, ``StartPeriod``/``EndPeriod``, ``Currency``, an ``Option`` list with ``NoReportData``),
``Columns.Column`` (``ColTitle``, ``ColType``, ``MetaData`` ``ColKey``) and ``Rows.Row``: data rows
(``type: "Data"``, ``ColData [{value, id}]``) and sections (``type: "Section"``, ``Header``, ``Rows``,
``Summary``, and a ``group`` on the top-level ones). Money is a string with two decimals (``"239.00"``,
``"-100.00"``); an empty cell is ``""``. Reports:

* ``AgedReceivables`` (``report_date``, ``aging_period``, ``num_periods``, ``customer``, ``sort_order``):
  one row per customer with an open balance, in the columns ``Current``, ``1 - 30``, ``31 - 60``,
  ``61 - 90``, ``91 and over`` (for the default 30-day, 4-period aging) and ``Total``; sub-customers are
  sections under their parent; a ``GrandTotal`` section closes it.
* Both aging reports take ``aging_method`` (``Report_Date``, the default, or ``Current``: the open items
  of ``report_date`` aged as of today) and ``past_due`` (only what is at least that many days late).
* ``AgedReceivableDetail`` (the same parameters, and ``columns``): one row per open transaction in a
  section per aging bucket (``Current``, ``1 - 30 days past due``, …, ``91 or more days past due``).
* ``CustomerBalance`` (``report_date``, else ``end_date``; ``customer``): each customer's open balance.
* ``BalanceSheet`` (``end_date``, ``customer``; Accrual): the deposit accounts of payments and receipts,
  A/R, sales tax payable, and Retained Earnings and Net Income (the income before and since the start of
  the fiscal year). It balances: every document books both of its sides.
* ``ProfitAndLoss`` (``start_date``, ``end_date``, ``accounting_method`` ``Accrual`` | ``Cash``,
  ``customer``): income by account from the sales lines of invoices and sales receipts, through each
  item's income account (discount lines on their discount account, else "Discounts given"); credit
  memos and refund receipts count negative. Cash basis counts sales receipts and refund receipts when
  dated, and an invoice's (or a credit memo's) income in proportion to the payment lines applied to it
  in the period. The emulator records no expenses: the Expenses section is always empty.
  ``summarize_column_by`` ``Days``, ``Week``, ``Month``, ``Quarter`` or ``Year`` gives a column per
  period (``StartDate``/``EndDate`` metadata) and a ``Total``.

**As of a date.** The A/R reports are computed as of ``report_date``: an invoice dated on or before it
is open for its total less the payment lines (credit-memo applications included: they are payment
lines) dated on or before it; a credit memo dated on or before it is open, negative, for its total less
its applications; a payment's unapplied part is open, negative. Invoices are aged from their due date;
credit memos and unapplied payments from their own date. A/R = the sum of the open items, so the
reports agree with every customer's ``Balance`` when run as of today. With the company preference
``ReportPrefs.CalcAgingReportFromTxnDate`` invoices are aged from their date instead. The documents are
read generically (``company.all("CreditMemo")`` is empty in a company without credit memos), so what is
stored counts once. Voided documents count nothing (their amounts are zero); deleted ones are gone.

Strict choices where QBO's behaviour is not documented:

* Report names are case-sensitive. A name QBO has but the emulator does not compute (``GeneralLedger``,
  ``CashFlow``, …) and a name QBO does not have both get HTTP 400 with the "Unsupported Operation"
  fault (code 500), the first saying which report the emulator lacks.
* A malformed date is refused (2070, naming the parameter); so are (2010, naming the parameter) a period
  length or count that is not a positive whole number, an ``aging_method``, ``past_due``,
  ``accounting_method`` or ``summarize_column_by`` the emulator does not know, more than 400 period
  columns, a Cash BalanceSheet, and ``start_date`` after ``end_date``. Other parameters are ignored.
* ``ColKey``s: aging ``customer``, ``current``, ``0`` … ``n-1`` (the periods), ``total``; detail
  ``tx_date``, ``txn_type``, ``doc_num``, ``cust_name``, ``due_date``, ``past_due``, ``subt_amount``,
  ``subt_open_bal``. Clients should find the buckets by ``ColTitle``.
* Cash-basis shares are rounded half-up to the cent per account once, at the end.

``GET …/{invoice,estimate,salesreceipt,creditmemo,refundreceipt}/{id}/pdf`` answers ``application/pdf``:
a one-page PDF 1.4 naming the company, the document, its customer, lines and totals (Helvetica,
WinAnsi text; characters outside Windows-1252 print as ``?``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from . import faults
from .clock import stamp
from .company import Company, as_id, cents, parse_date, ref_id
from .faults import EmuFault
from .store import Doc

ZERO = Decimal(0)
DISCOUNTS_GIVEN = "Discounts given"
UNCATEGORIZED_INCOME = "Uncategorized Income"
DISCOUNTS, UNCATEGORIZED = "discounts", "uncategorized"  # income "accounts" of lines that name none
CREDIT_DOCS = (("Invoice", Decimal(1)), ("CreditMemo", Decimal(-1)))  # documents on A/R, with their sign
RECEIPT_DOCS = (("SalesReceipt", Decimal(1)), ("RefundReceipt", Decimal(-1)))  # money in and out at once
MAX_COLUMNS = 400  # summarize_column_by columns in one ProfitAndLoss (strict choice)

#: reports QBO has that the emulator does not compute (a request for one says so)
NOT_EMULATED = frozenset({
    "AccountList", "AgedPayableDetail", "AgedPayables", "CashFlow", "ClassSales",
    "CustomerBalanceDetail", "CustomerIncome", "CustomerSales", "DepartmentSales", "GeneralLedger",
    "GeneralLedgerFR", "InventoryValuationDetail", "InventoryValuationSummary", "ItemSales", "JournalCodeReport",
    "JournalReport", "JournalReportFR", "ProfitAndLossDetail", "SalesByClassSummary", "SalesByCustomer",
    "SalesByDepartment", "SalesByProduct", "TaxSummary", "TransactionList", "TransactionListByCustomer",
    "TransactionListByVendor", "TransactionListWithSplits", "TrialBalance", "VendorBalance",
    "VendorBalanceDetail", "VendorExpenses", "FECReport",
})
#: documents that have a printed form (``…/{entity}/{id}/pdf``)
PRINTABLE = {"Invoice": "Invoice", "Estimate": "Estimate", "SalesReceipt": "Sales Receipt",
             "CreditMemo": "Credit Memo", "RefundReceipt": "Refund Receipt"}
_TXN_TYPE = {"Invoice": "Invoice", "CreditMemo": "Credit Memo", "Payment": "Payment"}


# -- cells and rows ------------------------------------------------------------------------------------

def money(value: Decimal) -> str:
    """QBO's report money: two decimals, ``-`` for negatives, never ``-0.00``."""
    amount = cents(value)
    return f"{amount if amount != 0 else ZERO:.2f}"


def cell(value: str, id_: str | None = None) -> Doc:
    return {"value": value, "id": id_} if id_ is not None else {"value": value}


def column(title: str, col_type: str, key: str) -> Doc:
    return {"ColTitle": title, "ColType": col_type, "MetaData": [{"Name": "ColKey", "Value": key}]}


def data_row(cells: list[Doc]) -> Doc:
    return {"ColData": cells, "type": "Data"}


def section(header: list[Doc] | None, rows: list[Doc], summary: list[Doc] | None, group: str | None = None) -> Doc:
    out: Doc = {}
    if header is not None:
        out["Header"] = {"ColData": header}
    if rows:
        out["Rows"] = {"Row": rows}
    if summary is not None:
        out["Summary"] = {"ColData": summary}
    out["type"] = "Section"
    if group is not None:
        out["group"] = group
    return out


# -- parameters ------------------------------------------------------------------------------------------

def _date_param(params: Mapping[str, str], name: str) -> date | None:
    raw = params.get(name, "").strip()
    return parse_date(raw, name) if raw else None


def _positive_int(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) <= 0:
        raise _bad_param(name, f"{name} must be a positive whole number, not {raw!r}")
    return int(raw)


def _bad_param(name: str, why: str) -> EmuFault:
    return EmuFault(2010, "Request has invalid or unsupported property",
                    f"Property Name:{name} specified is unsupported or invalid: {why}", name)


def _customer_filter(params: Mapping[str, str]) -> set[str] | None:
    raw = params.get("customer", "").strip()
    if not raw:
        return None
    return {as_id(part.strip(), "customer") for part in raw.split(",") if part.strip()}


def _txn_date(doc: Doc) -> date:
    return date.fromisoformat(str(doc.get("TxnDate", ""))[:10])


def _amount(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else ZERO


# -- the company's A/R as of a date ----------------------------------------------------------------------

@dataclass(frozen=True)
class OpenItem:
    """One open A/R transaction as of a date: amounts signed (credits negative)."""

    txn_type: str  # Invoice, Credit Memo, Payment
    txn_id: str
    doc_number: str
    customer_id: str
    txn_date: date
    due_date: date
    amount: Decimal
    open: Decimal


def open_items(company: Company, as_of: date) -> list[OpenItem]:
    """Every A/R transaction with an open amount as of ``as_of`` (see the module docstring)."""
    applied: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    items: list[OpenItem] = []
    for payment in company.all("Payment"):
        if _txn_date(payment) > as_of:
            continue
        net = ZERO  # applied to invoices less credit used: what the payment's money covered
        for line in payment.get("Line") or []:
            amount = _amount(line.get("Amount"))
            for link in line.get("LinkedTxn") or []:
                kind, txn_id = link.get("TxnType"), str(link.get("TxnId", ""))
                if kind == "Invoice":
                    applied[("Invoice", txn_id)] += amount
                    net += amount
                elif kind == "CreditMemo":
                    applied[("CreditMemo", txn_id)] += amount
                    net -= amount
        unapplied = _amount(payment.get("TotalAmt")) - net
        if unapplied != 0:
            day = _txn_date(payment)
            items.append(OpenItem("Payment", payment["Id"], str(payment.get("PaymentRefNum", "")),
                                  ref_id(payment, "CustomerRef") or "", day, day,
                                  -_amount(payment.get("TotalAmt")), -unapplied))
    for entity, sign in (("Invoice", 1), ("CreditMemo", -1)):
        for doc in company.all(entity):
            day = _txn_date(doc)
            if day > as_of:
                continue
            total = _amount(doc.get("TotalAmt"))
            remaining = total - applied[(entity, doc["Id"])]
            if remaining == 0:
                continue
            due = date.fromisoformat(str(doc["DueDate"])[:10]) if entity == "Invoice" and doc.get("DueDate") else day
            items.append(OpenItem(_TXN_TYPE[entity], doc["Id"], str(doc.get("DocNumber", "")),
                                  ref_id(doc, "CustomerRef") or "", day, due, sign * total, sign * remaining))
    return items


# -- customers as rows (sub-customers as sections under their parent) -------------------------------------

def customer_rows(company: Company, values: Mapping[str, list[Decimal]], render: Callable[[list[Decimal]], list[Doc]],
                  descending: bool = False) -> tuple[list[Doc], list[Decimal]]:
    """Rows for the customers in ``values`` (and sections for their ancestors), and the grand totals."""
    customers = {c["Id"]: c for c in company.all("Customer")}
    width = len(next(iter(values.values()))) if values else 0
    children: dict[str | None, set[str]] = defaultdict(set)
    for cid in values:
        node: str | None = cid
        seen: set[str] = set()
        while node is not None and node not in seen:
            seen.add(node)
            parent = ref_id(customers.get(node, {}), "ParentRef")
            children[parent].add(node)
            node = parent

    def name(cid: str) -> str:
        return str(customers.get(cid, {}).get("DisplayName", ""))

    def ordered(ids: Iterable[str]) -> list[str]:
        return sorted(ids, key=lambda c: (name(c).casefold(), int(c) if c.isdigit() else 0), reverse=descending)

    def render_node(cid: str) -> tuple[Doc, list[Decimal]]:
        own = values.get(cid)
        kids = ordered(children.get(cid, ()))
        if not kids:
            assert own is not None
            return data_row([cell(name(cid), cid), *render(own)]), list(own)
        rows: list[Doc] = []
        total = list(own) if own is not None else [ZERO] * width
        if own is not None:
            rows.append(data_row([cell(name(cid), cid), *render(own)]))
        for kid in kids:
            row, sub = render_node(kid)
            rows.append(row)
            total = [a + b for a, b in zip(total, sub, strict=True)]
        header = [cell(name(cid), cid), *[cell("") for _ in range(width)]]
        summary = [cell(f"Total {name(cid)}"), *[cell(money(v)) for v in total]]
        return section(header, rows, summary), total

    rows: list[Doc] = []
    grand = [ZERO] * width
    for root in ordered(children.get(None, ())):
        row, sub = render_node(root)
        rows.append(row)
        grand = [a + b for a, b in zip(grand, sub, strict=True)]
    return rows, grand


def _grand_total(totals: list[Decimal], prefix: list[Doc] | None = None) -> Doc:
    return section(None, [], [cell("TOTAL"), *(prefix or []), *[cell(money(v)) for v in totals]], "GrandTotal")


# -- the reports ----------------------------------------------------------------------------------------------

class Report:
    """One report request: the company, its parameters and the moment it runs."""

    def __init__(self, company: Company, params: Mapping[str, str]) -> None:
        self.company = company
        self.params = params
        self.now = company.clock.now()
        self.today = self.now.date()
        prefs = company.store.get(company.realm, "Preferences", "1") or {}
        home = (prefs.get("CurrencyPrefs") or {}).get("HomeCurrency") or {}
        self.currency = str(home.get("value") or "USD")
        report_prefs = prefs.get("ReportPrefs") or {}
        self.report_basis = str(report_prefs.get("ReportBasis") or "Accrual")
        # Preferences.ReportPrefs.CalcAgingReportFromTxnDate: age invoices from their date, not their due date
        self.age_from_txn_date = report_prefs.get("CalcAgingReportFromTxnDate") in (True, "true")
        self.customers = _customer_filter(params)
        self._items: dict[str, Doc] | None = None

    def header(self, name: str, options: list[tuple[str, str]], **fields: str) -> Doc:
        out: Doc = {"Time": stamp(self.now), "ReportName": name, **fields, "Currency": self.currency}
        if self.customers is not None:
            out["Customer"] = self.params["customer"].strip()
        out["Option"] = [{"Name": k, "Value": v} for k, v in options]
        return out

    def wanted(self, customer_id: str) -> bool:
        return self.customers is None or customer_id in self.customers

    def as_of(self) -> tuple[date, dict[str, str]]:
        when = _date_param(self.params, "report_date")
        if when is None and "end_date" in self.params:
            when = _date_param(self.params, "end_date")
        fields = {} if when is not None else {"DateMacro": "today"}
        return when or self.today, fields

    # -- aging --------------------------------------------------------------------------------------
    def aging(self) -> tuple[date, dict[str, str], int, list[str], list[tuple[OpenItem, int]]]:
        as_of, fields = self.as_of()
        period = _positive_int(self.params, "aging_period", 30)
        count = _positive_int(self.params, "num_periods", 4)
        titles = ["Current"] + [f"{i * period + 1} - {(i + 1) * period}" for i in range(count - 1)]
        titles.append(f"{(count - 1) * period + 1} and over")
        method = self.params.get("aging_method", "").strip() or "Report_Date"
        if method not in ("Report_Date", "Current"):
            raise _bad_param("aging_method", f"aging_method must be Report_Date or Current, not {method!r}")
        aged_on = self.today if method == "Current" else as_of  # the open items are always those of as_of
        raw = self.params.get("past_due", "").strip()
        if raw and not raw.isdigit():
            raise _bad_param("past_due", f"past_due must be a whole number of days, not {raw!r}")
        minimum = int(raw) if raw else None
        placed = []
        for item in open_items(self.company, as_of):
            if not self.wanted(item.customer_id):
                continue
            late = (aged_on - (item.txn_date if self.age_from_txn_date else item.due_date)).days
            if minimum is not None and late < minimum:
                continue
            bucket = 0 if late <= 0 else min((late - 1) // period + 1, count)
            placed.append((item, bucket))
        return as_of, fields, count, titles, placed

    def aged_receivables(self) -> Doc:
        as_of, fields, count, titles, placed = self.aging()
        values: dict[str, list[Decimal]] = {}
        for item, bucket in placed:
            row = values.setdefault(item.customer_id, [ZERO] * (count + 2))
            row[bucket] += item.open
            row[-1] += item.open
        values = {cid: v for cid, v in values.items() if any(x != 0 for x in v)}

        def render(v: list[Decimal]) -> list[Doc]:
            return [cell(money(x) if x != 0 else "") for x in v[:-1]] + [cell(money(v[-1]))]

        rows, grand = customer_rows(self.company, values, render, self.params.get("sort_order") == "descend")
        if not values:
            grand = [ZERO] * (count + 2)
        rows.append(_grand_total(grand))
        keys = ["current", *[str(i) for i in range(count)], "total"]
        columns = [column("", "Customer", "customer")]
        columns += [column(t, "Money", k) for t, k in zip([*titles, "Total"], keys, strict=True)]
        header = self.header("AgedReceivables", [("report_date", as_of.isoformat()),
                                                 ("NoReportData", "false" if values else "true")],
                             **fields, StartPeriod=as_of.isoformat(), EndPeriod=as_of.isoformat())
        return {"Header": header, "Columns": {"Column": columns}, "Rows": {"Row": rows}}

    DETAIL_COLUMNS: ClassVar[dict[str, tuple[str, str]]] = {
        "tx_date": ("Date", "Date"), "txn_type": ("Transaction Type", "String"), "doc_num": ("Num", "String"),
        "cust_name": ("Customer", "String"), "due_date": ("Due Date", "Date"), "past_due": ("Past Due", "Integer"),
        "subt_amount": ("Amount", "Money"), "subt_open_bal": ("Open Balance", "Money"),
    }
    DEFAULT_DETAIL = ("tx_date", "txn_type", "doc_num", "cust_name", "due_date", "subt_amount", "subt_open_bal")

    def aged_receivable_detail(self) -> Doc:
        as_of, fields, _, titles, placed = self.aging()
        asked = [k.strip() for k in self.params.get("columns", "").split(",") if k.strip() in self.DETAIL_COLUMNS]
        keys = asked or list(self.DEFAULT_DETAIL)
        customers = {c["Id"]: c for c in self.company.all("Customer")}
        labels = ["Current", *[f"{t} days past due" for t in titles[1:-1]],
                  f"{titles[-1].split(' ')[0]} or more days past due"]

        def cells(item: OpenItem) -> list[Doc]:
            out = []
            for key in keys:
                if key == "tx_date":
                    out.append(cell(item.txn_date.isoformat()))
                elif key == "txn_type":
                    out.append(cell(item.txn_type, item.txn_id))
                elif key == "doc_num":
                    out.append(cell(item.doc_number))
                elif key == "cust_name":
                    out.append(cell(str(customers.get(item.customer_id, {}).get("DisplayName", "")), item.customer_id))
                elif key == "due_date":
                    out.append(cell(item.due_date.isoformat()))
                elif key == "past_due":
                    out.append(cell(str((as_of - item.due_date).days)))
                elif key == "subt_amount":
                    out.append(cell(money(item.amount)))
                else:
                    out.append(cell(money(item.open)))
            return out

        def sums(items: list[OpenItem], first: str) -> list[Doc]:
            out = []
            for i, key in enumerate(keys):
                if key == "subt_amount":
                    out.append(cell(money(sum((x.amount for x in items), ZERO))))
                elif key == "subt_open_bal":
                    out.append(cell(money(sum((x.open for x in items), ZERO))))
                else:
                    out.append(cell(first if i == 0 else ""))
            return out

        rows: list[Doc] = []
        every: list[OpenItem] = []
        for bucket, label in enumerate(labels):
            items = sorted((i for i, b in placed if b == bucket),
                           key=lambda i: (i.due_date, i.txn_date, i.txn_type, int(i.txn_id)))
            if not items:
                continue
            every += items
            title = [cell(label), *[cell("") for _ in keys[1:]]]
            rows.append(section(title, [data_row(cells(i)) for i in items], sums(items, f"Total for {label}")))
        rows.append(section(None, [], sums(every, "TOTAL"), "GrandTotal"))
        columns = [column(*self.DETAIL_COLUMNS[k], k) for k in keys]
        header = self.header("AgedReceivableDetail", [("report_date", as_of.isoformat()),
                                                      ("NoReportData", "false" if every else "true")],
                             **fields, StartPeriod=as_of.isoformat(), EndPeriod=as_of.isoformat())
        return {"Header": header, "Columns": {"Column": columns}, "Rows": {"Row": rows}}

    def customer_balance(self) -> Doc:
        as_of, fields = self.as_of()
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for item in open_items(self.company, as_of):
            if self.wanted(item.customer_id):
                totals[item.customer_id] += item.open
        values = {cid: [v] for cid, v in totals.items() if v != 0}
        rows, grand = customer_rows(self.company, values, lambda v: [cell(money(v[0]))],
                                    self.params.get("sort_order") == "descend")
        rows.append(_grand_total(grand if values else [ZERO]))
        header = self.header("CustomerBalance", [("report_date", as_of.isoformat()),
                                                 ("NoReportData", "false" if values else "true")],
                             **({"DateMacro": "all"} if fields else {}))
        columns = [column("", "Customer", "customer"), column("Total", "Money", "total")]
        return {"Header": header, "Columns": {"Column": columns}, "Rows": {"Row": rows}}

    # -- balance sheet --------------------------------------------------------------------------------------
    def balance_sheet(self) -> Doc:
        end = _date_param(self.params, "end_date") or _date_param(self.params, "report_date") or self.today
        fiscal = self.fiscal_year_start(end)
        start = _date_param(self.params, "start_date") or fiscal
        if start > end:
            raise _bad_param("start_date", f"start_date {start} is after end_date {end}")
        basis = self.params.get("accounting_method", "").strip() or "Accrual"
        if basis != "Accrual":
            raise _bad_param("accounting_method", f"the emulator computes the BalanceSheet on the Accrual basis only, "
                                                  f"not {basis!r}")
        accounts = {a["Id"]: a for a in self.company.all("Account")}
        undeposited = next((a["Id"] for a in accounts.values() if a.get("AccountSubType") == "UndepositedFunds"), "")

        def dated(entity: str) -> list[Doc]:
            return [d for d in self.company.all(entity)
                    if _txn_date(d) <= end and self.wanted(ref_id(d, "CustomerRef") or "")]

        money_in: dict[str, Decimal] = defaultdict(Decimal)  # deposit account -> balance
        for entity, sign in (("Payment", Decimal(1)), *RECEIPT_DOCS):
            for doc in dated(entity):
                money_in[ref_id(doc, "DepositToAccountRef") or undeposited] += sign * _amount(doc.get("TotalAmt"))
        receivable = sum((i.open for i in open_items(self.company, end) if self.wanted(i.customer_id)), ZERO)
        tax = earlier = this_year = ZERO
        for entity, sign in CREDIT_DOCS + RECEIPT_DOCS:
            for doc in dated(entity):
                tax += sign * _tax(doc)
                income = sign * sum((amount for _, amount in self.income_lines(doc)), ZERO)
                if _txn_date(doc) < fiscal:
                    earlier += income
                else:
                    this_year += income

        def account_rows(kinds: tuple[str, ...]) -> list[tuple[Doc, Decimal]]:
            ids = sorted((a for a, v in money_in.items() if accounts.get(a, {}).get("AccountType") in kinds and v != 0),
                         key=lambda a: str(accounts[a].get("Name", "")).casefold())
            return [(data_row([cell(str(accounts[a]["Name"]), a), cell(money(money_in[a]))]), money_in[a]) for a in ids]

        def group(title: str, name: str, parts: list[tuple[Doc, Decimal]]) -> list[tuple[Doc, Decimal]]:
            """A section of ``parts`` (none if there are none) and its total."""
            if not parts:
                return []
            total = sum((v for _, v in parts), ZERO)
            summary = [cell(f"Total {title}"), cell(money(total))]
            return [(section([cell(title), cell("")], [r for r, _ in parts], summary, name), total)]

        ar_account = next((a for a in accounts.values() if a.get("AccountType") == "Accounts Receivable"), None)
        ar_cell = cell(str(ar_account["Name"]), ar_account["Id"]) if ar_account else cell("Accounts Receivable (A/R)")
        current = (group("Bank Accounts", "BankAccounts", account_rows(("Bank",)))
                   + group("Accounts Receivable", "AR", [(data_row([ar_cell, cell(money(receivable))]), receivable)]
                           if receivable != 0 else [])
                   + group("Other Current Assets", "OtherCurrentAssets", account_rows(("Other Current Asset",))))
        assets = group("Current Assets", "CurrentAssets", current)
        total_assets = sum((v for _, v in assets), ZERO)
        payable = next((a for a in accounts.values()
                        if a.get("AccountSubType") in ("SalesTaxPayable", "GlobalTaxPayable")), None)
        tax_cell = cell(str(payable["Name"]), payable["Id"]) if payable else cell("Sales Tax Payable")
        liabilities = group("Liabilities", "Liabilities", group(
            "Current Liabilities", "CurrentLiabilities",
            group("Other Current Liabilities", "OtherCurrentLiabilities",
                  [(data_row([tax_cell, cell(money(tax))]), tax)] if tax != 0 else [])))
        equity_rows = [(data_row([cell("Retained Earnings"), cell(money(earlier))]), earlier)] if earlier != 0 else []
        equity_rows.append((data_row([cell("Net Income"), cell(money(this_year))]), this_year))
        equity = group("Equity", "Equity", equity_rows)
        total_le = sum((v for _, v in liabilities + equity), ZERO)
        rows = [section([cell("ASSETS"), cell("")], [r for r, _ in assets],
                        [cell("TOTAL ASSETS"), cell(money(total_assets))], "TotalAssets"),
                section([cell("LIABILITIES AND EQUITY"), cell("")], [r for r, _ in liabilities + equity],
                        [cell("TOTAL LIABILITIES AND EQUITY"), cell(money(total_le))], "TotalLiabilitiesAndEquity")]
        header = self.header("BalanceSheet", [("AccountingStandard", "GAAP"),
                                              ("NoReportData", "false" if total_assets or total_le else "true")],
                             ReportBasis=basis, StartPeriod=start.isoformat(), EndPeriod=end.isoformat(),
                             SummarizeColumnsBy="Total")
        columns = [column("", "Account", "account"), column("Total", "Money", "total")]
        return {"Header": header, "Columns": {"Column": columns}, "Rows": {"Row": rows}}

    def fiscal_year_start(self, day: date) -> date:
        """The first day of the fiscal year ``day`` is in (AccountingInfoPrefs.FirstMonthOfFiscalYear)."""
        prefs = self.company.store.get(self.company.realm, "Preferences", "1") or {}
        name = str((prefs.get("AccountingInfoPrefs") or {}).get("FirstMonthOfFiscalYear") or "January")
        months = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
                  "november", "december"]
        first = months.index(name.lower()) + 1 if name.lower() in months else 1
        return date(day.year if day.month >= first else day.year - 1, first, 1)

    # -- income: what a sales document books, by income account ----------------------------------------
    def income_lines(self, doc: Doc) -> list[tuple[str, Decimal]]:
        """(income account id, net amount) per line of a sales document, before its sign: sales lines on
        their item's income account (``UNCATEGORIZED`` without one), discount lines negative on their
        discount account (``DISCOUNTS`` without one). With ``TaxInclusive`` the line amounts include the
        tax, so they are scaled to the document's net (TotalAmt less TotalTax). The amounts always add up
        to TotalAmt less TotalTax, so the books balance."""
        if self._items is None:
            self._items = {i["Id"]: i for i in self.company.all("Item")}
        out: list[tuple[str, Decimal]] = []
        for line in doc.get("Line") or []:
            amount = _amount(line.get("Amount"))
            if line.get("DetailType") == "SalesItemLineDetail":
                item = self._items.get(ref_id(line.get("SalesItemLineDetail") or {}, "ItemRef") or "", {})
                out.append((ref_id(item, "IncomeAccountRef") or UNCATEGORIZED, amount))
            elif line.get("DetailType") == "DiscountLineDetail":
                out.append((ref_id(line.get("DiscountLineDetail") or {}, "DiscountAccountRef") or DISCOUNTS, -amount))
        gross = sum((a for _, a in out), ZERO)
        net = _amount(doc.get("TotalAmt")) - _tax(doc)
        if doc.get("TotalAmt") not in (None, "") and gross != net and gross != 0:
            out = [(account, amount * net / gross) for account, amount in out]
        return out

    # -- profit and loss ----------------------------------------------------------------------------------
    def periods(self, start: date, end: date) -> tuple[str, list[tuple[date, date, str]]]:
        """``summarize_column_by`` and its columns: (first day, last day, title) each; none for Total."""
        by = self.params.get("summarize_column_by", "").strip() or "Total"
        if by == "Total":
            return by, []
        if by not in ("Days", "Week", "Month", "Quarter", "Year"):
            raise _bad_param("summarize_column_by", f"the emulator summarizes by Total, Days, Week, Month, Quarter "
                                                    f"or Year, not {by!r}")
        out: list[tuple[date, date, str]] = []
        day = start
        while day <= end:
            if by == "Days":
                last = day
            elif by == "Week":  # Sunday to Saturday
                last = day + timedelta(days=5 - day.weekday() if day.weekday() < 6 else 6)
            elif by == "Month":
                last = _month_end(day.year, day.month)
            elif by == "Quarter":
                last = _month_end(day.year, (day.month - 1) // 3 * 3 + 3)
            else:
                last = date(day.year, 12, 31)
            last = min(last, end)
            if by == "Days":
                title = f"{day:%b} {day.day}, {day.year}"
            elif by == "Year":
                title = str(day.year)
            elif by == "Month":
                title = f"{day:%b} {day.year}"
            else:
                title = f"{day:%b} {day.day} - {last:%b} {last.day}, {last.year}"
            out.append((day, last, title))
            day = last + timedelta(days=1)
            if len(out) > MAX_COLUMNS:
                raise _bad_param("summarize_column_by", f"{by} over {start} to {end} makes more than {MAX_COLUMNS} "
                                                        "columns; ask for a shorter period")
        return by, out

    def profit_and_loss(self) -> Doc:
        start = _date_param(self.params, "start_date") or self.today.replace(month=1, day=1)
        end = _date_param(self.params, "end_date") or self.today
        if start > end:
            raise _bad_param("start_date", f"start_date {start} is after end_date {end}")
        basis = self.params.get("accounting_method", "").strip() or self.report_basis
        if basis not in ("Accrual", "Cash"):
            raise _bad_param("accounting_method", f"accounting_method must be Cash or Accrual, not {basis!r}")
        by, periods = self.periods(start, end)
        width = max(len(periods), 1)

        def column_of(day: date) -> int:
            return next((i for i, (a, b, _) in enumerate(periods) if a <= day <= b), 0)

        # account id (DISCOUNTS, UNCATEGORIZED: no account) -> amount per column
        income: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO] * width)

        def in_period(doc: Doc) -> bool:
            return start <= _txn_date(doc) <= end and self.wanted(ref_id(doc, "CustomerRef") or "")

        def book(doc: Doc, share: Decimal, when: date) -> None:
            col = column_of(when)
            for account, amount in self.income_lines(doc):
                income[account][col] += amount * share

        for entity, sign in RECEIPT_DOCS + (CREDIT_DOCS if basis == "Accrual" else ()):
            for doc in self.company.all(entity):
                if in_period(doc):
                    book(doc, sign, _txn_date(doc))
        if basis == "Cash":
            signs = dict(CREDIT_DOCS)
            for payment in self.company.all("Payment"):
                if not in_period(payment):
                    continue
                for line in payment.get("Line") or []:
                    for link in line.get("LinkedTxn") or []:
                        entity = str(link.get("TxnType", ""))
                        linked = self.company.get(entity, str(link.get("TxnId", ""))) if entity in signs else None
                        total = _amount(linked.get("TotalAmt")) if linked else ZERO
                        if linked is not None and total != 0:
                            book(linked, signs[entity] * _amount(line.get("Amount")) / total, _txn_date(payment))
        rounded = {k: [cents(x) for x in v] for k, v in income.items()}
        rounded = {k: v for k, v in rounded.items() if any(x != 0 for x in v)}
        return self._pnl_document(start, end, basis, by, periods, rounded)

    def _pnl_document(self, start: date, end: date, basis: str, by: str, periods: list[tuple[date, date, str]],
                      income: dict[str, list[Decimal]]) -> Doc:
        accounts = {a["Id"]: a for a in self.company.all("Account")}
        width = max(len(periods), 1)
        many = bool(periods)  # one column per period, then a Total

        def amounts(v: list[Decimal], data: bool) -> list[Doc]:
            shown = [cell(money(x) if x != 0 or not (data and many) else "") for x in v]
            return [*shown, cell(money(sum(v, ZERO)))] if many else shown

        def blank() -> list[Doc]:
            return [cell("") for _ in range(width + (1 if many else 0))]

        def label(account_id: str) -> str:
            return _account_label(accounts, account_id)

        groups: dict[str, list[str]] = {"Income": [], "OtherIncome": []}
        for account_id in income:
            kind = accounts.get(account_id, {}).get("AccountType")
            groups["OtherIncome" if kind == "Other Income" else "Income"].append(account_id)

        def add(a: list[Decimal], b: list[Decimal]) -> list[Decimal]:
            return [x + y for x, y in zip(a, b, strict=True)]

        def block(title: str, group: str, ids: list[str]) -> tuple[Doc, list[Decimal]]:
            ids = sorted(ids, key=lambda a: label(a).casefold())
            total = [ZERO] * width
            rows = []
            for a in ids:
                total = add(total, income[a])
                name = cell(label(a), a) if a in accounts else cell(label(a))
                rows.append(data_row([name, *amounts(income[a], True)]))
            summary = [cell(f"Total {title}"), *(amounts(total, False) if ids else blank())]
            return section([cell(title), *blank()], rows, summary, group), total

        def line(title: str, values: list[Decimal], group: str) -> Doc:
            return section(None, [], [cell(title), *amounts(values, False)], group)

        income_section, total_income = block("Income", "Income", groups["Income"])
        rows = [income_section, line("Gross Profit", total_income, "GrossProfit"),
                section([cell("Expenses"), *blank()], [], [cell("Total Expenses"), *blank()], "Expenses"),
                line("Net Operating Income", total_income, "NetOperatingIncome")]
        net = total_income
        if groups["OtherIncome"]:
            other, total_other = block("Other Income", "OtherIncome", groups["OtherIncome"])
            rows += [other, line("Net Other Income", total_other, "NetOtherIncome")]
            net = add(net, total_other)
        rows.append(line("Net Income", net, "NetIncome"))
        header = self.header("ProfitAndLoss", [("AccountingStandard", "GAAP"),
                                               ("NoReportData", "false" if income else "true")],
                             ReportBasis=basis, StartPeriod=start.isoformat(), EndPeriod=end.isoformat(),
                             SummarizeColumnsBy=by)
        columns = [column("", "Account", "account")]
        for first, last, title in periods:
            columns.append({"ColTitle": title, "ColType": "Money",
                            "MetaData": [{"Name": "StartDate", "Value": first.isoformat()},
                                         {"Name": "EndDate", "Value": last.isoformat()},
                                         {"Name": "ColKey", "Value": title}]})
        columns.append(column("Total", "Money", "total"))
        return {"Header": header, "Columns": {"Column": columns}, "Rows": {"Row": rows}}


def _account_label(accounts: Mapping[str, Doc], account_id: str) -> str:
    if account_id == DISCOUNTS:
        return DISCOUNTS_GIVEN
    if account_id == UNCATEGORIZED:
        return UNCATEGORIZED_INCOME
    return str(accounts.get(account_id, {}).get("Name", account_id))


def _tax(doc: Doc) -> Decimal:
    return _amount((doc.get("TxnTaxDetail") or {}).get("TotalTax"))


def _month_end(year: int, month: int) -> date:
    return (date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)) - timedelta(days=1)


REPORTS: dict[str, Callable[[Report], Doc]] = {
    "AgedReceivables": Report.aged_receivables,
    "AgedReceivableDetail": Report.aged_receivable_detail,
    "CustomerBalance": Report.customer_balance,
    "BalanceSheet": Report.balance_sheet,
    "ProfitAndLoss": Report.profit_and_loss,
}


def run_report(company: Company, name: str, params: Mapping[str, str]) -> Doc:
    """The report ``name`` for ``company`` (call it inside ``store.lock`` for a consistent view)."""
    make = REPORTS.get(name)
    if make is None:
        if name in NOT_EMULATED:
            raise EmuFault(500, "Unsupported Operation",
                           f"Operation Report {name} is not supported by the emulator (it computes "
                           f"{', '.join(sorted(REPORTS))}).")
        raise faults.unsupported_operation(f"/reports/{name}")
    return make(Report(company, params))


# -- printed forms ------------------------------------------------------------------------------------------

def document_pdf(company: Company, entity: str, raw_id: str) -> bytes:
    """The printed form of one sales document: a small, valid one-page PDF."""
    if entity not in PRINTABLE:
        raise faults.unsupported_operation(f"/{entity.lower()}/{raw_id}/pdf")
    doc = company.read(entity, raw_id)
    info = company.store.get(company.realm, "CompanyInfo", company.realm) or {}
    customers = {c["Id"]: c for c in company.all("Customer")}
    items = {i["Id"]: i for i in company.all("Item")}
    title = PRINTABLE[entity]
    number = str(doc.get("DocNumber") or doc["Id"])
    lines = [str(info.get("CompanyName", "")), "", f"{title.upper()} {number}",
             f"Date: {doc.get('TxnDate', '')}"]
    if doc.get("DueDate"):
        lines.append(f"Due date: {doc['DueDate']}")
    customer = customers.get(ref_id(doc, "CustomerRef") or "", {})
    lines += [f"Bill to: {customer.get('DisplayName', '')}", ""]
    for line in doc.get("Line") or []:
        detail = line.get("SalesItemLineDetail")
        if line.get("DetailType") == "SalesItemLineDetail" and isinstance(detail, dict):
            item = items.get(ref_id(detail, "ItemRef") or "", {})
            what = str(line.get("Description") or item.get("Name", ""))
            qty, price = detail.get("Qty"), detail.get("UnitPrice")
            each = f"  {qty} x {money(_amount(price))}" if qty is not None and price is not None else ""
            lines.append(f"{what}{each}  {money(_amount(line.get('Amount')))}")
        elif line.get("DetailType") == "DiscountLineDetail":
            lines.append(f"Discount  -{money(_amount(line.get('Amount')))}")
        elif line.get("DetailType") == "SubTotalLineDetail":
            lines.append(f"Subtotal  {money(_amount(line.get('Amount')))}")
    tax = (doc.get("TxnTaxDetail") or {}).get("TotalTax")
    if tax not in (None, ""):
        lines.append(f"Tax  {money(_amount(tax))}")
    lines.append(f"Total  {money(_amount(doc.get('TotalAmt')))} {doc.get('CurrencyRef', {}).get('value', '')}".rstrip())
    if "Balance" in doc:
        lines.append(f"Balance due  {money(_amount(doc.get('Balance')))}")
    return render_pdf(f"{title} {number}", lines)


def _pdf_text(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)").replace(b"\r", b" ").replace(
        b"\n", b" ")


def render_pdf(title: str, lines: list[str]) -> bytes:
    """A one-page PDF 1.4 (US Letter, Helvetica 11 pt) with ``lines`` from the top, and ``title`` in Info."""
    text = b"BT /F1 11 Tf 56 736 Td 15 TL\n" + b"".join(b"(" + _pdf_text(line) + b") Tj T*\n"
                                                          for line in lines[:46]) + b"ET\n"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length " + str(len(text)).encode() + b" >>\nstream\n" + text + b"endstream",
        b"<< /Title (" + _pdf_text(title) + b") /Producer (qbo-toolkit QBO emulator) >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {len(objects)} 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)


__all__ = ["NOT_EMULATED", "PRINTABLE", "REPORTS", "OpenItem", "Report", "document_pdf", "open_items", "render_pdf",
           "run_report"]
