"""What users type stays text, and a server beyond 127.0.0.1 lets a browser in only with a
token: both checked in a real browser, where a script that ran would show."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from playwright.sync_api import APIRequestContext, Page, expect

from candlelab.store.database import Connection
from tests.browser.conftest import TOKEN, Watched

# Each would run script, add an element, or be evaluated as a template if printed raw.
# Every element one would add carries data-xss, so the DOM shows any that got in.
PAYLOADS = [
    '<script>alert("xss-1")</script>',
    '<img src=x onerror=alert("xss-2") data-xss>',
    '"><svg data-xss onload=alert("xss-3")>',
    "'><iframe data-xss src=javascript:alert('xss-4')></iframe>",
    "</textarea></title><b data-xss>xss-5</b>",
    "{{ 7*7 }} ${7*7} {% raw %}",
    'javascript:alert("xss-7")',
    "<style>body{display:none}</style><a data-xss href=javascript:alert(8)>xss-8</a>",
]
# What the page would hold had anything been injected (the chart library adds a style of
# its own, so only the payload's style counts).
INJECTED = """[...document.querySelectorAll('[data-xss], script:not([src]), iframe, style')]
    .filter(e => e.tagName !== 'STYLE' || e.textContent.includes('display:none')).length"""


def store_payloads(api: APIRequestContext, site: str, chart_id: int, last_bar: float) -> None:
    """Every payload as a label type's name and description, an annotation type's name, a
    span's author, and an annotation's note, all through the REST API."""
    for n, text in enumerate(PAYLOADS):
        label = post(api, f"{site}/api/span-label-types",
                     {"name": text, "color": "#3366cc", "description": text})  # fmt: skip
        post(api, f"{site}/api/annotation-types", {"name": text, "color": "#cc3366"})
        when = iso(last_bar - 3600 * (5 + n))
        post(api, f"{site}/api/spans", {"chart_id": chart_id, "label_type_id": label["id"],
             "start_time": when, "end_time": when, "created_by": text[:80]})  # fmt: skip
        post(api, f"{site}/api/annotations", {"chart_id": chart_id, "time": when, "note": text})


def test_what_users_type_shows_as_text_and_never_runs(
    watched: Watched, site: str, demo_chart: int, conn: Connection
) -> None:
    page = watched.page
    [(last,)] = conn.execute("SELECT max(time) FROM candles WHERE chart_id = %s", (demo_chart,))
    store_payloads(page.request, site, demo_chart, last.timestamp())
    # A span's prediction names its model; an imported one may name anything.
    conn.execute("UPDATE span_annotations SET model_prediction = jsonb_build_object("
                 "'model', created_by, 'version', 1) WHERE source = 'manual'")  # fmt: skip
    conn.commit()
    upload_as(page, site, "<img src=x onerror=alert('file') data-xss>.csv",
              '<IMG SRC=X ONERROR=ALERT(9) DATA-XSS>')  # fmt: skip

    page.goto(f"{site}/types")
    expect(page.locator("#label-types tbody tr")).to_have_count(3 + len(PAYLOADS))
    shown = page.eval_on_selector_all("#label-types input", "els => els.map(e => e.value)")
    assert set(PAYLOADS) <= set(shown)  # each name and description, verbatim
    assert page.evaluate(INJECTED) == 0
    watched.shot("xss-types")

    page.goto(f"{site}/charts/{demo_chart}")
    page.wait_for_selector("#annotator[data-ready=true]", timeout=15_000)
    expect(page.locator("#annotation-list li")).to_have_count(len(PAYLOADS))
    text = page.locator("#annotator").inner_text()
    assert all(payload in text for payload in PAYLOADS)  # palette, span list, annotations
    assert all(f"{payload} v1" in text for payload in PAYLOADS)  # the proposing model
    assert page.evaluate(INJECTED) == 0
    watched.shot("xss-chart")

    page.goto(site)
    expect(page.locator("#charts")).to_contain_text("<IMG SRC=X ONERROR=ALERT(9) DATA-XSS>")
    assert page.evaluate(INJECTED) == 0
    assert watched.errors == []  # no dialog, no script refused by the policy, no error


def upload_as(page: Page, site: str, file_name: str, symbol: str) -> None:
    """A small candle file uploaded from the charts page under a hostile name and symbol."""
    page.goto(site)
    lines = ["time,open,high,low,close,volume"]
    lines += [f"2025-03-01T{h:02d}:00:00Z,10,11,9,10.5,100" for h in range(24)]
    data = ("\n".join(lines) + "\n").encode()
    files = {"name": file_name, "mimeType": "text/csv", "buffer": data}
    page.locator("input[name=file]").set_input_files(files)  # type: ignore[arg-type]
    page.locator("input[name=symbol]").fill(symbol)
    page.locator("input[name=timeframe]").fill("1h")
    page.locator(".upload button[type=submit]").click()
    report = page.locator("#upload-report")
    expect(report).to_contain_text("24 inserted")
    expect(report).to_contain_text(file_name)
    assert page.evaluate(INJECTED) == 0


def test_a_browser_signs_in_with_a_token_and_out_again(watched: Watched, guarded_site: str) -> None:
    page = watched.page
    first = page.goto(f"{guarded_site}/types")
    assert first is not None
    assert first.status == 401
    form = page.locator("#sign-in")
    form.locator("[name=token]").fill("a guess")
    form.locator("button[type=submit]").click()
    expect(page.locator("#sign-in-problem")).to_be_visible()
    watched.shot("sign-in-refused")
    page.locator("#sign-in [name=token]").fill(TOKEN)
    page.locator("#sign-in button[type=submit]").click()
    expect(page).to_have_url(f"{guarded_site}/types")  # back where it was going
    expect(page.locator("#label-types")).to_be_visible()
    assert "candlelab_session" not in page.evaluate("document.cookie")  # HttpOnly
    page.locator(".sign-out button").click()
    expect(page.locator("#sign-in")).to_be_visible()
    assert page.request.get(f"{guarded_site}/api/charts").status == 401
    # Loading the 401 pages is the only thing the console complained of.
    assert all("401" in error for error in watched.errors), watched.errors


def test_no_page_leaves_the_browser_asking_for_a_missing_icon(
    watched: Watched, site: str, guarded_site: str
) -> None:
    """Chromium asks for /favicon.ico on any page that links no icon (JSON, the sign-in
    form): it is there, for anyone, so the console stays clean."""
    page = watched.page
    for path in ("/api/charts", "/openapi.json"):
        assert page.goto(f"{site}{path}") is not None
        page.wait_for_timeout(300)  # the browser asks for the icon after the page
    assert watched.errors == []
    page.goto(f"{guarded_site}/types")  # the sign-in form, itself a 401
    page.wait_for_timeout(300)
    assert len(watched.errors) == 1, watched.errors  # the page's own 401, not its icon's


def post(api: APIRequestContext, url: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = api.post(url, data=body)
    assert answer.ok, (url, answer.status, answer.text())
    result: dict[str, Any] = answer.json()
    return result


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()
