"""The reconciliation report printed to PDF by a real browser (issue 14, point 5: "a print
stylesheet so the browser prints it as a clean PDF").

A small demo business is synced to a real emulator and reconciled twice through the history (month
ends, a WORK client's e-mail changed in between and not synced), with the QBO tie-out and WORK record
links on: the report then has its "since the last run" part, history tables, the widest table (the
tie-out, ten columns), an unbreakable long e-mail address in a table cell, and Ids linked to QBO and
WORK. Playwright drives Debian's Chromium (as ``tests/browser``; never ``playwright install``):
``page.pdf()`` on A4 and Letter with the browser's defaults (no "background graphics"), read back
with pypdf, and ``emulate_media("print")`` for what only the DOM can say.

What the print must do, each checked so that it can fail:

* the summary page comes first, on a page of its own: verdict, "since the last run", "what needs a
  person" and the totals on page 1, the charts and tables after it;
* nothing interactive is printed (the category tiles and their heading, buttons, inputs, closed
  ``<details>``, sticky or scrolling boxes) and nothing holding a difference is hidden;
* nothing is wider than the printable width (tables, charts and their labels, text in its box), also
  for every category's table of the toolkit's sample reconciliation; the long e-mail address and the
  last column are in the PDF, and long words wrap without breaking an amount, a name or a column
  title inside a word;
* table headers repeat on every page a table spans; rows are never split;
* Ids print as plain text (black, not underlined, no URL written after them) and stay clickable
  links to the right record in the PDF;
* the colours that carry meaning print (the verdict box, the header shading) and are backed by
  text (✓ / ✗);
* the page count is sane: many rows a page, not a page per row (a category with no row is one line).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import json
import os
import re
from collections.abc import Iterator
from datetime import date
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from qbo_toolkit.settings import Settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
INTEGRATION = date(2026, 1, 1)
FIRST, SECOND = date(2026, 3, 31), date(2026, 4, 30)
WORK_URLS = {"invoice": "https://work.example.com/invoices/{id}", "customer": "https://work.example.com/clients/{id}"}
SETTINGS = Settings(invoices=True, revenue_account="1", item_account="9", payments=True, deposit_account="4",
                    integration_date=INTEGRATION, name_policy="fix", existing_items="use_as_is",
                    work_record_url=WORK_URLS)
#: An address with no place to break a line: it must wrap inside its cell, not widen the table.
LONG_EMAIL = ("accounts.payable.department.for.the.whole.north.county.region"
              "@larkspurlandscapingandrepairservicesforthewholenorthcountyregion.example.com")
#: Printable width in CSS px (96 per inch) with the stylesheet's 12 mm side margins.
PAPER = {"A4": (210.0 - 24.0) / 25.4 * 96, "Letter": (215.9 - 24.0) / 25.4 * 96}
#: The verdict box's background when it is not in agreement (template: .verdict.bad / .pending).
VERDICT_BACKGROUNDS = {"bad": "#fdecea", "pending": "#fff4e5"}

_missing = [what for what, ok in (
    (f"{CHROMIUM} (apt-get install -y chromium)", os.path.exists(CHROMIUM)),
    ("the playwright package", importlib.util.find_spec("playwright") is not None),
    ("the pypdf package", importlib.util.find_spec("pypdf") is not None),
) if not ok]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(_missing), reason="the print test needs " + ", ".join(_missing)
                       + ": run scripts/browser-deps.sh and pip install -e '.[dev]'"),
]


# ============================================================================================ fixtures


@dataclasses.dataclass
class Report:
    path: Path
    html: str
    qbo_app_url: str
    verdict_class: str
    tieout_customers: list[str]
    #: every amount written in a table cell (``td.num``), as the HTML writes it
    amounts: set[str]
    #: every column title
    headers: set[str]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Report]:
    """report.html of the second of two recorded reconciliations of a synced demo business."""
    from qbo_toolkit.connection import connect_headless
    from qbo_toolkit.emulator import EmulatorConfig, serve
    from qbo_toolkit.qbo.transport import reset_limiters
    from qbo_toolkit.recon import reconcile_live, to_html
    from qbo_toolkit.recon.history import History
    from qbo_toolkit.sync.engine import SyncEngine
    from qbo_toolkit.sync.state import SyncState
    from qbo_toolkit.work.demo import generate_demo
    from qbo_toolkit.work.store import WorkStore

    folder = tmp_path_factory.mktemp("report-print")
    with pytest.MonkeyPatch.context() as mp, serve(EmulatorConfig(auto_approve=True, time_scale=60.0)) as emu:
        for name in [n for n in os.environ if n.startswith("QBO_")]:
            mp.delenv(name)
        mp.setenv("QBO_TOOLKIT_HOME", str(folder / "home"))
        mp.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the emulator is loopback only
        (folder / "emulator.json").write_text(json.dumps(emu.info))
        mp.setenv("QBO_EMULATOR_INFO", str(folder / "emulator.json"))
        reset_limiters()
        conn = connect_headless()
        store = WorkStore(f"sqlite:///{folder / 'work.sqlite3'}")
        try:
            generate_demo(store, clients=70, invoices=160, payments=100, integration_date=INTEGRATION)
            SyncEngine(store, conn.client, SETTINGS).run()
            history = History(store, conn.realm_id)
            history.record(reconcile_live(conn, store, as_of=FIRST, settings=SETTINGS, tie_out=True))
            linked = SyncState(store, conn.realm_id).links("customer")
            client = next(c for c in store.clients() if c.active and c.id in linked)
            store.update_client(client.id, email=LONG_EMAIL)  # not synced: a new difference
            result = history.record(reconcile_live(conn, store, as_of=SECOND, settings=SETTINGS, tie_out=True))
        finally:
            store.close()
            reset_limiters()
    assert result.history is not None and result.history.counts["new"] >= 1
    assert result.counts["customers_fields"] >= 1 and len(result.tables["tieout"]) >= 50
    assert result.qbo_app_url
    html = to_html(result)
    path = folder / "report.html"
    path.write_text(html, encoding="utf-8")
    verdict = "ok" if result.in_agreement else ("pending" if result.pending_count and not result.difference_count
                                                 else "bad")
    names = [" ".join(str(n).split()) for n in result.tables["tieout"]["name"] if str(n).strip()]
    amounts = {unescape(a) for a in re.findall(r'<td class="num[^"]*">([^<]*\d\.\d\d[^<]*)</td>', html)}
    headers = {unescape(h) for h in re.findall(r"<th>([^<]+)</th>", html)}
    yield Report(path, html, result.qbo_app_url, verdict, names, amounts, headers)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def pdfs(browser: Any, report: Report) -> dict[str, Any]:
    """The report printed on A4 and on Letter, as the browser's Print to PDF does by default (no
    background graphics, the stylesheet's margins): ``{"A4": PdfReader, "Letter": PdfReader}``."""
    from pypdf import PdfReader

    page = browser.new_page()
    page.goto(report.path.as_uri())
    printed = {}
    for paper in PAPER:
        data = page.pdf(format=paper)
        (report.path.parent / f"report-{paper}.pdf").write_bytes(data)
        printed[paper] = PdfReader(io.BytesIO(data))
    page.close()
    return printed


