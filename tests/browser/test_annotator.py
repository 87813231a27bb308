"""What a labeller does, in a real browser: open the demo's chart, make a label type, draw two
spans by hotkey and mouse, resize one, reload, annotate a candle, review two proposals;
then the database is checked. Screenshots land in test-results/screenshots."""

from __future__ import annotations

import itertools
import re
from typing import Any

import numpy as np
import numpy.typing as npt
from playwright.sync_api import Page, Position, expect

from candlelab.demo import seed_labels
from candlelab.labels.spans import NewSpan, add_span
from candlelab.market.ingest import IngestOptions
from candlelab.market.quality import utc_datetime
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
    # The level clicked at, on the chart's own scale: a price the API finds plausible.
    price = round(float(page.locator("#annotation-price").input_value()) + 0.25, 2)
    page.locator("#annotation-price").fill(str(price))
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
    assert note[1:] == ("breakout", price, "volume spike")
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


HELD = 12_000  # annotator.js's HELD: the most bars (empty slots too) the page holds
HOUR = 3600
# Resolves once the chart has drawn what the last input did and no piece is on its way.
SETTLE = """async () => {
  const frame = () => new Promise((done) => requestAnimationFrame(() => done()));
  do { await frame(); await frame(); } while (window.candlelab.state.loading);
}"""
HELD_NOW = """() => { const b = window.candlelab.bars;
  return { count: b.points.length, last: b.last, atEnd: b.atEnd }; }"""


def seconds(moment: np.datetime64) -> int:
    return int(moment.astype("datetime64[s]").astype(np.int64))


def x_of(page: Page, time: float) -> float:
    """Where a bar's time is, in px from the chart's left edge."""
    return float(page.evaluate("t => window.candlelab.xOf(t)", time))


def pan(page: Page, dx: float) -> None:
    """Drag the chart by dx px (to the right: back in time) in small steps, so that pieces
    come and go mid-drag; the bar grabbed must end under the pointer all the same."""
    box = page.locator("#chart").bounding_box()
    assert box is not None
    x0 = box["x"] + clear_of_spans(page, box["width"] * 0.45 - dx / 2)
    y = box["y"] + box["height"] * 0.45
    grabbed = page.evaluate("x => window.candlelab.timeAt(x)", x0 - box["x"])
    page.mouse.move(x0, y)
    page.mouse.down()
    for step in range(1, 21):
        page.mouse.move(x0 + dx * step / 20, y)
        page.wait_for_timeout(15)
    page.mouse.up()
    settled_with(page, grabbed, x0 + dx - box["x"])


def wheel(page: Page, dx: float) -> None:
    """Scroll the chart by dx px (to the right: back in time) with the wheel: a piece comes or
    goes with no mouse move after it, so the page alone must keep the view on its bars."""
    box = page.locator("#chart").bounding_box()
    assert box is not None
    x = box["width"] * 0.45
    page.mouse.move(box["x"] + x, box["y"] + box["height"] * 0.45)
    grabbed = page.evaluate("x => window.candlelab.timeAt(x)", x)
    page.mouse.wheel(-dx / 0.8, 0)  # the chart scrolls 80 px a 100 of delta
    settled_with(page, grabbed, x + dx)


def clear_of_spans(page: Page, x: float) -> float:
    """An x near `x` that is no span's edge, where a press pans rather than resizes."""
    edges = page.evaluate("() => window.candlelab.state.spans.flatMap(s => [s.start, s.end])")
    while any(abs(x_of(page, edge) - x) < 10 for edge in edges):
        x += 20
    return x


def settled_with(page: Page, time: float, x: float) -> None:
    """Once the page has settled: the bar at `time` is at `x` (nothing jumped when pieces came
    and went), and the page holds no more than HELD bars."""
    page.evaluate(SETTLE)
    assert abs(x_of(page, time) - x) < 2, time
    assert page.evaluate(HELD_NOW)["count"] <= HELD


def long_chart(conn: Connection) -> tuple[int, npt.NDArray[np.datetime64]]:
    """A 24/7 hourly chart of 40,000 hours with a 3-hour gap every 997, a proposal 25,600
    bars back and a manual span among the newest; its id and its bars' times."""
    hours = np.datetime64("2020-01-01T00:00") + np.arange(40_000) * np.timedelta64(1, "h")
    stored = np.delete(hours, [i + k for i in range(500, len(hours), 997) for k in range(3)])
    chart_id = stored_chart(
        conn, [str(t) for t in stored], IngestOptions("LONG", Timeframe(1, "h"))
    )
    labels = seed_labels(conn)
    at = [utc_datetime(stored[i]) for i in (-25_600, -25_300, -60, -30)]
    add_span(conn, NewSpan(chart_id, labels[1], at[0], at[1], source="model", status="proposed"))
    add_span(conn, NewSpan(chart_id, labels[-1], at[2], at[3]))
    conn.commit()
    return chart_id, stored


def test_scrolling_far_back_and_forth_holds_a_few_pieces_and_never_jumps(
    watched: Watched, site: str, conn: Connection
) -> None:
    chart_id, stored = long_chart(conn)
    newest = seconds(stored[-1])
    page = watched.page
    page.goto(f"{site}/charts/{chart_id}")
    ready(page)
    box = page.locator("#chart").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.45)
    for _ in range(30):  # zoom out: about 2,000 bars a screen
        page.mouse.wheel(0, 300)
    page.evaluate(SETTLE)
    proposal = (seconds(stored[-25_600]), seconds(stored[-25_300]))
    scrolls = itertools.cycle([pan, wheel])
    while x_of(page, proposal[0]) < 50:  # back to the proposal, eight pieces back
        next(scrolls)(page, 700)
    assert page.evaluate(HELD_NOW)["last"] < newest - 12_000 * HOUR  # the newest were dropped
    expect(page.locator("#span-list li.proposed")).to_have_count(1)
    expect(page.locator("#span-list li.manual")).to_have_count(0)
    assert x_of(page, proposal[1]) < box["width"] * 0.9  # drawn whole, over its bars
    watched.shot("scrolled-far-back")

    while x_of(page, newest) > box["width"] * 0.8:
        next(scrolls)(page, -700)
    held = page.evaluate(HELD_NOW)
    assert (held["last"], held["atEnd"]) == (newest, True)
    points = page.evaluate(
        "() => window.candlelab.bars.points.map(p => [p.time, p.open !== undefined])"
    )
    times = [t for t, _ in points]
    assert all(b - a == HOUR for a, b in itertools.pairwise(times))  # no seam, nothing twice
    candles = [t for t, candle in points if candle]
    assert candles == [seconds(t) for t in stored if times[0] <= seconds(t) <= times[-1]]
    expect(page.locator("#span-list li.manual")).to_have_count(1)
    expect(page.locator("#span-list li.proposed")).to_have_count(0)
    watched.shot("scrolled-back-to-the-newest")
    assert watched.errors == []
