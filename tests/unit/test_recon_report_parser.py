"""The report parser (``qbo_toolkit.qbo.reports.parse_report``) on replies written from Intuit's
documented report format (Header / Columns / Rows; the AgedReceivables and CustomerBalance samples of
the report reference), plus the variations real replies have: sections for sub-customers, blank
cells, negative amounts in parentheses, thousands separators, a report without data, and cells
that are not amounts.

Expected per fixture (each docstring repeats it):

* ``AGED``: two customers (4 Jane Litigious 37.50 in 91+, 7 Bob's Burgers 100.00 current and
  -20.00 in 1-30), grand total 117.50.
* ``BALANCE_WITH_JOBS``: parent 5 "Kookies" with its own row 10.00 and its job 6 "Kookies:Job A"
  1,250.00 inside a section, customer 8 with a credit (45.00); total 1,215.00.
"""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from qbo_toolkit.errors import QboError
from qbo_toolkit.qbo.reports import AGING_KEYS, parse_report


def _col(title: str, kind: str = "Money") -> dict[str, Any]:
    return {"ColType": kind, "ColTitle": title}


def _row(customer_id: str | None, name: str, *values: str) -> dict[str, Any]:
    first: dict[str, Any] = {"value": name}
    if customer_id is not None:
        first["id"] = customer_id
    return {"ColData": [first, *({"value": v} for v in values)], "type": "Data"}


#: Two customers, one with a credit in 1-30; grand total 117.50.
AGED: dict[str, Any] = {
    "Header": {
        "ReportName": "AgedReceivables", "Currency": "USD", "Time": "2026-03-31T09:09:52-07:00",
        "Option": [{"Name": "report_date", "Value": "2026-03-31"}, {"Name": "NoReportData", "Value": "false"}],
    },
    "Columns": {"Column": [_col("", "Customer"), _col("Current"), _col("1 - 30"), _col("31 - 60"),
                           _col("61 - 90"), _col("91 and over"), _col("Total")]},
    "Rows": {"Row": [
        _row("4", "Jane Litigious", "", "", "", "", "37.50", "37.50"),
        _row("7", "Bob's Burgers", "100.00", "-20.00", "", "", "", "80.00"),
        {"group": "GrandTotal", "type": "Section",
         "Summary": {"ColData": [{"value": "TOTAL"}, {"value": "100.00"}, {"value": "-20.00"}, {"value": "0.00"},
                                 {"value": "0.00"}, {"value": "37.50"}, {"value": "117.50"}]}},
    ]},
}

#: A parent with a job in a section (own row 10.00, job 1,250.00), a credit in parentheses; total 1,215.00.
BALANCE_WITH_JOBS: dict[str, Any] = {
    "Header": {"ReportName": "CustomerBalance", "Currency": "GBP",
               "Option": [{"Name": "report_date", "Value": "2026-03-31"}]},
    "Columns": {"Column": [_col("", "Customer"), _col("Total")]},
    "Rows": {"Row": [
        {"type": "Section",
         "Header": {"ColData": [{"id": "5", "value": "Kookies"}, {"value": ""}]},
         "Rows": {"Row": [_row("5", "Kookies", "10.00"), _row("6", "Job A", "1,250.00")]},
         "Summary": {"ColData": [{"value": "Total Kookies"}, {"value": "1,260.00"}]}},
        _row("8", "Credit Co", "(45.00)"),
        {"group": "GrandTotal", "type": "Section",
         "Summary": {"ColData": [{"value": "TOTAL"}, {"value": "1,215.00"}]}},
    ]},
}


