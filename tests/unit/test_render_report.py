"""The report that reads like an accountant's (issue 14, point 5): a summary page first, human headers,
money in the company's currency with separators and negative amounts in parentheses, an aging chart
with an amount axis and the values on its bars, Ids linked to QuickBooks and WORK (no link when there
is nowhere to go), a print stylesheet, and every text escaped."""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal

import pytest

from qbo_toolkit.auth.environments import qbo_app_url
from qbo_toolkit.recon import CATEGORIES, ReconResult, reconcile, to_html
from qbo_toolkit.recon.labels import COLUMN_TITLES, column_title, format_money, qbo_link, work_link
from qbo_toolkit.recon.sample import SAMPLE_AS_OF, SAMPLE_DEFAULT_STATE, SAMPLE_INTEGRATION_DATE, sample_frames
from qbo_toolkit.settings import Settings, SettingsError

PRODUCTION = "https://quickbooks.api.intuit.com/v3"
SANDBOX = "https://sandbox-quickbooks.api.intuit.com/v3"
WORK_URLS = {"invoice": "https://work.example.com/invoices/{id}", "customer": "https://work.example.com/clients/{id}"}


@pytest.fixture(scope="module")
def plain() -> ReconResult:
    work, qbo, links = sample_frames()
    return reconcile(work, qbo, links, as_of=SAMPLE_AS_OF, integration_date=SAMPLE_INTEGRATION_DATE,
                     default_state=SAMPLE_DEFAULT_STATE)


@pytest.fixture(scope="module")
def linked(plain: ReconResult) -> ReconResult:
    return replace(plain, currency="USD", qbo_app_url=qbo_app_url(PRODUCTION, "123145"), work_record_urls=WORK_URLS)


def headers(html: str) -> list[str]:
    return re.findall(r"<th>([^<]*)</th>", html)


# -- money ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("cents", "currency", "symbol", "text"), [
    (0, "", False, "0.00"),
    (5, "", False, "0.05"),
    (-5, "", False, "(0.05)"),
    (123456, "", False, "1,234.56"),
    (-123456, "USD", False, "(1,234.56)"),
    (-123456, "USD", True, "($1,234.56)"),
    (100000000, "GBP", True, "£1,000,000.00"),
    (99, "CAD", True, "$0.99"),
    (100, "nzd", True, "$1.00"),
    (250, "CHF", True, "CHF 2.50"),
    (123456789012345678, "", False, "1,234,567,890,123,456.78"),  # exact far beyond a float's 15 digits
])
def test_money_is_written_the_accountants_way(cents: int, currency: str, symbol: bool, text: str) -> None:
    assert format_money(cents, currency, symbol=symbol) == text


def test_report_money_has_the_currency_separators_and_parentheses(linked: ReconResult, plain: ReconResult) -> None:
    html = to_html(linked)
    assert "Amounts in USD, QuickBooks' home currency" in html
    # totals with the currency's symbol; QBO received 5.00 less than WORK: negative, in parentheses
    assert '<td class="num bad">($5.00)</td>' in html
    assert '<td class="num">$1,228.26</td>' in html
    # tables: the currency in the header, the amounts with separators, negative in parentheses
    assert "Difference, QBO − WORK (USD)" in headers(html)
    assert '<td class="num">(25.00)</td>' in html  # invoice W-1004: QBO 225.00, WORK 250.00
    assert "-25.00" not in html
    # without a known currency the report says so and writes no symbol
    bare = to_html(plain)
    assert "Amounts in the company's currency (QuickBooks did not say which)" in bare
    assert "$" not in bare and "(5.00)" in bare


# -- headers -------------------------------------------------------------------------------------


def test_every_column_has_a_human_title(plain: ReconResult) -> None:
    columns = {c for category in CATEGORIES for c in category.columns}
    columns |= {c for table in plain.tables.values() for c in table.columns}
    assert columns <= set(COLUMN_TITLES), sorted(columns - set(COLUMN_TITLES))
    assert column_title("work_count") == "WORK count"
    assert column_title("qbo_outside_cents", "GBP") == "QBO before integration (GBP)"
    assert column_title("work_id", "GBP") == "WORK Id"  # only money gets the currency


def test_report_headers_are_human(linked: ReconResult) -> None:
    shown = headers(to_html(linked))
    assert "WORK count" in shown and "QBO before integration (USD)" in shown and "Days past due" in shown
    machine = [h for h in shown if "_" in h or h in {"work", "qbo", "bucket", "difference"}]
    assert machine == []


# -- the summary page ----------------------------------------------------------------------------