@pytest.fixture
def print_page(browser: Any, report: Report) -> Iterator[Any]:
    """The report in print media, its viewport as wide as A4's printable width (the narrower paper)."""
    page = browser.new_page(viewport={"width": int(PAPER["A4"]), "height": 1000})
    page.emulate_media(media="print")
    page.goto(report.path.as_uri())
    yield page
    page.close()


def texts(reader: Any) -> list[str]:
    return [" ".join((p.extract_text() or "").split()) for p in reader.pages]


def squeeze(text: str) -> str:
    """Text without any whitespace: a value wrapped over lines in the PDF still matches."""
    return re.sub(r"\s+", "", text)


# ============================================================================================ tests


@pytest.mark.parametrize("paper", list(PAPER))
def test_the_summary_page_comes_first_on_a_page_of_its_own(report: Report, pdfs: dict[str, Any], paper: str) -> None:
    pages = texts(pdfs[paper])
    first = pages[0]
    assert "WORK and QuickBooks reconciliation" in first
    assert "✗" in first or "✓" in first  # the verdict, as text
    for part in ("Since the last run", "What needs a person", "Totals", "Open receivables",
                 "Difference (QBO − WORK)"):
        assert part in first, f"{part!r} is not on page 1 of the {paper} PDF:\n{first}"
    # the sentence since the last run and every item that needs a person, whole, as the HTML has them
    summary = report.html[:report.html.index("<h2>Summary by category</h2>")]
    since = re.findall(r'<p class="since">(.*?)</p>', summary, re.S)
    items = re.findall(r"<li class=\"(?:pending|difference)\">(.*?)</li>", summary, re.S)
    assert len(since) == 1 and items, summary
    for html in [*since, *items]:
        text = squeeze(unescape(re.sub(r"<[^>]+>", "", html)))
        assert text in squeeze(first), f"not on page 1 of the {paper} PDF: {text}"
    # and nothing of the rest: the charts and the tables start on page 2
    for later in ("A/R aging as of", "Differences by category", "Pending (not yet in agreement)"):
        assert later not in first, f"{later!r} is on the summary page of the {paper} PDF"
    assert "A/R aging as of" in pages[1], pages[1]