def test_aged_receivables_columns_rows_and_totals() -> None:
    """AGED: two customers, Jane 37.50 in 91+, Bob 100.00 current and -20.00 in 1-30; total 117.50."""
    table = parse_report(AGED)
    assert table.name == "AgedReceivables"
    assert table.keys[1:] == AGING_KEYS
    assert table.money_keys == AGING_KEYS
    assert table.report_date == date(2026, 3, 31)
    assert table.currency == "USD"
    assert not table.no_data
    rows = table.by_id()
    assert set(rows) == {"4", "7"}
    assert rows["4"].label == "Jane Litigious"
    assert rows["4"].amount("91+") == Decimal("37.50")
    assert rows["4"].amount("current") == Decimal("0")  # a blank cell
    assert rows["4"].amounts[1] is None
    assert rows["7"].amount("1-30") == Decimal("-20.00")
    assert table.totals["total"] == Decimal("117.50")
    assert table.sum("total") == table.totals["total"]
    assert table.sum("current") == Decimal("100.00")


def test_sections_keep_each_customer_once_and_parse_money_forms() -> None:
    """BALANCE_WITH_JOBS: parent 5 (10.00) and job 6 (1,250.00) inside a section, 8 with (45.00)."""
    table = parse_report(BALANCE_WITH_JOBS)
    rows = table.by_id()
    assert [r.id for r in table.rows] == ["5", "6", "8"]
    assert rows["6"].section == ("Kookies",)
    assert rows["6"].amount("total") == Decimal("1250.00")
    assert rows["8"].amount("total") == Decimal("-45.00")
    assert table.totals == {"total": Decimal("1215.00")}
    assert table.sum("total") == Decimal("1215.00")


def test_a_section_header_with_amounts_and_no_own_row_counts_once() -> None:
    """A collapsed parent: its section header carries its id and amount, no row inside repeats it."""
    raw = copy.deepcopy(BALANCE_WITH_JOBS)
    section = raw["Rows"]["Row"][0]
    section["Header"]["ColData"][1]["value"] = "10.00"
    section["Rows"]["Row"] = [section["Rows"]["Row"][1]]
    table = parse_report(raw)
    assert [(r.id, r.amount("total")) for r in table.rows][:2] == [("5", Decimal("10.00")), ("6", Decimal("1250.00"))]
    # and with the own row present, the header's amount is not counted again
    raw2 = copy.deepcopy(BALANCE_WITH_JOBS)
    raw2["Rows"]["Row"][0]["Header"]["ColData"][1]["value"] = "1,260.00"
    assert [r.id for r in parse_report(raw2).rows] == ["5", "6", "8"]


def test_no_report_data_is_an_empty_table() -> None:
    raw = {"Header": {"ReportName": "AgedReceivables",
                      "Option": [{"Name": "NoReportData", "Value": "true"}]},
           "Columns": AGED["Columns"], "Rows": {}}
    table = parse_report(raw)
    assert table.no_data and table.rows == () and dict(table.totals) == {}
    assert table.sum("total") == Decimal("0")


def test_numbers_as_json_numbers_and_column_keys_from_metadata() -> None:
    raw = {"Header": {"ReportName": "X"},
           "Columns": {"Column": [_col("", "Customer"),
                                  {"ColType": "Money", "ColTitle": "Open balance",
                                   "MetaData": [{"Name": "ColKey", "Value": "total"}]}]},
           "Rows": {"Row": {"ColData": [{"id": "1", "value": "A"}, {"value": 12.5}]}}}
    table = parse_report(raw)
    assert table.keys[1] == "total"
    assert table.rows[0].amount("total") == Decimal("12.5")


@pytest.mark.parametrize("cell", ["12,34.00", "abc", "1.2.3", "NaN"])
def test_a_cell_that_is_not_an_amount_names_the_report_row_and_column(cell: str) -> None:
    raw = copy.deepcopy(AGED)
    raw["Rows"]["Row"][1]["ColData"][2]["value"] = cell
    with pytest.raises(QboError) as caught:
        parse_report(raw)
    text = str(caught.value)
    assert "AgedReceivables" in text and "Bob's Burgers" in text and "1 - 30" in text and repr(cell) in text


def test_a_reply_without_columns_is_refused() -> None:
    with pytest.raises(QboError, match="no Columns"):
        parse_report({"Header": {"ReportName": "AgedReceivables"}, "Rows": {}})
    with pytest.raises(KeyError):
        parse_report(AGED).rows[0].amount("nonesuch")