def test_the_summary_page_comes_first_with_the_verdict_and_what_needs_a_person(linked: ReconResult) -> None:
    html = to_html(linked)
    page = html[html.index('<div class="summary-page">'):html.index("</div>\n\n<h2>Summary by category</h2>")]
    assert html.index('<div class="summary-page">') < html.index("<h2>Charts</h2>") < html.index('id="pending"')
    assert linked.verdict.replace("'", "&#39;") in page
    assert "<h2>What needs a person</h2>" in page and "<h2>Totals</h2>" in page
    # pending per reason with what to do, records never sent, then each difference category with rows
    assert '<span class="count">3</span><a href="#pending">records waiting for a match decision</a>' in page
    assert "decide the match in the app&#39;s match preview" in page
    assert '<span class="count">1</span><a href="#pending">record whose sync failed</a>' in page
    assert "records never sent to QuickBooks</a> (1 customer, 1 invoice, 1 payment)" in page
    assert ('<a href="#invoices_balance">Invoice balance differences</a> <span class="amount">&middot; $70.01 in '
            "absolute differences</span>") in page
    assert 'href="#invoices_number"' not in page  # a category without rows needs nobody


def test_an_agreeing_result_needs_nobody(plain: ReconResult) -> None:
    empty = {name: frame.iloc[:0] for name, frame in plain.frames.items()}
    html = to_html(replace(plain, frames=empty, totals=()))
    assert "✓ WORK and QuickBooks agree." in html
    assert "✓ Nothing: no record is pending and no difference was found." in html


# -- the aging chart -----------------------------------------------------------------------------


def test_the_aging_chart_has_an_amount_axis_and_values_on_the_bars(linked: ReconResult) -> None:
    html = to_html(linked)
    chart = html[html.index('aria-label="A/R aging'):]
    chart = chart[:chart.index("</svg>")]
    assert ">Open amount (USD)</text>" in chart
    ticks = re.findall(r'class="tick">([^<]*)</text>', chart)
    assert ticks == ["$0", "$200", "$400", "$600"]  # round steps up to the largest bucket (548.25)
    values = re.findall(r'class="value" transform="rotate\(-90 [\d.]+ [\d.]+\)">([^<]*)</text>', chart)
    # WORK and QBO per bucket that holds money (61-90 and 91+ are empty: nothing to write on)
    assert values == ["$255.00", "$255.00", "$478.25", "$548.25", "$310.00", "$310.01"]
    assert "$70.00" in chart  # the difference under the 1-30 pair


# -- links ---------------------------------------------------------------------------------------


def test_qbo_app_url_per_environment() -> None:
    assert qbo_app_url(PRODUCTION, "1") == "https://app.qbo.intuit.com/app"
    assert qbo_app_url(SANDBOX + "/", "1") == "https://app.sandbox.qbo.intuit.com/app"
    assert qbo_app_url("http://127.0.0.1:8760/v3", "9341") == "http://127.0.0.1:8760/_emulator/app/9341"
    assert qbo_app_url("https://example.com/v3", "1") is None  # not a QuickBooks we know: no link
    assert qbo_app_url("http://127.0.0.1:8760/v3", "../x") is None


def test_rows_link_to_the_right_record_in_quickbooks_and_work(linked: ReconResult) -> None:
    html = to_html(linked)
    # invoice balance differences: WORK invoice 4 is QBO invoice 204
    assert ('<td><a href="https://work.example.com/invoices/4">4</a></td>'
            '<td><a href="https://app.qbo.intuit.com/app/invoice?txnId=204">204</a></td>') in html
    # a payment links to QBO's payment page; WORK payments have no template here: plain Id
    payments = linked.frame("payments_amount")
    qbo_id, work_id = int(payments["qbo_id"].iloc[0]), int(payments["work_id"].iloc[0])
    assert f'<a href="https://app.qbo.intuit.com/app/recvpayment?txnId={qbo_id}">{qbo_id}</a>' in html
    assert f"<tr><td>{work_id}</td>" in html
    # customers use QBO's customer page
    balances = linked.frame("customer_balances")
    customer = int(balances["qbo_id"].iloc[0])
    assert f'href="https://app.qbo.intuit.com/app/customerdetail?nameId={customer}"' in html
    sandbox = to_html(replace(linked, qbo_app_url=qbo_app_url(SANDBOX, "1")))
    assert 'href="https://app.sandbox.qbo.intuit.com/app/invoice?txnId=204"' in sandbox
    assert "app.qbo.intuit.com" not in sandbox


def test_no_link_without_a_place_to_go(plain: ReconResult) -> None:
    html = to_html(plain)
    assert "<a href=\"http" not in html and "Ids link to" not in html
    assert qbo_link(None, "invoice", 5) is None and qbo_link("https://q/app", "invoice", None) is None
    assert qbo_link("https://q/app", "aging bucket", 5) is None
    assert work_link(None, 5) is None and work_link("https://w/{id}", float("nan")) is None
    assert work_link("https://w/i/{id}", 12) == "https://w/i/12"