def test_nothing_interactive_is_printed_and_nothing_is_hidden(print_page: Any, pdfs: dict[str, Any]) -> None:
    shown = print_page.evaluate("""() => {
        const visible = e => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden';
        const out = {controls: [], sticky: [], scrolling: [], closed: [], hiddenRows: 0, rows: 0, tiles: []};
        for (const e of document.querySelectorAll('button, input, select, textarea, [role=button]'))
            if (visible(e)) out.controls.push(e.outerHTML.slice(0, 80));
        for (const e of document.querySelectorAll('.tiles, .tile')) if (visible(e)) out.tiles.push(e.className);
        for (const e of document.querySelectorAll('h2'))
            if (visible(e) && e.textContent.includes('Summary by category')) out.tiles.push('heading');
        for (const e of document.querySelectorAll('details:not([open])')) out.closed.push(e.outerHTML.slice(0, 80));
        for (const e of document.querySelectorAll('body *')) {
            const s = getComputedStyle(e);
            if (s.position === 'sticky' || s.position === 'fixed') out.sticky.push(e.tagName + '.' + e.className);
            if (['auto', 'scroll'].includes(s.overflowX) || ['auto', 'scroll'].includes(s.overflowY))
                out.scrolling.push(e.tagName + '.' + e.className);
        }
        for (const tr of document.querySelectorAll('tbody tr')) { out.rows++; if (!visible(tr)) out.hiddenRows++; }
        return out;
    }""")
    assert shown["controls"] == [], shown["controls"]
    assert shown["tiles"] == [], f"the category tiles (links drawn as buttons) are printed: {shown['tiles']}"
    assert shown["closed"] == [] and shown["sticky"] == [] and shown["scrolling"] == [], shown
    assert shown["rows"] > 50 and shown["hiddenRows"] == 0, shown
    whole = " ".join(texts(pdfs["A4"]))
    assert "Summary by category" not in whole


#: In print media: what runs past the printable width. Tables and charts (and each chart's texts)
#: must end inside it; a paragraph, list item or cell must hold its text (a long word not wrapped
#: makes its scrollWidth larger than its box).
_OVERFLOWS = """() => {
    const page = document.documentElement.clientWidth, out = [];
    for (const e of document.querySelectorAll('table, svg, svg text, p, li, h1, h2, h3, td, th')) {
        const right = Math.ceil(e.getBoundingClientRect().right);
        const inner = e instanceof HTMLElement && e.tagName !== 'TABLE' && e.scrollWidth > e.clientWidth + 1;
        if (right > page + 1 || inner || (e.tagName === 'TABLE' && e.scrollWidth > page + 1))
            out.push({tag: e.tagName, text: (e.textContent || '').trim().slice(0, 60), right, page,
                      scroll: e.scrollWidth, client: e.clientWidth});
    }
    return out;
}"""


