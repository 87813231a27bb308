"""What a labeller does, in a real browser: open the demo's chart, make a label type, draw two
spans by hotkey and mouse, resize one, reload, annotate a candle, review two proposals;
then the database is checked. Screenshots land in test-results/screenshots."""

from __future__ import annotations

import itertools
import re
from typing import Any

import numpy as np
from playwright.sync_api import Page, Position, expect

from candlelab.market.ingest import IngestOptions
from candlelab.market.timeframes import Timeframe
from candlelab.store.database import Connection
from tests.browser.conftest import Watched
from tests.fixtures.charts import XNYS_HOURLY, XNYS_LACKS, XNYS_TIMES, stored_chart


def ready(page: Page) -> None:
    page.wait_for_selector("#annotator[data-ready=true]", timeout=15_000)


# The open time of the bar `back` bars before the newest, in the page.
BAR_TIME = (
    "back => { const b = window.candlelab.bars; return b.points[b.points.length - 1 - back].time; }"
)


def bar_time(page: Page, back: int) -> float:
    return float(page.evaluate(BAR_TIME, back))


def bar_x(page: Page, back: int) -> float:
    """The page x of the bar `back` bars before the newest."""
    box = page.locator("#chart").bounding_box()
    assert box is not None
    return float(box["x"] + page.evaluate("t => window.candlelab.xOf(t)", bar_time(page, back)))


def drag(page: Page, x1: float, x2: float) -> None:
    box = page.locator("#chart").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] * 0.45
    page.mouse.move(x1, y)
    page.mouse.down()
    page.mouse.move(x2, y, steps=8)
    page.mouse.up()


def say(page: Page, text: str) -> None:
    expect(page.locator("#status")).to_contain_text(text, timeout=10_000)


def make_label_type(page: Page, site: str) -> None:
    page.goto(f"{site}/types")
    form = page.locator("#new-label-type")
    form.locator("[name=name]").fill("support test")
    form.locator("[name=hotkey]").select_option("4")
    form.locator("[name=direction]").select_option("1")
    form.locator("button[type=submit]").click()
    expect(page.locator("#label-types tbody tr")).to_have_count(4)
    expect(page.locator("#types-status")).to_contain_text("support test added")


def review_in_list(page: Page, index: int, key: str, verdict: str) -> None:
    page.locator("#span-list li.proposed").nth(index).click()
    page.keyboard.press(key)
    say(page, f"proposal {verdict}")


def test_a_labellers_session(
    watched: Watched, site: str, demo_chart: int, conn: Connection
) -> None:
    page = watched.page
    make_label_type(page, site)
    watched.shot("types")

    page.goto(f"{site}/charts/{demo_chart}")
    ready(page)
    proposals = page.locator("#span-list li.proposed")
    assert proposals.count() >= 2
    watched.shot("chart-opened")

    page.keyboard.press("4")  # the new label, by its hotkey
    drag(page, bar_x(page, 60), bar_x(page, 45))
    say(page, "span created")
    page.keyboard.press("1")  # uptrend
    drag(page, bar_x(page, 30), bar_x(page, 20))
    say(page, "span created")
    page.keyboard.press("Escape")
    expect(page.locator("#span-list li.manual")).to_have_count(2)

    # Resize the first span: its right edge, from bar 45 to bar 40 back.
    box = page.locator("#chart").bounding_box()
    assert box is not None
    spacing = bar_x(page, 44) - bar_x(page, 45)
    edge = bar_x(page, 45) + spacing / 2
    drag(page, edge, bar_x(page, 40))
    say(page, "span changed")
    watched.shot("spans-drawn")

    page.reload()
    ready(page)
    expect(page.locator("#span-list li.manual")).to_have_count(2)  # they persist

    # A point annotation: alt+click on a candle, a price level and a note.
    page.locator("#annotation-type").select_option(label="breakout")
    box = page.locator("#chart").bounding_box()
    assert box is not None
    where: Position = {"x": bar_x(page, 10) - box["x"], "y": box["height"] * 0.4}
    page.locator("#chart").click(position=where, modifiers=["Alt"])
    page.locator("#annotation-price").fill("123.45")
    page.locator("#annotation-note").fill("volume spike")
    page.locator("#annotation-save").click()
    say(page, "annotation added")
    expect(page.locator("#annotation-list li")).to_have_count(1)

    page.locator("#reviewer").fill("rita")
    page.locator("#reviewer").dispatch_event("change")
    review_in_list(page, 0, "a", "accepted")
    review_in_list(page, 0, "r", "rejected")  # the next proposal, now the first still proposed
    watched.shot("reviewed")

    spans = rows(conn, SPANS)
    manual = [s for s in spans if s[1] == "manual"]
    assert [s[0] for s in manual] == ["support test", "uptrend"]
    assert manual[0][3].timestamp() == bar_time(page, 60)
    assert manual[0][4].timestamp() == bar_time(page, 40)  # resized
    assert manual[1][3].timestamp() == bar_time(page, 30)
    assert manual[1][4].timestamp() == bar_time(page, 20)
    reviewed = sorted((s[2], s[5], s[6]) for s in spans if s[1] == "model" and s[2] != "proposed")
    assert reviewed == [("accepted", "rita", True), ("rejected", "rita", True)]
    [note] = rows(conn, "SELECT a.time, t.name, a.price, a.note FROM annotations a "
                        "JOIN annotation_types t ON t.id = a.annotation_type_id")  # fmt: skip
    assert note[0].timestamp() == bar_time(page, 10)
    assert note[1:] == ("breakout", 123.45, "volume spike")
    assert watched.errors == []