def test_hostile_text_in_a_row_is_escaped(linked: ReconResult) -> None:
    frames = dict(linked.frames)
    reason = '<img src=x onerror="alert(1)"> & "quoted"'
    frames["invoices_missing_in_qbo"] = frames["invoices_missing_in_qbo"].assign(reason=reason)
    html = to_html(replace(linked, frames=frames))
    assert "<img" not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &amp; &#34;quoted&#34;" in html
    assert "Charlie&#39;s &lt;Cafe&gt; &amp; Bar" in html


def test_work_record_url_setting_is_strict() -> None:
    assert Settings.from_mapping({"work_record_url": WORK_URLS}).work_record_url == WORK_URLS
    spread = Settings.from_mapping({"work_record_url": "https://w.example.com/{entity}/{id}"}).work_record_url
    assert spread["refund"] == "https://w.example.com/refund/{id}"
    assert Settings().work_record_url == {}
    for bad, said in [("https://w.example.com/invoices/{id}", "needs {entity}"),
                      ({"invoice": "https://w.example.com/invoices"}, "has no {id}"),
                      ({"invoice": "javascript:alert(1)/{id}"}, "is not an http or https URL"),
                      ({"invoices": "https://w.example.com/{id}"}, "did you mean invoice?"),
                      ({"invoice": "https://w.example.com/{number}"}, "{number} is not a placeholder"),
                      (12, "must be a URL")]:
        with pytest.raises(SettingsError) as caught:
            Settings.from_mapping({"work_record_url": bad})
        assert said in str(caught.value), (bad, str(caught.value))


# -- print ---------------------------------------------------------------------------------------


def test_the_print_stylesheet(linked: ReconResult) -> None:
    html = to_html(linked)
    style = html[html.index("@media print {"):html.index("</style>")]
    assert re.search(r"\.summary-page \{ break-after: page; page-break-after: always; \}", style)
    assert "tr, td, th { break-inside: avoid; page-break-inside: avoid; }" in style  # no row cut in two
    assert "thead { display: table-header-group; }" in style  # headers repeat on every page
    assert ".tiles" in style and "display: none" in style  # the clickable tiles are not printed
    assert "a { color: inherit; text-decoration: none; }" in style


def test_tolerance_and_decimal_stay_exact(plain: ReconResult) -> None:
    wide = replace(plain, tolerance=Decimal("0.01"), currency="EUR")
    assert "tolerance 0.01" in to_html(wide) and "€1,228.26" in to_html(wide)


# -- history on the summary page -------------------------------------------------------------------


def test_the_summary_page_says_what_is_new_since_the_last_run(plain: ReconResult) -> None:
    from datetime import timedelta

    from qbo_toolkit.recon.history import History
    from qbo_toolkit.work.store import WorkStore

    store = WorkStore("sqlite://")
    try:
        history = History(store, "123145")
        first = history.record(plain, dates=False)
        assert first.history is not None and first.history.previous_as_of is None
        # a month later: the invoice balance differences are gone, the rest persists
        frames = dict(plain.frames)
        frames["invoices_balance"] = frames["invoices_balance"].iloc[:0]
        later = replace(plain, as_of=plain.as_of + timedelta(days=30), frames=frames)
        second = history.record(later, dates=False)
    finally:
        store.close()
    found = second.history
    assert found is not None and found.counts["resolved"] == 4 and found.counts["new"] == 0
    html = to_html(second)
    page = html[html.index('<div class="summary-page">'):html.index("<h2>Summary by category</h2>")]
    assert "<h2>Since the last run</h2>" in page
    assert found.sentence in page
    assert '<a href="#history-resolved"><b>4</b> resolved</a>' in page
    assert f'<a href="#history-persisting"><b>{found.counts["persisting"]}</b> persisting</a>' in page
    need = found.counts["needs_explanation"]
    assert need and (f'<span class="count">{need}</span><a href="#history-needs_explanation">differences need an '
                     "explanation</a>") in page  # no materiality given: every difference needs one
    assert 'id="history-resolved"' in html  # the links land in the History section
    assert "<h2>Since the last run</h2>" not in to_html(plain)  # a run not recorded has no history


def test_the_explorer_uses_the_same_headers_and_money(linked: ReconResult) -> None:
    from qbo_toolkit.ui.explorer import Explorer

    explorer = Explorer(linked)
    try:
        view = explorer.view
        view.category.value = "invoices_balance"
        table = view.results.value
    finally:
        explorer.close()
    for title in ("WORK Id", "QBO Id", "Amount (USD)", "Difference, QBO − WORK (USD)"):
        assert f">{title}</th>" in table
    assert ">(25.00)</td>" in table and ">-25.00<" not in table