def overflows(browser: Any, path: Path, paper: str) -> list[dict[str, Any]]:
    page = browser.new_page(viewport={"width": int(PAPER[paper]), "height": 1000})
    page.emulate_media(media="print")
    page.goto(path.as_uri())
    found: list[dict[str, Any]] = page.evaluate(_OVERFLOWS)
    page.close()
    return found


@pytest.mark.parametrize("paper", list(PAPER))
def test_no_table_is_wider_than_the_page(browser: Any, report: Report, pdfs: dict[str, Any], paper: str) -> None:
    wide = overflows(browser, report.path, paper)
    assert not wide, f"wider than the printable width of {paper} ({int(PAPER[paper])} px): {wide[:5]}"
    whole = squeeze(" ".join(texts(pdfs[paper])))
    # the long address (a table's last column, no place to break) and the tie-out's last column
    assert squeeze(LONG_EMAIL) in whole, f"the long e-mail address is cut off in the {paper} PDF"
    assert "Balancereportdifference" in whole
    # a long value wraps, but an amount is never broken over two lines
    spaced = " ".join(texts(pdfs[paper]))
    amounts = {a for a in report.amounts if a not in spaced}
    assert not amounts, f"amounts broken over lines (or missing) in the {paper} PDF: {sorted(amounts)[:10]}"
    names = {n for n in report.tieout_customers if n not in spaced}
    assert not names, f"names broken inside a word (or missing) in the {paper} PDF: {sorted(names)[:10]}"
    headers = {h for h in report.headers if h not in spaced}
    assert not headers, f"column titles broken inside a word (or missing) in the {paper} PDF: {sorted(headers)}"


@pytest.mark.parametrize("paper", list(PAPER))
def test_no_table_of_any_category_is_wider_than_the_page(browser: Any, tmp_path: Path, paper: str) -> None:
    """The toolkit's sample reconciliation has rows in nearly every category: each table fits too."""
    from qbo_toolkit.recon import reconcile, to_html
    from qbo_toolkit.recon.sample import SAMPLE_AS_OF, SAMPLE_DEFAULT_STATE, SAMPLE_INTEGRATION_DATE, sample_frames

    work, qbo, links = sample_frames()
    result = reconcile(work, qbo, links, as_of=SAMPLE_AS_OF, integration_date=SAMPLE_INTEGRATION_DATE,
                       default_state=SAMPLE_DEFAULT_STATE)
    assert sum(1 for count in result.counts.values() if count) >= 20
    path = tmp_path / "sample.html"
    path.write_text(to_html(result), encoding="utf-8")
    wide = overflows(browser, path, paper)
    assert not wide, f"wider than the printable width of {paper} ({int(PAPER[paper])} px): {wide[:5]}"


def test_table_headers_repeat_and_rows_are_never_split(print_page: Any, report: Report,
                                                        pdfs: dict[str, Any]) -> None:
    styles = print_page.evaluate("""() => ({
        thead: [...new Set([...document.querySelectorAll('thead')].map(e => getComputedStyle(e).display))],
        tr: [...new Set([...document.querySelectorAll('tr')].map(e => getComputedStyle(e).breakInside))],
    })""")
    assert styles == {"thead": ["table-header-group"], "tr": ["avoid"]}, styles
    # the tie-out table spans pages: its header is printed on each of them
    assert report.tieout_customers
    pages = texts(pdfs["A4"])
    start = next(i for i, text in enumerate(pages) if "A/R tie-out to QBO's reports" in text)
    end = next(i for i in range(start, len(pages)) if "Pending (not yet in agreement)" in pages[i])
    # the pages holding the tie-out's rows (on the last one, the text before the next section)
    spanned = [i for i in range(start, end + 1)
               if any(name in pages[i].split("Pending (not yet in agreement)")[0] for name in report.tieout_customers)]
    assert len(spanned) >= 2, f"the tie-out table fits one page ({len(report.tieout_customers)} rows): no check"
    for i in spanned:
        assert "QBO customer balance report" in pages[i], f"page {i + 1} continues a table without its header"