def test_undo_and_redo_walk_back_and_forth_through_draw_resize_and_delete(
    watched: Watched, site: str, demo_chart: int, conn: Connection
) -> None:
    page = watched.page
    page.goto(f"{site}/charts/{demo_chart}")
    ready(page)
    page.keyboard.press("3")  # range
    drag(page, bar_x(page, 60), bar_x(page, 45))
    say(page, "span created")
    page.keyboard.press("Escape")
    spacing = bar_x(page, 44) - bar_x(page, 45)
    drag(page, bar_x(page, 45) + spacing / 2, bar_x(page, 40))
    say(page, "span changed")
    page.locator("#span-list li.manual").first.click()
    page.keyboard.press("Delete")
    say(page, "span deleted")
    drawn, resized = (60, 45), (60, 40)
    steps = [("Control+z", "undone: 2 to undo, 1 to redo", [resized]),
             ("Control+z", "undone: 1 to undo, 2 to redo", [drawn]),
             ("Control+z", "undone: 0 to undo, 3 to redo", []),
             ("Control+Shift+z", "redone: 1 to undo, 2 to redo", [drawn]),
             ("Control+y", "redone: 2 to undo, 1 to redo", [resized]),
             ("Control+Shift+z", "redone: 3 to undo, 0 to redo", [])]  # fmt: skip
    for keys, told, expected in steps:
        page.keyboard.press(keys)
        say(page, told)
        expect(page.locator("#span-list li.manual")).to_have_count(len(expected))
        assert manual_edges(page, conn) == expected, (keys, expected)
    assert watched.errors == []


def manual_edges(page: Page, conn: Connection) -> list[tuple[int, int]]:
    """Each manual span's first and last bar, counted back from the newest bar."""
    back = {bar_time(page, n): n for n in range(80)}
    spans = rows(conn, "SELECT start_time, end_time FROM span_annotations "
                       "WHERE source = 'manual' ORDER BY id")  # fmt: skip
    return [(back[a.timestamp()], back[b.timestamp()]) for a, b in spans]


