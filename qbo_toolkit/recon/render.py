"""Present a :class:`ReconResult`: an HTML report, one CSV per category, or an Excel workbook.

Nothing here computes a finding: every figure comes from the result, so a report and an export
made from one result agree. The functions that write take the folder or path from their caller
(a job decides where its outputs go) and write only there.

* :func:`to_html` -- one self-contained page from ``templates/report.html.j2`` (Jinja2 with
  autoescaping, so names like ``<b>O'Brien & Sons</b>`` print as text): summary tiles (✓ when a
  category is clean, else its count), totals on both sides, two inline SVG charts (A/R aging side
  by side; differences by category), then a table per category. The SVG is drawn here by hand:
  no plotting library, no fonts or timestamps baked in, so the same result gives the same bytes
  (snapshot tests rely on it). A time appears only if the caller passes ``generated_at``.
  Its print stylesheet makes a clean PDF (summary page alone first, no tiles, headers repeated,
  rows whole, Ids as plain text that stay links, long words wrapped at :func:`breakable`'s
  ``<wbr>``): ``tests/ui/test_report_print.py`` prints it in Chromium and reads the PDF back.
* :func:`to_csv` -- ``summary.csv``, ``aging.csv``, ``open_balances.csv``, ``tieout.csv`` (when
  QBO's reports were read) and ``<category>.csv`` for every category (headers even when empty).
  Money is plain decimal text (``-1234.50``), dates ISO; read back with ``dtype=str`` to keep it
  exact.
* :func:`to_excel` -- the same tables as sheets of one workbook (openpyxl): money as numbers with
  two decimals (written from ``Decimal`` text, so exact), dates as dates.
* Both exports hold no formula: text that starts like one (``=``, ``+``, ``-``, ``@``, tab, ...)
  gets a leading ``'`` and Excel text cells are strings (:mod:`.cells`, CWE-1236); files 0600.

:func:`presentable` is the one place where frames become readable: ``*_cents`` columns turn into
amounts (the suffix dropped), dates into ``YYYY-MM-DD``, timestamps into ISO text in UTC.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from ..files import private_dir, write_private_bytes, write_private_text
from .cells import inert_frame, inert_text
from .history import history_frame, report_context
from .labels import CURRENCY_SYMBOLS, column_title, format_money, is_money_column, qbo_link, work_link
from .money import cents_to_decimal, format_cents
from .result import CATEGORIES, PENDING_STATUSES, Category, ReconResult, _counted

__all__ = ["presentable", "summary_frame", "to_csv", "to_excel", "to_html"]

DEFAULT_TITLE: Final = "WORK and QuickBooks reconciliation"
#: Colours of the two sides in the charts (colour-blind safe blue and orange).
_WORK_COLOUR: Final = "#1f77b4"
_QBO_COLOUR: Final = "#ff7f0e"
_DIFF_COLOUR: Final = "#c0392b"


# --------------------------------------------------------------------------------------------
# Frames as text
# --------------------------------------------------------------------------------------------


def presentable(frame: pd.DataFrame, *, grouping: bool = False) -> pd.DataFrame:
    """``frame`` with money as amounts (``total_cents`` -> ``total``, text ``"1234.50"``, or
    ``"1,234.50"`` with ``grouping``), dates as ``YYYY-MM-DD`` and timestamps as ISO UTC text.
    Other columns are unchanged. Missing values become ``""``."""
    columns: dict[str, pd.Series] = {}
    for name in frame.columns:
        series = frame[name]
        if name.endswith("_cents"):
            columns[name.removesuffix("_cents")] = format_cents(series, grouping=grouping)
        elif isinstance(series.dtype, pd.DatetimeTZDtype):
            text = series.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            columns[name] = text.fillna("").astype("str")
        elif pd.api.types.is_datetime64_dtype(series.dtype):
            columns[name] = series.dt.strftime("%Y-%m-%d").fillna("").astype("str")
        else:
            columns[name] = series
    return pd.DataFrame(columns, index=frame.index)


def summary_frame(result: ReconResult) -> pd.DataFrame:
    """One row per figure: the verdict (with the settings used), each total on both sides, each
    category's count (pending ones included)."""
    settings = result.settings or {}
    rows: list[dict[str, str]] = [
        {"section": "verdict", "name": "in_agreement", "title": "In agreement", "work": "", "qbo": "",
         "difference": "", "value": "yes" if result.in_agreement else "no"},
        {"section": "verdict", "name": "verdict", "title": "Verdict", "work": "", "qbo": "", "difference": "",
         "value": result.verdict},
        {"section": "verdict", "name": "pending_count", "title": "Records pending", "work": "", "qbo": "",
         "difference": "", "value": str(result.pending_count)},
        {"section": "verdict", "name": "tie_out", "title": "Tie-out to QBO's reports", "work": "", "qbo": "",
         "difference": "", "value": result.tie_out},
        {"section": "verdict", "name": "settings", "title": "Settings", "work": "", "qbo": "", "difference": "",
         "value": result.settings_description},
        {"section": "verdict", "name": "settings_file", "title": "Settings file", "work": "", "qbo": "",
         "difference": "", "value": str(settings.get("path") or "")},
        {"section": "verdict", "name": "settings_sha256", "title": "Settings sha256", "work": "", "qbo": "",
         "difference": "", "value": str(settings.get("sha256") or "")},
        {"section": "verdict", "name": "as_of", "title": "As of", "work": "", "qbo": "", "difference": "",
         "value": result.as_of.isoformat()},
        {"section": "verdict", "name": "integration_date", "title": "Integration date", "work": "", "qbo": "",
         "difference": "", "value": result.integration_date.isoformat() if result.integration_date else ""},
        {"section": "verdict", "name": "tolerance", "title": "Tolerance", "work": "", "qbo": "", "difference": "",
         "value": str(result.tolerance)},
    ]
    for total in result.totals:
        rows.append({"section": "total", "name": total.name, "title": total.title, "work": total.as_text(total.work),
                     "qbo": total.as_text(total.qbo), "difference": total.as_text(total.difference), "value": ""})
    for category in CATEGORIES:
        rows.append({"section": category.kind, "name": category.name, "title": category.title, "work": "", "qbo": "",
                     "difference": "", "value": str(result.counts[category.name])})
    return pd.DataFrame(rows, dtype="str")