def test_ids_print_as_plain_text_and_stay_links_in_the_pdf(print_page: Any, report: Report,
                                                           pdfs: dict[str, Any]) -> None:
    look = print_page.evaluate("""() => {
        const a = document.querySelector('td a[href^="http"]'); const td = a.closest('td');
        const after = getComputedStyle(a, '::after').content;
        return {colour: getComputedStyle(a).color, cell: getComputedStyle(td).color,
                line: getComputedStyle(a).textDecorationLine, after};
    }""")
    assert look["colour"] == look["cell"] and look["line"] == "none", look
    assert look["after"] in ("none", "normal", ""), look
    whole = " ".join(texts(pdfs["A4"]))
    assert "http" not in whole, "a URL is written on paper"
    uris: list[str] = []
    for page in pdfs["A4"].pages:
        for annotation in page.get("/Annots") or []:
            action = annotation.get_object().get("/A")
            if action is not None and "/URI" in action:
                uris.append(str(action["/URI"]))
    assert any(u.startswith(f"{report.qbo_app_url}/") for u in uris), uris[:5]
    assert any(u.startswith("https://work.example.com/invoices/") for u in uris), uris[:5]
    assert all(f'href="{u}"' in report.html.replace("&amp;", "&") for u in uris if u.startswith("http"))


def _fills(page: Any) -> set[tuple[float, ...]]:
    """Every RGB fill colour a PDF page sets (``r g b rg``), rounded to 2 places."""
    data = page.get_contents().get_data().decode("latin-1")
    return {tuple(round(float(v), 2) for v in m) for m in re.findall(r"([\d.]+) ([\d.]+) ([\d.]+) rg\b", data)}


def _rgb(hex_colour: str) -> tuple[float, ...]:
    return tuple(round(int(hex_colour[i:i + 2], 16) / 255, 2) for i in (1, 3, 5))


def test_colours_that_carry_meaning_print(print_page: Any, report: Report, pdfs: dict[str, Any]) -> None:
    # the browser drops backgrounds when printing unless the element asks to keep them
    adjust = print_page.evaluate("""() => ['.verdict', 'th']
        .map(s => getComputedStyle(document.querySelector(s)).printColorAdjust)""")
    assert adjust == ["exact", "exact"], adjust
    first = pdfs["A4"].pages[0]
    if report.verdict_class in VERDICT_BACKGROUNDS:  # the demo leaves held matches: not in agreement
        assert _rgb(VERDICT_BACKGROUNDS[report.verdict_class]) in _fills(first), (
            f"the verdict's {report.verdict_class} background is not printed: {sorted(_fills(first))}")
    assert _rgb("#eeeeee") in _fills(first), "the table header shading is not printed"
    # the charts' two sides keep their colours (page 2), and the legend says which is which
    charts = pdfs["A4"].pages[1]
    assert {_rgb("#1f77b4"), _rgb("#ff7f0e")} <= _fills(charts), sorted(_fills(charts))
    assert "■ WORK ■ QBO" in texts(pdfs["A4"])[1]
    # and every coloured mark is backed by text: the verdict's ✗ / ✓, a ✓ or an amount in each
    # difference cell of the totals
    assert ("✓" if report.verdict_class == "ok" else "✗") in texts(pdfs["A4"])[0]
    cells = print_page.evaluate("() => [...document.querySelectorAll('td.ok, td.bad')].map(e => e.textContent.trim())")
    assert cells and all(c == "✓" or re.search(r"\d", c) for c in cells), cells


@pytest.mark.parametrize("paper", list(PAPER))
def test_the_page_count_is_sane(print_page: Any, pdfs: dict[str, Any], paper: str) -> None:
    rows = print_page.evaluate("() => document.querySelectorAll('tbody tr').length")
    pages = len(pdfs[paper].pages)
    # about 35 short rows fit an A4 page; sections and wrapped names take room: ask for 12 a page
    assert 2 <= pages <= 2 + rows // 12, f"{pages} pages for {rows} table rows on {paper}"