def test_the_charts_page_lists_searches_and_takes_an_upload(
    watched: Watched, site: str, demo_chart: int, tmp_path: Any
) -> None:
    page = watched.page
    page.goto(site)
    expect(page.locator("#charts tbody tr")).to_have_count(1)
    row = page.locator("#charts tbody tr").first
    expect(row).to_contain_text("BTCUSDT")
    expect(row).to_contain_text("721")
    upload = tmp_path / "eth.csv"
    lines = ["time,open,high,low,close,volume"]
    lines += [f"2025-03-{1 + h // 24:02d}T{h % 24:02d}:00:00Z,10,11,9,10.5,100" for h in range(200)]
    lines.insert(4, "2025-03-01T99:00:00Z,10,11,9,10.5,100")  # line 5: a time that is not one
    upload.write_text("\n".join(lines) + "\n")
    page.locator("input[name=file]").set_input_files(str(upload))
    page.locator("input[name=symbol]").fill("ethusdt")
    page.locator("input[name=timeframe]").fill("1h")
    page.locator(".upload button[type=submit]").click()
    report = page.locator("#upload-report")
    expect(report).to_contain_text("200 inserted")
    expect(report).to_contain_text("1 rejected")
    first_reject = report.locator(".rejects tbody tr").first
    expect(first_reject).to_contain_text(re.compile(r"^5\s*unparsable_time"))
    watched.shot("charts-upload")
    page.locator("input[name=q]").fill("eth")
    page.locator(".search button").click()
    expect(page.locator("#charts tbody tr")).to_have_count(1)
    expect(page.locator("#charts tbody tr").first).to_contain_text("ETHUSDT")
    assert watched.errors == []


SPANS = (
    "SELECT t.name, s.source, s.status, s.start_time, s.end_time, s.reviewed_by, "
    "s.reviewed_at IS NOT NULL FROM span_annotations s "
    "JOIN span_label_types t ON t.id = s.label_type_id ORDER BY s.id"
)


def rows(conn: Connection, query: str) -> list[tuple[Any, ...]]:
    conn.commit()  # see what the app committed
    return conn.execute(query).fetchall()


def test_a_calendar_chart_shows_its_missing_bars_as_empty_slots_but_not_the_night(
    watched: Watched, site: str, conn: Connection
) -> None:
    chart_id = stored_chart(conn, XNYS_TIMES, XNYS_HOURLY)
    conn.commit()
    page = watched.page
    page.goto(f"{site}/charts/{chart_id}")
    ready(page)
    slots = page.evaluate("window.candlelab.bars.points.map(p => [p.time, p.open !== undefined])")
    every = sorted(XNYS_TIMES + XNYS_LACKS)
    seconds = [int(np.datetime64(t, "s").astype(np.int64)) for t in every]
    assert slots == [[s, t not in XNYS_LACKS] for s, t in zip(seconds, every, strict=True)]
    say(page, "5 bars loaded, 3 missing shown empty")
    watched.shot("calendar-gaps")
    assert watched.errors == []


def test_the_api_docs_work_offline_under_the_pages_script_policy(
    watched: Watched, site: str
) -> None:
    page = watched.page
    page.goto(f"{site}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("candlelab", timeout=15_000)
    expect(page.get_by_text("A candle window").first).to_be_visible()
    watched.shot("api-docs")
    assert watched.errors == []  # nothing refused by the policy, nothing from a CDN


def test_scrolling_back_fetches_older_bars_piece_by_piece(
    watched: Watched, site: str, conn: Connection
) -> None:
    hours = np.datetime64("2024-01-01T00:00") + np.arange(10_000) * np.timedelta64(1, "h")
    chart_id = stored_chart(conn, [str(t) for t in hours], IngestOptions("LONG", Timeframe(1, "h")))
    conn.commit()
    page = watched.page
    page.goto(f"{site}/charts/{chart_id}")
    ready(page)
    held = "() => { const b = window.candlelab.bars; return [b.points.length, b.first, b.last]; }"
    count, first, last = page.evaluate(held)
    assert count == 3000  # the newest piece, not the chart
    assert last == int(hours[-1].astype("datetime64[s]").astype(np.int64))
    box = page.locator("#chart").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(40):  # pan left until the next piece has come
        page.mouse.wheel(-600, 0)
        if page.evaluate(held)[0] > count:
            break
    expect(page.locator("#status")).not_to_contain_text("error")
    page.wait_for_function("() => window.candlelab.bars.points.length === 6000", timeout=10_000)
    times = page.evaluate("() => window.candlelab.bars.points.map(p => p.time)")
    assert times[0] == first - 3000 * 3600  # the piece just before, joined without a seam
    assert all(b - a == 3600 for a, b in itertools.pairwise(times))
    assert watched.errors == []
