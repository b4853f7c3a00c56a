"""The differences explorer, headless, on the planted sample reconciliation (see recon/sample.py).

The controller's methods first (filters, the record view, retry), then the widget driven with
``.value`` and ``Button.click()``: the same results through the controls.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from qbo_toolkit.recon import reconcile
from qbo_toolkit.recon.result import ReconResult
from qbo_toolkit.recon.sample import (
    SAMPLE_AS_OF,
    SAMPLE_DEFAULT_STATE,
    SAMPLE_EXPECTED,
    SAMPLE_INTEGRATION_DATE,
    sample_frames,
)
from qbo_toolkit.ui.explorer import COLUMNS, Explorer, RecordNotFound, RetryRefused, show_explorer

DIFFERENCES = sum(count for name, count in SAMPLE_EXPECTED.items()
                  if name not in ("invoices_not_expected", "payments_not_expected", "pending"))


@pytest.fixture(scope="module")
def result() -> ReconResult:
    work, qbo, links = sample_frames()
    return reconcile(work, qbo, links, as_of=SAMPLE_AS_OF, integration_date=SAMPLE_INTEGRATION_DATE,
                     default_state=SAMPLE_DEFAULT_STATE)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def __call__(self, entity: str, work_id: int) -> None:
        self.calls.append((entity, work_id))


@pytest.fixture
def calls() -> Recorder:
    return Recorder()


@pytest.fixture
def explorer(result: ReconResult, calls: Recorder) -> Explorer:
    return Explorer(result, retry=calls)


# -- the combined table and the filters ----------------------------------------------------------


def test_table_holds_every_difference_once_with_decimal_money(explorer: Explorer) -> None:
    rows = explorer.filter()
    assert list(rows.columns) == list(COLUMNS)
    assert len(rows) == DIFFERENCES == explorer.result.difference_count
    assert rows.index.is_unique
    total = rows.loc["invoices_total:0"]
    assert (total["entity"], total["work_id"], total["qbo_id"], total["number"]) == ("invoice", 2, 202, "W-1002")
    assert total["amount"] == Decimal("250.00") and total["difference"] == Decimal("0.01")
    assert isinstance(total["difference"], Decimal)
    missing = rows.loc["invoices_missing_in_qbo:0"]
    assert missing["difference"] == Decimal("-90.00") and missing["customer"] == "Delta Storage"
    assert set(rows["category"]) == {name for name, count in explorer.result.differences.items() if count}


def test_filter_by_category(explorer: Explorer) -> None:
    rows = explorer.filter(category="invoices_balance")
    assert list(rows.index) == [f"invoices_balance:{i}" for i in range(4)]
    assert list(rows["number"]) == ["W-1002", "W-1003", "W-1004", "W-1005"]
    with pytest.raises(KeyError, match="no category"):
        explorer.filter(category="invoices_typo")


def test_filter_by_customer_substring_ignores_case_and_treats_text_literally(explorer: Explorer) -> None:
    rows = explorer.filter(customer="  cafe> & ")
    assert set(rows["customer"]) == {"Charlie's <Cafe> & Bar"}
    # the customer's own rows and its invoice W-1005, found through invoices_customer
    assert {"customers_fields:1", "customer_balances:2", "invoices_customer:0", "invoices_balance:3"} <= set(rows.index)
    assert explorer.filter(customer="(.*)").empty  # not a regular expression
    assert explorer.filter(customer="delta", category="invoices_missing_in_work").index.tolist() == [
        "invoices_missing_in_work:0"]


def test_filter_by_date_range_includes_both_ends(explorer: Explorer) -> None:
    rows = explorer.filter(date_from=date(2026, 2, 15), date_to=date(2026, 3, 7))
    assert set(rows.index) == {"invoices_missing_in_qbo:0", "invoices_missing_in_work:0", "payments_missing_in_qbo:0"}
    assert rows["date"].between(pd.Timestamp("2026-02-15"), pd.Timestamp("2026-03-07")).all()
    # a timestamp during the last day counts (changed in QBO at 11:00 UTC on 2026-03-31)
    assert "changed_in_qbo:0" in explorer.filter(date_from="2026-03-31", date_to="2026-03-31").index
    # rows without a date are left out once a date is given
    assert "invoices_total:0" not in explorer.filter(date_from=date(2000, 1, 1)).index


def test_filter_by_minimum_amount_either_way(explorer: Explorer) -> None:
    rows = explorer.filter(min_amount=Decimal("25.00"))
    assert rows["difference"].dropna().map(abs).min() >= Decimal("25.00")
    assert {"invoices_balance:2", "invoices_balance:3", "invoices_missing_in_qbo:0", "customer_balances:0"} <= set(
        rows.index)  # -25.00, +25.00, -90.00 (missing in QBO), +60.01
    assert "invoices_total:0" not in rows.index
    assert set(explorer.filter(min_amount="0.01", category="invoices_total").index) == {"invoices_total:0"}
    # all filters together
    both = explorer.filter(category="invoices_balance", customer="charlie", min_amount=25)
    assert list(both.index) == ["invoices_balance:3"]


# -- the record view -----------------------------------------------------------------------------


def test_record_shows_both_sides_and_marks_differences(explorer: Explorer) -> None:
    record = explorer.record("invoices_total:0")
    assert list(record.columns) == ["field", "WORK", "QBO", "differs"]
    by_field = record.set_index("field")
    assert list(by_field.loc["id", ["WORK", "QBO", "differs"]]) == [2, 202, False]
    assert list(by_field.loc["total", ["WORK", "QBO", "differs"]]) == [Decimal("250.00"), Decimal("250.01"), True]

    fields = explorer.record("customers_fields:2").set_index("field")
    assert list(fields.loc["billing_state", ["WORK", "QBO", "differs"]]) == ["NV", "CA", True]

    balances = explorer.record("customer_balances:1").set_index("field")
    assert balances.loc["open balance", "differs"]
    assert not balances.loc["not expected on the other side", "differs"]  # 0.00 on both sides

    date_row = explorer.record("invoices_date:0").set_index("field").loc["date"]
    assert (date_row["WORK"], date_row["QBO"], date_row["differs"]) == (date(2026, 2, 1), date(2026, 2, 2), True)


def test_record_on_one_side_only_has_values_on_that_side(explorer: Explorer) -> None:
    work_only = explorer.record("invoices_missing_in_qbo:0").set_index("field")
    assert work_only.loc["total", "WORK"] == Decimal("90.00") and work_only.loc["total", "QBO"] is None
    assert work_only.loc["id", "differs"]  # no QBO id
    qbo_only = explorer.record("payments_missing_in_work:0").set_index("field")
    assert qbo_only.loc["amount", "QBO"] == Decimal("15.00") and qbo_only.loc["amount", "WORK"] is None


def test_unknown_record_is_a_sentence(explorer: Explorer) -> None:
    with pytest.raises(RecordNotFound, match="no difference 'invoices_total:9'"):
        explorer.record("invoices_total:9")


# -- retry ---------------------------------------------------------------------------------------


def test_send_to_retry_calls_the_sync_with_entity_and_work_id(explorer: Explorer, calls: Recorder) -> None:
    said = explorer.send_to_retry("invoices_total:0")
    assert calls.calls == [("invoice", 2)]
    assert "W-1002" in said and "WORK id 2" in said and said.endswith(".")
    explorer.send_to_retry("payments_amount:0")
    explorer.send_to_retry("customers_fields:0")
    explorer.send_to_retry("changed_in_qbo:0")  # the sync's own entity column
    assert calls.calls[1:] == [("payment", 2), ("customer", 2), ("invoice", 14)]


@pytest.mark.parametrize(("key", "words"), [
    ("invoices_missing_in_work:0", "no WORK id"),
    ("payments_unapplied:0", "no WORK id"),
    ("customers_unlinked:2", "no WORK id"),
    ("aging_buckets:0", "not one WORK record"),
])
def test_send_to_retry_refuses_rows_without_a_work_record(explorer: Explorer, calls: Recorder, key: str,
                                                           words: str) -> None:
    with pytest.raises(RetryRefused, match=words) as refused:
        explorer.send_to_retry(key)
    assert str(refused.value).endswith(".")
    assert calls.calls == []


# -- the widget ----------------------------------------------------------------------------------


def shown_keys(explorer: Explorer) -> list[str]:
    return [key for _, key in explorer.view.selector.options]


def test_widget_filters_drive_the_same_results(explorer: Explorer) -> None:
    view = explorer.view
    assert explorer.widget is view.widget
    assert len(shown_keys(explorer)) == DIFFERENCES and view.messages.text == ""
    view.category.value = "invoices_balance"
    assert shown_keys(explorer) == list(explorer.filter(category="invoices_balance").index)
    view.customer.value = "CHARLIE"
    assert shown_keys(explorer) == ["invoices_balance:3"]
    view.category.value = "__all__"
    view.customer.value = ""
    view.date_from.value = date(2026, 2, 15)
    view.date_to.value = date(2026, 3, 7)
    expected = explorer.filter(date_from=date(2026, 2, 15), date_to=date(2026, 3, 7))
    assert set(shown_keys(explorer)) == set(expected.index)
    view.date_from.value = None
    view.date_to.value = None
    view.min_amount.value = "25"
    assert shown_keys(explorer) == list(explorer.filter(min_amount=Decimal(25)).index)
    view.min_amount.value = "lots"
    assert view.messages.kind == "error" and "not an amount" in view.messages.text
    view.min_amount.value = "1,000"
    assert shown_keys(explorer) == [] and "No difference passes" in view.results.value
    assert view.retry.disabled


def test_widget_escapes_names_and_shows_the_record(explorer: Explorer) -> None:
    view = explorer.view
    assert all(explorer.summary(key) for key in explorer.table.index)
    view.customer.value = "charlie"
    assert "Charlie&#x27;s &lt;Cafe&gt; &amp; Bar" in view.results.value
    assert "<Cafe>" not in view.results.value
    view.selector.value = "customers_fields:1"
    assert "555-0103" in view.record.value and "555-0199" in view.record.value
    assert "≠ differs" in view.record.value
    assert "&lt;Cafe&gt;" in view.summary.value and "<Cafe>" not in view.summary.value
    assert view.messages.text == ""
    view.customer.value = ""
    assert len(shown_keys(explorer)) == DIFFERENCES
    for key in shown_keys(explorer):  # every record of the sample opens without an error
        view.selector.value = key
        assert view.messages.text == "" and view.record.value


def test_widget_retry_button(explorer: Explorer, calls: Recorder) -> None:
    view = explorer.view
    view.category.value = "invoices_tax"
    view.retry.click()
    assert calls.calls == [("invoice", 3)]
    assert view.messages.kind == "info" and "WORK id 3" in view.messages.text
    view.category.value = "invoices_missing_in_work"
    view.retry.click()
    assert calls.calls == [("invoice", 3)]
    assert view.messages.kind == "error" and "no WORK id" in view.messages.text


def test_widget_shows_retry_failures_as_sentences(result: ReconResult) -> None:
    def broken(entity: str, work_id: int) -> Any:
        raise RuntimeError("database is locked")

    explorer = Explorer(result, retry=broken)
    explorer.view.retry.click()
    assert explorer.view.messages.kind == "error" and "database is locked" in explorer.view.messages.text
    explorer.close()


def test_show_explorer_with_a_result_displays_it(result: ReconResult, calls: Recorder,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[Any] = []
    monkeypatch.setattr("IPython.display.display", lambda *objs: shown.extend(objs))
    explorer = show_explorer(result, retry=calls)
    assert shown == [explorer.widget]
    assert len(explorer.filter()) == DIFFERENCES


def test_show_explorer_without_a_result_reconciles_the_live_systems(result: ReconResult,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    class Conn:
        realm_id = "9130"

    def fake_reconcile_live(conn: Any, store: Any, **kwargs: Any) -> ReconResult:
        seen.update(conn=conn, store=store, **kwargs)
        return result

    def fake_retry(entity: str, work_id: int, **kwargs: Any) -> None:
        seen["retry"] = (entity, work_id, kwargs)

    monkeypatch.setattr("qbo_toolkit.connection.connection", lambda realm=None: Conn())
    monkeypatch.setattr("qbo_toolkit.work.store.WorkStore", lambda url=None: f"store:{url}")
    monkeypatch.setattr("qbo_toolkit.recon.api.reconcile_live", fake_reconcile_live)
    monkeypatch.setattr("qbo_toolkit.sync.api.retry", fake_retry)
    explorer = show_explorer(settings={"invoices": False}, work_db="sqlite:///w.db", as_of="2026-03-31",
                             display=False, record=False)  # the fake store keeps no history
    assert seen["store"] == "store:sqlite:///w.db" and seen["as_of"] == date(2026, 3, 31)
    assert seen["settings"].origin == "inline" and seen["settings"].settings.invoices is False
    explorer.send_to_retry("payments_amount:0")
    assert seen["retry"] == ("payment", 2, {"store": "store:sqlite:///w.db", "realm": "9130"})


def test_notebook_is_thin() -> None:
    notebook = json.loads((Path(__file__).parents[2] / "notebooks" / "explore.ipynb").read_text())
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert "parameters" in code[0]["metadata"]["tags"]
    sources = ["".join(cell["source"]) for cell in code]
    assert all(name in sources[0] for name in ("settings", "work_db", "as_of"))
    assert sources[1:] == ["from qbo_toolkit.ui.explorer import show_explorer",
                           "explorer = show_explorer(settings=settings, work_db=work_db, as_of=as_of)"]


def settings_shown(explorer: Explorer) -> str:
    return str(next(w.value for w in explorer.widget.children if "qbo-explorer-settings" in w._dom_classes))


def _live(monkeypatch: pytest.MonkeyPatch, seen: dict[str, Any]) -> None:
    """The live systems faked at their edges; the comparison itself runs on the sample frames with
    whatever settings show_explorer resolved."""
    class Conn:
        realm_id = "9130"

    def reconcile_live(conn: Any, store: Any, **kwargs: Any) -> ReconResult:
        seen.update(kwargs)
        work, qbo, links = sample_frames()
        return reconcile(work, qbo, links, as_of=SAMPLE_AS_OF, integration_date=SAMPLE_INTEGRATION_DATE,
                         default_state=SAMPLE_DEFAULT_STATE, settings=kwargs["settings"])

    from qbo_toolkit.work.store import WorkStore

    monkeypatch.setattr("qbo_toolkit.connection.connection", lambda realm=None: Conn())
    # a real store in memory: the explorer keeps its run in the history there
    monkeypatch.setattr("qbo_toolkit.work.store.WorkStore", lambda url=None: WorkStore("sqlite://"))
    monkeypatch.setattr("qbo_toolkit.recon.api.reconcile_live", reconcile_live)


def test_without_settings_the_explorer_uses_the_apps_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one settings source: what the app saved in the toolkit home, named on screen (an explorer
    opened without settings used none, and nothing on screen said why it found more differences)."""
    from qbo_toolkit.settings import Settings, home_settings_path

    saved = home_settings_path()
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(Settings(integration_date=date(2026, 1, 1)).to_yaml())
    seen: dict[str, Any] = {}
    _live(monkeypatch, seen)
    explorer = show_explorer(display=False)
    assert seen["settings"].origin == "app" and seen["settings"].path == saved
    shown = settings_shown(explorer)
    assert "the app&#x27;s settings" in shown and str(saved) in shown


def test_without_any_settings_the_explorer_says_it_uses_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    _live(monkeypatch, seen)
    explorer = show_explorer(display=False)
    assert seen["settings"].origin == "defaults"
    assert "the default settings (no settings file" in settings_shown(explorer)
