"""The layout at a desk's 1024 px and a tablet's 768 px: everything reachable, nothing
scrolled sideways."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import NAME

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [1024, 768])
def test_the_header_fits_the_width_with_every_link_and_sign_out_visible(
    signed_in_page: Page, width: int
) -> None:
    page = signed_in_page
    page.set_viewport_size({"width": width, "height": 900})
    for name in ("Today", "Log a treatment", "Replies"):
        expect(page.get_by_role("link", name=name)).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_text(f"Signed in as {NAME}")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_the_current_page_is_marked_in_the_navigation(signed_in_page: Page) -> None:
    today = signed_in_page.get_by_role("link", name="Today")
    expect(today).to_have_attribute("aria-current", "page")
    expect(signed_in_page.get_by_role("link", name="Replies")).not_to_have_attribute(
        "aria-current", "page"
    )


def test_the_focused_control_shows_a_visible_ring(signed_in_page: Page) -> None:
    page = signed_in_page
    page.get_by_role("link", name="Today").focus()
    page.keyboard.press("Tab")  # keyboard focus: :focus-visible applies
    focused = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, s.outlineWidth]; }"
    )
    assert focused == ["solid", "3px"]
