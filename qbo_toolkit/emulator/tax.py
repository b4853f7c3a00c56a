"""Sales tax on sales documents (Invoice, CreditMemo, SalesReceipt, RefundReceipt), per company kind.

:func:`apply_tax` checks each item line's ``TaxCodeRef``, fills ``TxnTaxDetail`` as QBO returns it
(``TxnTaxCodeRef``, ``TotalTax``, one ``TaxLine`` per rate with ``TaxLineDetail.TaxRateRef``,
``PercentBased``, ``TaxPercent``, ``NetAmountTaxable``) and returns the tax to add to the total.

* **US with Automated Sales Tax** (``us-ast``): lines say ``TAX`` or ``NON``; the rates come from the
  ship-to state (else the billing address's, else the company's) through the table in ``kinds.py``.
  An explicit ``TxnTaxDetail.TotalTax`` is honoured and prorated across the rates by their
  percentages (half-up, the last rate takes the remainder). Because an update keeps the stored
  ``TxnTaxDetail`` unless the client clears it, updating amounts does not recompute tax unless
  TxnTaxDetail is cleared (sent null or left out of a full update), as API_FACTS_2025 says of AST.
* **US manual** (``us-manual``): lines say ``TAX`` or ``NON``; one ``TxnTaxDetail.TxnTaxCodeRef``
  (a TaxCode Id) applies to the ``TAX`` lines; an explicit TotalTax is honoured as for AST. Taxable
  lines without a TxnTaxCodeRef (and no explicit TotalTax) are refused (6000).
* **Non-US** (``uk``, ``ca``, ``au``): every item line needs a ``TaxCodeRef`` with the Id of a TaxCode
  (6000 naming the line when it is missing or ``TAX``/``NON``; 2500 when the Id does not exist);
  ``GlobalTaxCalculation`` is ``TaxExcluded`` (default), ``TaxInclusive`` or ``NotApplicable``. The tax
  is always computed (a TotalTax sent is ignored). ``TaxInclusive``: the line amounts sent include
  the tax, so the tax of a rate is ``gross x rate / (100 + rate)`` and TotalAmt is the lines' sum.

Rounding everywhere: per rate, on the sum of the lines with that rate, half-up to the cent.

Strict choices where QBO is uncertain (see the README): a US line without a ``TaxCodeRef`` counts as
``NON`` here (QBO since 2018 treats it as ``TAX``): clients should always send the code.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .faults import EmuFault, business_validation, invalid_reference
from .kinds import AST_STATE_NAMES, AST_STATE_RATES, CompanyKind

Doc = dict[str, Any]
Lookup = Callable[[str, str], Doc | None]
CENT = Decimal("0.01")
PSEUDO_CODES = ("TAX", "NON")
TAX_CALCULATIONS = ("TaxExcluded", "TaxInclusive", "NotApplicable")


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _number(value: Any, element: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        raise EmuFault(2010, "Invalid Number", f"Invalid number supplied: {value!r}", element) from None
    if not amount.is_finite():
        raise EmuFault(2010, "Invalid Number", f"Invalid number supplied: {value!r}", element)
    return amount


def _ref_value(obj: Any) -> str | None:
    if isinstance(obj, dict) and obj.get("value") not in (None, ""):
        return str(obj["value"]).strip()
    if isinstance(obj, str | int) and obj != "":
        return str(obj).strip()
    return None


def pseudo_tax_code(code_id: str, created: str) -> Doc | None:
    """The TaxCode a US company answers for the pseudo code ``TAX`` or ``NON`` (not stored: stored Ids are
    numeric), or None for any other Id. ``created`` is the MetaData time to show."""
    code_id = code_id.strip().upper()
    if code_id not in PSEUDO_CODES:
        return None
    return {"domain": "QBO", "sparse": False, "Id": code_id, "SyncToken": "0", "Name": code_id,
            "Description": "TAX" if code_id == "TAX" else "Non-Taxable", "Active": True, "Hidden": False,
            "Taxable": code_id == "TAX", "TaxGroup": False,
            "MetaData": {"CreateTime": created, "LastUpdatedTime": created}}


def code_rates(code: Doc, lookup: Lookup) -> list[Doc]:
    """The sales TaxRate documents of a TaxCode, in order."""
    details = ((code.get("SalesTaxRateList") or {}).get("TaxRateDetail")) or []
    rates = []
    for detail in details:
        rate_id = _ref_value(detail.get("TaxRateRef"))
        rate = lookup("TaxRate", rate_id) if rate_id else None
        if rate is not None:
            rates.append(rate)
    return rates


def rates_by_name(names: tuple[str, ...], all_rates: list[Doc]) -> list[Doc]:
    by_name = {r["Name"]: r for r in all_rates}
    return [by_name[n] for n in names if n in by_name]


def _tax_line(rate: Doc, amount: Decimal, base: Decimal) -> Doc:
    return {"Amount": amount, "DetailType": "TaxLineDetail",
            "TaxLineDetail": {"TaxRateRef": {"value": rate["Id"]}, "PercentBased": True,
                              "TaxPercent": Decimal(str(rate["RateValue"])), "NetAmountTaxable": _cents(base)}}


def _prorate(total: Decimal, rates: list[Doc]) -> list[Decimal]:
    """Split ``total`` across ``rates`` by their percentages (half-up; the last takes the remainder)."""
    pcts = [Decimal(str(r["RateValue"])) for r in rates]
    whole = sum(pcts, Decimal(0))
    if whole == 0:
        return [total] + [Decimal(0)] * (len(rates) - 1)
    shares = [_cents(total * p / whole) for p in pcts[:-1]]
    return [*shares, _cents(total - sum(shares, Decimal(0)))]


def _explicit_total(detail: Doc) -> Decimal | None:
    if "TotalTax" not in detail or detail["TotalTax"] in (None, ""):
        return None
    total = _cents(_number(detail["TotalTax"], "TxnTaxDetail.TotalTax"))
    if total < 0:
        raise business_validation("The tax amount cannot be negative.", "TxnTaxDetail.TotalTax")
    return total


def apply_tax(kind: CompanyKind, doc: Doc, item_lines: list[tuple[int, Doc]], lookup: Lookup,
              all_rates: list[Doc], all_codes: list[Doc], company_state: str) -> tuple[Decimal, bool]:
    """Fill ``doc["TxnTaxDetail"]`` and the lines' tax codes; (tax, amounts include tax).

    ``item_lines`` are (request index, line) of the SalesItemLineDetail lines that carry an item.
    """
    detail = doc.get("TxnTaxDetail")
    if not isinstance(detail, dict):
        detail = {}
    if kind.us:
        return _us_tax(kind, doc, detail, item_lines, lookup, all_rates, all_codes, company_state), False
    return _non_us_tax(doc, detail, item_lines, lookup)


def _line_detail(line: Doc) -> Doc:
    detail = line.get("SalesItemLineDetail")
    return detail if isinstance(detail, dict) else {}


def _us_tax(kind: CompanyKind, doc: Doc, detail: Doc, item_lines: list[tuple[int, Doc]], lookup: Lookup,
            all_rates: list[Doc], all_codes: list[Doc], company_state: str) -> Decimal:
    taxable = Decimal(0)
    for index, line in item_lines:
        sales = _line_detail(line)
        code = (_ref_value(sales.get("TaxCodeRef")) or "NON").upper()
        if code not in PSEUDO_CODES:
            raise business_validation(
                f"Line {index + 1}: a US company's line takes the tax code TAX or NON, not {code!r}; the rate "
                "comes from " + ("the ship-to address." if kind.ast else "TxnTaxDetail.TxnTaxCodeRef."),
                f"Line[{index}].SalesItemLineDetail.TaxCodeRef")
        sales["TaxCodeRef"] = {"value": code}
        if code == "TAX":
            taxable += Decimal(str(line["Amount"]))
    explicit = _explicit_total(detail)
    out: Doc = {}
    if kind.ast:
        state = ""
        for key in ("ShipAddr", "BillAddr"):
            addr = doc.get(key)
            if isinstance(addr, dict) and addr.get("CountrySubDivisionCode"):
                state = str(addr["CountrySubDivisionCode"]).strip().upper()
                break
        state = state or company_state.upper()
        state = AST_STATE_NAMES.get(state, state)
        rates = rates_by_name(AST_STATE_RATES.get(state, ()), all_rates)
        code_doc = None
        if rates:
            code_doc = next((c for c in all_codes
                             if [r["Id"] for r in code_rates(c, lookup)] == [r["Id"] for r in rates]), None)
    else:
        code_id = _ref_value(detail.get("TxnTaxCodeRef"))
        code_doc = None
        if code_id is not None:
            code_doc = lookup("TaxCode", code_id) if code_id.isdigit() else None
            if code_doc is None:
                raise invalid_reference("TxnTaxDetail.TxnTaxCodeRef")
        elif taxable != 0 and explicit is None:
            raise business_validation(
                "This company charges sales tax with one tax code per transaction: send "
                "TxnTaxDetail.TxnTaxCodeRef (the Id of a TaxCode) for the lines marked TAX.",
                "TxnTaxDetail.TxnTaxCodeRef")
        rates = code_rates(code_doc, lookup) if code_doc is not None else []
    if explicit is not None:
        total = explicit
        amounts = _prorate(total, rates) if rates else []
    else:
        amounts = [_cents(taxable * Decimal(str(r["RateValue"])) / 100) for r in rates] if taxable else []
        total = _cents(sum(amounts, Decimal(0)))
    # an untaxed AST sale carries no code (the recorded reply: TxnTaxDetail {"TotalTax": 0}); a manual one
    # keeps the code it was given
    if code_doc is not None and (kind.manual or taxable != 0 or total != 0):
        out["TxnTaxCodeRef"] = {"value": code_doc["Id"]}
    out["TotalTax"] = total
    if amounts and (taxable != 0 or total != 0):
        out["TaxLine"] = [_tax_line(rate, amount, taxable) for rate, amount in zip(rates, amounts, strict=True)]
    doc["TxnTaxDetail"] = out
    return total


def _non_us_tax(doc: Doc, detail: Doc, item_lines: list[tuple[int, Doc]],
                lookup: Lookup) -> tuple[Decimal, bool]:
    calc = doc.get("GlobalTaxCalculation") or "TaxExcluded"
    if calc not in TAX_CALCULATIONS:
        raise EmuFault(2170, "Invalid Enumeration", f"Invalid Enumeration : {calc}", "GlobalTaxCalculation")
    doc["GlobalTaxCalculation"] = calc
    bases: dict[str, Decimal] = {}
    rate_docs: dict[str, Doc] = {}
    codes_used: list[str] = []
    for index, line in item_lines:
        sales = _line_detail(line)
        element = f"Line[{index}].SalesItemLineDetail.TaxCodeRef"
        code_id = _ref_value(sales.get("TaxCodeRef"))
        if code_id is None:
            if calc == "NotApplicable":
                continue
            raise business_validation(
                f"Line {index + 1}: every line needs a tax code in this company: send "
                "SalesItemLineDetail.TaxCodeRef with the Id of a TaxCode.", element)
        if code_id.upper() in PSEUDO_CODES:
            raise business_validation(
                f"Line {index + 1}: {code_id.upper()} is not a tax code in this company (it is only for US "
                "companies): send SalesItemLineDetail.TaxCodeRef with the Id of a TaxCode.", element)
        code = lookup("TaxCode", code_id) if code_id.isdigit() else None
        if code is None:
            raise invalid_reference(element)
        if code.get("Active") is False:
            raise EmuFault(610, "Object Not Found",
                           f"Something you're trying to use has been made inactive: tax code {code['Name']}.",
                           element)
        sales["TaxCodeRef"] = {"value": code["Id"]}
        if code["Id"] not in codes_used:
            codes_used.append(code["Id"])
        if calc == "NotApplicable":
            continue
        for rate in code_rates(code, lookup):
            bases[rate["Id"]] = bases.get(rate["Id"], Decimal(0)) + Decimal(str(line["Amount"]))
            rate_docs[rate["Id"]] = rate
    lines = []
    total = Decimal(0)
    inclusive = calc == "TaxInclusive"
    for rate_id, base in bases.items():
        pct = Decimal(str(rate_docs[rate_id]["RateValue"]))
        if inclusive:
            amount = _cents(base * pct / (100 + pct))
            net = base - amount
        else:
            amount = _cents(base * pct / 100)
            net = base
        total += amount
        lines.append(_tax_line(rate_docs[rate_id], amount, net))
    out: Doc = {}
    if len(codes_used) == 1:
        out["TxnTaxCodeRef"] = {"value": codes_used[0]}
    out["TotalTax"] = total
    if lines:
        out["TaxLine"] = lines
    doc["TxnTaxDetail"] = out
    del detail  # a TotalTax sent by the client is not honoured outside the US (always computed)
    return total, inclusive
