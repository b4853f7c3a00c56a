"""Issue 12's screen fixes that only a real browser can judge: Voila serves ``notebooks/app.ipynb``,
Playwright drives Debian's Chromium (the fixtures are those of ``test_app_browser.py``).

* The authorization link is an ``<a target="_blank" rel="noopener">`` drawn as a button (a coloured
  box, no underline), shown at once with a sentence saying what to do, and a click on it opens
  QuickBooks' page in a new tab (the browser blocks the tab the app's own script tries to open
  after the kernel answered the click).
* The integration-date field shows a whole date: its input is wide enough for the year.
"""

from __future__ import annotations

from typing import Any

from test_app_browser import (  # noqa: F401 - fixtures and the module's marks
    PAGE_WAIT,
    STEP_WAIT,
    app_env,
    browser,
    emu,
    home,
    pytestmark,
    voila_url,
)

#: Chromium's date input needs about 130 px for "mm/dd/yyyy" and its calendar button at Voila's font.
DATE_INPUT_MIN_PX = 140


def test_the_connect_link_is_a_button_and_the_date_shows_its_year(browser: Any, voila_url: str,  # noqa: F811
                                                                  emu: Any) -> None:  # noqa: F811
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(voila_url, timeout=PAGE_WAIT)
    connect = page.locator("button.qbo-connect")
    expect(connect).to_be_visible(timeout=PAGE_WAIT)
    connect.click()
    anchor = page.locator("a.qbo-auth-anchor")
    expect(anchor).to_be_visible(timeout=STEP_WAIT)
    expect(page.locator(".qbo-auth-link")).to_contain_text("Click the green button below")
    assert anchor.get_attribute("target") == "_blank"
    assert "noopener" in (anchor.get_attribute("rel") or "").split()
    assert (anchor.get_attribute("href") or "").startswith(emu.info["authorization_endpoint"])
    look = anchor.evaluate("a => { const s = getComputedStyle(a); return {bg: s.backgroundColor, "
                           "decoration: s.textDecorationLine, display: s.display, colour: s.color}; }")
    assert look["bg"] not in ("rgba(0, 0, 0, 0)", "transparent"), look
    assert look["decoration"] == "none" and look["display"] == "inline-block", look
    box = anchor.bounding_box()
    assert box is not None and box["height"] >= 30 and box["width"] >= 150, box
    # a click on it opens QuickBooks' page in a new tab
    for extra in context.pages[1:]:  # a tab the app's own script may have opened
        extra.close()
    with context.expect_page(timeout=STEP_WAIT) as opened:
        anchor.click()
    consent = opened.value
    consent.wait_for_load_state("domcontentloaded")
    assert consent.url.startswith(emu.info["authorization_endpoint"]), consent.url
    consent.locator("#connect").click()
    consent.wait_for_load_state("domcontentloaded")

    page.bring_to_front()
    expect(page.locator(".qbo-screen-settings")).to_be_visible(timeout=STEP_WAIT)
    date_input = page.locator(".qbo-integration-date input")
    expect(date_input).to_be_visible()
    date_input.fill("2026-12-31")
    width = date_input.evaluate("i => i.getBoundingClientRect().width")
    assert width >= DATE_INPUT_MIN_PX, f"the date input is {width:.0f} px wide: the year does not fit"
    context.close()