def _cell(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    return str(value)


# --------------------------------------------------------------------------------------------
# SVG charts (hand-made, deterministic)
# --------------------------------------------------------------------------------------------


def _money_label(cents: int, currency: str = "") -> str:
    """Money as the report writes it: separators, negative in parentheses, the currency's symbol."""
    return format_money(cents, currency, symbol=bool(currency))


def _nice_step(peak: int) -> int:
    """A round step (1, 2 or 5 times a power of ten, in cents, at least one currency unit) that
    divides 0..``peak`` into at most five intervals."""
    step = 100
    while True:
        for factor in (1, 2, 5):
            if peak <= 5 * step * factor:
                return step * factor
        step *= 10


def _axis_label(cents: int, currency: str) -> str:
    mark = CURRENCY_SYMBOLS.get(currency.upper(), "") if currency else ""
    return f"{mark}{cents // 100:,}"


def _aging_svg(table: pd.DataFrame, currency: str = "") -> Markup:
    """Grouped bars: open amount per aging bucket, WORK beside QBO, each bar's amount written above
    it, an amount axis with round ticks (labelled with the currency), the difference under each pair."""
    width, height, top, bottom, left, right = 720, 330, 96, 52, 78, 16
    plot_h = height - top - bottom
    buckets = table["bucket"].tolist()
    work = table["work_cents"].astype("int64").tolist()
    qbo = table["qbo_cents"].astype("int64").tolist()
    peak = max([*work, *qbo, 0])
    step = _nice_step(peak)
    axis_max = max(step, -(-peak // step) * step)
    slot = (width - left - right) / max(len(buckets), 1)
    bar = slot * 0.32
    unit = f" ({currency})" if currency else ""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="A/R aging, WORK and QBO{escape(unit)}">',
        f'<text x="{left}" y="16" class="legend"><tspan fill="{_WORK_COLOUR}">■</tspan> WORK '
        f'<tspan fill="{_QBO_COLOUR}">■</tspan> QBO</text>',
        f'<text x="14" y="{top + plot_h / 2:.1f}" text-anchor="middle" class="axis-title" '
        f'transform="rotate(-90 14 {top + plot_h / 2:.1f})">Open amount{escape(unit)}</text>',
    ]
    for tick in range(0, axis_max + 1, step):
        y = top + plot_h - plot_h * tick / axis_max
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#e4e4e4"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
                     f'{escape(_axis_label(tick, currency))}</text>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#888"/>')
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="#888"/>')
    for index, name in enumerate(buckets):
        x0 = left + index * slot + slot * 0.18
        for offset, value, colour in ((0.0, work[index], _WORK_COLOUR), (bar, qbo[index], _QBO_COLOUR)):
            h = plot_h * max(value, 0) / axis_max
            label = escape(_money_label(value, currency))
            parts.append(f'<rect x="{x0 + offset:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" '
                         f'height="{h:.1f}" fill="{colour}"><title>{label}</title></rect>')
            vx, vy = x0 + offset + bar / 2 + 4, top + plot_h - h - 4
            if value:  # a zero bar has no height to write on; the table below gives it
                parts.append(f'<text x="{vx:.1f}" y="{vy:.1f}" class="value" '
                             f'transform="rotate(-90 {vx:.1f} {vy:.1f})">{label}</text>')
        centre = x0 + bar
        parts.append(f'<text x="{centre:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{escape(name)}</text>')
        diff = qbo[index] - work[index]
        mark = "✓" if diff == 0 else _money_label(diff, currency)
        colour = "#2e7d32" if diff == 0 else _DIFF_COLOUR
        parts.append(f'<text x="{centre:.1f}" y="{top + plot_h + 34}" text-anchor="middle" fill="{colour}">'
                     f'{escape(mark)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in it went through escape()


def _differences_svg(counts: Sequence[tuple[str, int]]) -> Markup:
    """Horizontal bars: rows per difference category that has any."""
    shown = [(title, count) for title, count in counts if count]
    row_h, left, width = 22, 250, 640
    height = max(len(shown), 1) * row_h + 16
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="Differences by category">']
    if not shown:
        parts.append('<text x="8" y="22" fill="#2e7d32">✓ No differences</text>')
    peak = max([count for _, count in shown] or [1])
    for index, (title, count) in enumerate(shown):
        y = 8 + index * row_h
        w = (width - left - 60) * count / peak
        parts.append(f'<text x="{left - 8}" y="{y + 14}" text-anchor="end">{escape(title)}</text>')
        parts.append(f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="{row_h - 6}" fill="{_DIFF_COLOUR}"/>')
        parts.append(f'<text x="{left + w + 6:.1f}" y="{y + 14}">{count}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in it went through escape()


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------


#: A word this long gets line-break opportunities (:func:`breakable`).
_LONG_WORD: Final = re.compile(r"\S{25,}")
#: Where a long word may break: after one of these characters, else every 16 characters.
_BREAK_AFTER: Final = re.compile(r"(?<=[|@/=&?.,;:_-])")
_BREAK_EVERY: Final = 16


def breakable(text: Any) -> Markup:
    """``text`` escaped, with ``<wbr>`` (a line-break opportunity, invisible and not copied) in every
    word of 25 characters or more: after its punctuation (``@ . / | = _ -`` ...) and every 16
    characters of a run without any. A table cell holding a long e-mail address, URL or key then
    wraps instead of widening its table past the printed page; shorter words are never broken.
    Used as the template's ``breakable`` filter."""
    value = "" if text is None else str(text)

    def split(match: re.Match[str]) -> str:
        pieces: list[str] = []
        for part in _BREAK_AFTER.split(match.group(0)):
            pieces.extend(part[i:i + _BREAK_EVERY] for i in range(0, len(part), _BREAK_EVERY))
        return "<wbr>".join(str(escape(piece)) for piece in pieces if piece)

    out: list[str] = []
    end = 0
    for match in _LONG_WORD.finditer(value):
        out.append(str(escape(value[end:match.start()])))
        out.append(split(match))
        end = match.end()
    out.append(str(escape(value[end:])))
    return Markup("".join(out))  # noqa: S704 - every piece went through escape()


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("qbo_toolkit.recon", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["breakable"] = breakable
    return env


#: The kind of record a row's Ids name, per category or table, when it has no ``entity`` or ``document`` column.
_ROW_KINDS: Final[dict[str, str]] = {
    "customers": "customer", "invoices": "invoice", "payments": "payment", "refunds": "refund",
    "credit_notes_missing_in_qbo": "credit_note", "credit_notes_missing_in_work": "credit_note",
    "credit_notes_amount": "credit_note", "credit_applied": "invoice", "credits_unapplied": "customer",
    "tieout_customers": "customer", "tieout_aging": "customer", "open_balances": "customer", "tieout": "customer",
}
#: Columns that hold another record's Id: (side, kind of record).
_REFERENCE_COLUMNS: Final[dict[str, tuple[str, str]]] = {
    "customer_qbo_id": ("qbo", "customer"), "client_id": ("work", "customer"), "work_client_id": ("work", "customer"),
    "invoice_id": ("work", "invoice"), "work_invoice_id": ("work", "invoice"),
}


def _row_kind(name: str, category: Category | None, row: dict[str, Any]) -> str | None:
    for column in ("entity", "document"):
        if isinstance(row.get(column), str) and row[column]:
            return str(row[column])
    return _ROW_KINDS.get(name) or (_ROW_KINDS.get(category.entity) if category is not None else None)


def _table(frame: pd.DataFrame, max_rows: int, *, name: str = "", result: ReconResult | None = None,
           category: Category | None = None) -> dict[str, Any]:
    """A frame as the report's table: human headers (:mod:`.labels`), money as the accountant writes
    it (separators, negative in parentheses), and the Ids linked to the record in QuickBooks and in
    WORK when the result knows where those are. Each cell is ``{"text", "href"}``."""
    currency = result.currency if result is not None else ""
    app_url = result.qbo_app_url if result is not None else None
    work_urls = result.work_record_urls if result is not None else {}
    head = frame.head(max_rows)
    shown = presentable(head, grouping=True)
    columns = list(frame.columns)
    numeric = [is_money_column(c) or c.startswith(("difference", "work_count", "qbo_count")) for c in columns]
    rows = []
    for raw, text in zip(head.to_dict("records"), shown.itertuples(index=False, name=None), strict=True):
        kind = _row_kind(name, category, raw)
        cells = []
        for column, value in zip(columns, text, strict=True):
            cell: dict[str, Any] = {"text": _cell(value), "href": None}
            original = raw[column]
            if is_money_column(column) and cell["text"]:
                cell["text"] = format_money(int(original))
            if column == "qbo_id" and kind:
                cell["href"] = qbo_link(app_url, kind, original)
            elif column == "work_id" and kind:
                cell["href"] = work_link(work_urls.get(kind), original)
            elif column in _REFERENCE_COLUMNS:
                side, other = _REFERENCE_COLUMNS[column]
                cell["href"] = (qbo_link(app_url, other, original) if side == "qbo"
                                else work_link(work_urls.get(other), original))
            cells.append(cell)
        rows.append(cells)
    return {
        "columns": [column_title(c, currency) for c in columns],
        "numeric": numeric,
        "rows": rows,
        "hidden": max(len(frame) - max_rows, 0),
    }


def _difference_amount(frame: pd.DataFrame) -> int | None:
    """The sum of a category's ``difference_cents`` (QBO − WORK), or None when it has no such column."""
    if "difference_cents" not in frame.columns or not len(frame):
        return None
    return int(frame["difference_cents"].astype("Int64").fillna(0).astype("int64").abs().sum())


def _attention(result: ReconResult) -> list[dict[str, Any]]:
    """What needs a person, most urgent first: pending records per reason (what to do), records never
    sent, then each difference category with rows (and the amount it moves)."""
    items: list[dict[str, Any]] = []
    todo = {"waiting_match": "decide the match in the app's match preview",
            "sync_failed": "fix what each reason says, then retry or dismiss it in the app"}
    for status, entities in result.pending.items():
        count = sum(entities.values())
        items.append({"anchor": "pending", "count": count, "kind": "pending",
                      "text": f"{_noun(count, 'record')} {PENDING_STATUSES[status]}",
                      "detail": _counted(entities),
                      "todo": todo.get(status, ""), "amount": None})
    unsent = result.not_sent
    if unsent:
        count = sum(unsent.values())
        items.append({"anchor": "invoices_missing_in_qbo" if "invoice" in unsent else "customers_unlinked",
                      "count": count, "kind": "difference",
                      "text": f"{_noun(count, 'record')} never sent to QuickBooks",
                      "detail": _counted(unsent),
                      "todo": "run the sync, or find out why it skips them", "amount": None})
    for category in CATEGORIES:
        count = result.counts[category.name]
        if category.kind != "difference" or not count:
            continue
        amount = _difference_amount(result.frames[category.name])
        items.append({"anchor": category.name, "count": count, "kind": "difference", "text": category.title,
                      "detail": "", "todo": "",
                      "amount": _money_label(amount, result.currency) if amount else None})
    return items


def _noun(count: int, noun: str) -> str:
    return noun if count == 1 else f"{noun}s"


def to_html(result: ReconResult, *, title: str = DEFAULT_TITLE, generated_at: datetime | None = None,
            max_rows: int = 200) -> str:
    """The report as one HTML page (UTF-8 text). ``max_rows`` rows per category table are shown;
    the rest are counted (the CSV and Excel exports hold every row).

    The first page is the summary an accountant reads first (and prints on a page of its own): the
    verdict, what is new since the last run (when the result carries its history), what needs a
    person, and the totals. Money is written in the company's currency with separators and
    negative amounts in parentheses; Ids link to the record in QuickBooks and in WORK (see
    :mod:`.labels`)."""
    currency = result.currency
    def figure(unit: str, value: int) -> str:
        return f"{value:,}" if unit == "count" else _money_label(value, currency)

    totals = [
        {"title": t.title, "work": figure(t.unit, t.work), "qbo": figure(t.unit, t.qbo),
         "difference": figure(t.unit, t.difference), "ok": t.difference == 0}
        for t in result.totals
    ]
    sections = []
    for category in CATEGORIES:
        sections.append({
            "name": category.name, "title": category.title, "description": category.description,
            "kind": category.kind, "entity": category.entity, "count": result.counts[category.name],
            "table": _table(result.frames[category.name], max_rows, name=category.name, result=result,
                            category=category),
        })
    context = {
        "title": title,
        "as_of": result.as_of.isoformat(),
        "integration_date": result.integration_date.isoformat() if result.integration_date else None,
        "tolerance": str(result.tolerance),
        "currency": currency,
        "generated_at": generated_at.isoformat(timespec="seconds") if generated_at else None,
        "in_agreement": result.in_agreement,
        "verdict": result.verdict,
        "settings": result.settings_description,
        "tie_out": result.tie_out,
        "difference_count": result.difference_count,
        "pending_count": result.pending_count,
        "attention": _attention(result),
        "links": {"qbo": bool(result.qbo_app_url), "work": bool(result.work_record_urls)},
        "pending": [s for s in sections if s["kind"] == "pending"],
        "differences": [s for s in sections if s["kind"] == "difference"],
        "information": [s for s in sections if s["kind"] == "information"],
        "totals": totals,
        "aging": _table(result.tables["aging"], len(result.tables["aging"]), name="aging", result=result),
        "aging_svg": _aging_svg(result.tables["aging"], currency),
        "tieout": _table(result.tables["tieout"], max_rows, name="tieout", result=result),
        "history": report_context(result.history),  # the History section (recon/history.py), or None
        "differences_svg": _differences_svg(
            [(c.title, result.counts[c.name]) for c in CATEGORIES if c.kind == "difference"]),
    }
    return _environment().get_template("report.html.j2").render(**context)


# --------------------------------------------------------------------------------------------
# CSV and Excel
# --------------------------------------------------------------------------------------------


def _sheets(result: ReconResult) -> list[tuple[str, pd.DataFrame]]:
    return [
        ("summary", summary_frame(result)),
        ("aging", result.tables["aging"]),
        ("open_balances", result.tables["open_balances"]),
        *((("tieout", result.tables["tieout"]),) if len(result.tables["tieout"]) else ()),
        *((c.name, result.frames[c.name]) for c in CATEGORIES),
        # every difference's key, status, age and explanation (recon/history.py), when the run was kept
        *((("history", history_frame(result.history)),) if result.history is not None else ()),
    ]


def to_csv(result: ReconResult, folder: str | Path) -> list[Path]:
    """Write ``summary.csv``, ``aging.csv``, ``open_balances.csv``, ``tieout.csv`` (when QBO's reports
    were read: every customer of the tie-out) and one CSV per category into
    ``folder`` (created 0700 if needed; files 0600); returns the paths, in that order. Text that
    starts like a formula gets a leading ``'`` (:mod:`.cells`); amounts are never prefixed."""
    target = private_dir(folder)
    written = []
    for name, frame in _sheets(result):
        text = presentable(inert_frame(frame)).to_csv(index=False, lineterminator="\n")
        written.append(write_private_text(target / f"{name}.csv", text))
    return written


def _excel_value(value: Any, money: bool) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if money:
        return cents_to_decimal(int(value))
    if isinstance(value, pd.Timestamp):
        if value.tzinfo is not None:
            return value.strftime("%Y-%m-%dT%H:%M:%SZ")
        return value.date()
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, str):
        return inert_text(value)
    if isinstance(value, Decimal | int | bool):
        return value
    return inert_text(str(value))


def _summary_excel_rows(result: ReconResult) -> list[list[Any]]:
    """:func:`summary_frame` with its figures as numbers: amounts ``Decimal``, counts ``int``."""
    frame = summary_frame(result)
    totals = {total.name: total for total in result.totals}
    rows: list[list[Any]] = []
    for record in frame.to_dict("records"):
        row: dict[Any, Any] = {key: inert_text(_cell(value)) for key, value in record.items()}
        total = totals.get(record["name"]) if record["section"] == "total" else None
        if total is not None:
            convert: Any = cents_to_decimal if total.unit == "money" else int
            row.update(work=convert(total.work), qbo=convert(total.qbo), difference=convert(total.difference))
        elif record["section"] != "verdict" and record["name"] in result.counts:
            row["value"] = int(result.counts[record["name"]])
        rows.append([row[column] for column in frame.columns])
    return rows


def to_excel(result: ReconResult, path: str | Path) -> Path:
    """Write the workbook to ``path``: a ``summary`` sheet, ``aging``, ``open_balances``, ``tieout``
    (when QBO's reports were read) and a sheet
    per category (the file 0600). Money columns (named without ``_cents``) and the summary's amounts
    hold numbers formatted ``#,##0.00``; text cells are strings, never formulas, prefixed with
    ``'`` when they start like one (:mod:`.cells`)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    # write-only: rows stream into the file instead of a cell object per value kept for the save
    book = Workbook(write_only=True)
    bold = Font(bold=True)
    for name, frame in _sheets(result):
        sheet = book.create_sheet(title=name[:31])
        sheet.freeze_panes = "A2"
        header = []
        for column in frame.columns:
            cell = WriteOnlyCell(sheet, value=inert_text(column.removesuffix("_cents")))
            cell.data_type = "s"
            cell.font = bold
            header.append(cell)
        sheet.append(header)
        money = [column.endswith("_cents") for column in frame.columns]
        dates = [pd.api.types.is_datetime64_dtype(frame[c].dtype) for c in frame.columns]
        rows = (_summary_excel_rows(result) if name == "summary" else
                ([_excel_value(value, is_money) for value, is_money in zip(row, money, strict=True)]
                 for row in frame.itertuples(index=False, name=None)))
        for row_values in rows:
            cells = []
            for index, value in enumerate(row_values):
                cell = WriteOnlyCell(sheet, value=value)
                if isinstance(value, str):  # text is text, never a formula, whatever it holds
                    cell.data_type = "s"
                elif isinstance(value, Decimal) or (index < len(money) and money[index] and value is not None):
                    cell.number_format = "#,##0.00"
                elif index < len(dates) and dates[index] and value is not None:
                    cell.number_format = "yyyy-mm-dd"
                cells.append(cell)
            sheet.append(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    return write_private_bytes(path, buffer.getvalue())
