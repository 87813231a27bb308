// The chart view: candles and volume from the database by window, spans drawn and edited
// with the mouse and hotkeys, point annotations, review of model proposals, undo/redo,
// the values of a feature set over the candles or under them, and the models' signals.
import { api, ApiError } from "./api.js";
import { Bars } from "./bars.js";
import { FeaturePane, featurePicker } from "./featurepane.js";
import { SignalMarks, signalPicker } from "./signals.js";
import { SpanLayer } from "./spanlayer.js";

const LC = window.LightweightCharts;
const root = document.getElementById("annotator");
const chartId = Number(root.dataset.chartId);
const timezone = root.dataset.timezone || "UTC";
const PIECE = 3000; // bars fetched at a time
const MARGIN = 300; // bars kept ready beyond the visible range
// The most bars (empty slots included) the page holds, however long the chart and however
// long the user scrolls: each piece joined drops as much from the far end. The window must
// take the widest view (at the chart's 0.5 px minimum bar spacing, about 2,800 bars on a
// 1,400 px chart) with its margins and the piece just joined; four pieces is that with room
// to spare, so scrolling back and forth over a screen or two refetches nothing, and 12,000
// bars stay a few MB in the page and in the chart.
const HELD = 4 * PIECE;

const bars = new Bars(chartId, Number(root.dataset.barSeconds), root.dataset.calendar);
const layer = new SpanLayer(bars);
const state = { labels: [], kinds: [], spans: [], notes: [], label: null, selected: null,
                undo: [], redo: [], drag: null, loading: false }; // prettier-ignore
const el = (id) => document.getElementById(id);
const statusLine = el("status");

// ---------------------------------------------------------------- chart and time axis

const zoned = (options) => new Intl.DateTimeFormat("en-GB", { timeZone: timezone, hourCycle: "h23", ...options });
const formats = {
  full: zoned({ year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit" }),
  0: zoned({ year: "numeric" }), 1: zoned({ month: "short", year: "2-digit" }),
  2: zoned({ day: "2-digit", month: "short" }), 3: zoned({ hour: "2-digit", minute: "2-digit" }),
  4: zoned({ hour: "2-digit", minute: "2-digit", second: "2-digit" }),
};
const chart = LC.createChart(el("chart"), {
  autoSize: true,
  layout: { background: { color: "#ffffff" }, textColor: "#333", panes: { separatorColor: "#ddd" } },
  grid: { vertLines: { color: "#f0f0f0" }, horzLines: { color: "#f0f0f0" } },
  handleScroll: { pressedMouseMove: false }, // panned in this file: see grip()
  timeScale: { timeVisible: true, secondsVisible: false, rightOffset: 5,
               tickMarkFormatter: (t, kind) => formats[kind].format(new Date(t * 1000)) },
  localization: { timeFormatter: (t) => `${formats.full.format(new Date(t * 1000))} ${timezone}` },
  crosshair: { mode: LC.CrosshairMode.Normal },
});
const candles = chart.addSeries(LC.CandlestickSeries, {
  upColor: "#26a69a", downColor: "#ef5350", borderVisible: false,
  wickUpColor: "#26a69a", wickDownColor: "#ef5350",
});
const volume = chart.addSeries(LC.HistogramSeries, { priceFormat: { type: "volume" } }, 1);
chart.panes()[1].setHeight(90);
candles.attachPrimitive(layer);
const markers = LC.createSeriesMarkers(candles, []); // the point annotations and the signals
const signals = new SignalMarks(chartId);
let signalsShown = () => {}; // the signal controls, once made

function say(text, bad = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("bad", bad);
}

const features = new FeaturePane(chart, bars, chartId, say);
bars.alongside = (query) => features.alongside(query); // each piece's values come with it

function redraw() {
  candles.setData(bars.points);
  volume.setData(bars.volumes);
  features.draw();
}

// The piece the view needs next, or null: older bars near its left edge, newer near its right.
function wanted(range) {
  if (range.from < MARGIN && !bars.atStart) return bars.older(PIECE);
  if (range.to > bars.points.length - MARGIN && !bars.atEnd) return bars.newer(PIECE);
  return null;
}

async function extend() {
  const range = chart.timeScale().getVisibleLogicalRange();
  const coming = range && !state.loading ? wanted(range) : null;
  if (!coming) return;
  state.loading = true;
  try {
    const piece = await coming;
    if (!bars.fits(piece)) return;
    takeIn(piece);
    await refreshLabels();
  } catch (error) { say(error.message, true); return; } finally { state.loading = false; }
  extend(); // the user may have scrolled past this piece while it came
}

// Join a piece, drop what lies farthest from the view beyond HELD, and keep the view on the
// same bars. Logical indices count from the first bar held, so they move by what came and
// went at the start; left alone, the chart would keep the view's offset from the last bar.
// The view is read now, not before the fetch: the user may have scrolled on meanwhile.
function takeIn(piece) {
  const range = chart.timeScale().getVisibleLogicalRange();
  const added = bars.take(piece);
  const view = { from: range.from + added, to: range.to + added };
  // A view wider than HELD allows (a very wide screen, zoomed right out) is held whole with
  // its margins: cutting into them would make each piece drop what the next must fetch.
  const cap = Math.max(HELD, view.to - view.from + 2 * (MARGIN + 1));
  const moved = added - bars.fit(cap, view);
  redraw();
  chart.timeScale().setVisibleLogicalRange({ from: range.from + moved, to: range.to + moved });
}

async function jumpTo(start, end) {
  const inside = bars.first !== null && start >= bars.first && end <= bars.last;
  if (!inside) {
    await bars.around(start, PIECE);
    redraw();
    await refreshLabels();
  }
  const from = bars.logicalOf(start);
  const to = bars.logicalOf(end);
  const pad = Math.max(20, (to - from) * 0.5);
  chart.timeScale().setVisibleLogicalRange({ from: from - pad, to: to + pad });
}

// ---------------------------------------------------------------- spans and annotations

const CATEGORY = (s) => (s.status === "proposed" ? "proposed" : s.status === "rejected" ? "rejected"
  : s.source === "manual" ? "manual" : "accepted");

function shown() {
  const on = new Set([...document.querySelectorAll("#filters input:checked")].map((i) => i.value));
  return state.spans.filter((s) => on.has(CATEGORY(s)));
}

function toSpan(s) {
  return { ...s, start: Date.parse(s.start_time) / 1000, end: Date.parse(s.end_time) / 1000 };
}

async function refreshLabels() {
  if (bars.first === null) return;
  const loaded = `start=${iso(bars.first)}&end=${iso(bars.last)}&limit=5000`;
  const [spans, notes] = await Promise.all([
    api("GET", `/api/charts/${chartId}/spans?${loaded}`),
    api("GET", `/api/charts/${chartId}/annotations?${loaded}`),
    signals.load(bars.first, bars.last).catch((error) => say(`signals: ${error.message}`, true)),
  ]);
  state.spans = spans.items.map(toSpan);
  state.notes = notes.items;
  if (state.selected) state.selected = state.spans.find((s) => s.id === state.selected.id) || null;
  render();
}

function render() {
  const visible = shown();
  layer.selected = state.selected;
  layer.show(visible, state.labels.map((l) => l.id));
  renderSpanList(visible);
  renderNotes();
}

// The list by time (as `shown` gives it), or least confident first: the proposals first, the
// ones the model is least sure of at the top and those without a confidence after them, then
// every other span; the sort is stable, so ties keep their time order.
function ordered(spans) {
  if (el("span-order").value !== "confidence") return spans;
  const rank = (s) => (s.status !== "proposed" ? 2 : s.confidence == null ? 1 : 0);
  return [...spans].sort((a, b) => rank(a) - rank(b) || (rank(a) === 0 ? a.confidence - b.confidence : 0));
}

// Which model proposed a span, from its prediction ("upper v2"); imported spans may carry
// any JSON there, so only an object naming a model counts.
function proposer(s) {
  const p = s.model_prediction;
  if (!p || typeof p !== "object" || typeof p.model !== "string") return "";
  return ` · ${p.model}${Number.isInteger(p.version) ? ` v${p.version}` : ""}`;
}

function renderSpanList(spans) {
  const items = ordered(spans).map((s) => {
    const li = document.createElement("li");
    li.dataset.spanId = s.id;
    li.className = `span-item ${CATEGORY(s)}${state.selected && state.selected.id === s.id ? " selected" : ""}`;
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = s.color;
    const text = document.createElement("span");
    const confidence = s.confidence == null ? "" : ` · ${Math.round(s.confidence * 100)}%`;
    text.textContent = `${s.label} · ${formats.full.format(new Date(s.start * 1000))} → ${
      formats.full.format(new Date(s.end * 1000))} · ${CATEGORY(s)}${confidence}${proposer(s)}`;
    li.append(swatch, text);
    li.addEventListener("click", () => select(s, true));
    return li;
  });
  el("span-list").replaceChildren(...items);
}

function renderNotes() {
  const notes = state.notes.map((n) => ({
    time: Date.parse(n.time) / 1000, position: "aboveBar", shape: n.shape || "circle",
    color: n.color || "#555", text: n.type_name || "note",
  }));
  markers.setMarkers([...notes, ...signals.markers()].sort((a, b) => a.time - b.time));
  signalsShown();
  el("annotation-list").replaceChildren(...state.notes.map((n) => {
    const li = document.createElement("li");
    li.className = "note-item";
    const price = n.price == null ? "" : ` @ ${n.price}`;
    li.textContent = `${n.type_name || "note"} · ${formats.full.format(new Date(Date.parse(n.time)))}${price}${
      n.note ? ` · ${n.note}` : ""}`;
    li.addEventListener("click", () => jumpTo(Date.parse(n.time) / 1000, Date.parse(n.time) / 1000));
    return li;
  }));
}

async function select(span, jump = false) {
  state.selected = span;
  render();
  if (jump && span) await jumpTo(span.start, span.end);
}

// ---------------------------------------------------------------- writes, undo and redo

function replaceSpan(id, fresh) {
  state.spans = state.spans.filter((s) => s.id !== id);
  if (fresh) state.spans.push(toSpan(fresh));
  state.spans.sort((a, b) => a.start - b.start || a.id - b.id);
  const selected = fresh ? state.spans.find((s) => s.id === fresh.id) : null;
  if (state.selected && state.selected.id === id) state.selected = selected;
  render();
  return selected;
}

async function attempt(what, work) {
  try {
    const result = await work();
    say(what);
    return result;
  } catch (error) {
    if (error instanceof ApiError && error.status === 409) {
      say(`${error.message} — reloaded the current version`, true);
      await refreshLabels();
    } else say(error.message, true);
    throw error;
  }
}

function done(action) {
  state.undo.push(action);
  state.redo = [];
}

// Undo and redo address a span through a ref: a span deleted and made again has a new id,
// and the actions done to it before must still find it.
const refs = new Map();

function refOf(id) {
  if (!refs.has(id)) refs.set(id, { id });
  return refs.get(id);
}

async function versionOf(ref) {
  const held = state.spans.find((s) => s.id === ref.id); // or scrolled out of the window
  return (held || await api("GET", `/api/spans/${ref.id}`)).version;
}

async function remake(ref, body) {
  const fresh = await api("POST", "/api/spans", body);
  ref.id = fresh.id;
  refs.set(fresh.id, ref);
  replaceSpan(null, fresh);
}

async function removeSpan(ref) {
  await api("DELETE", `/api/spans/${ref.id}?version=${await versionOf(ref)}`);
  replaceSpan(ref.id, null);
}

async function patchSpan(ref, changes) {
  const body = { version: await versionOf(ref), ...changes };
  replaceSpan(ref.id, await api("PATCH", `/api/spans/${ref.id}`, body));
}

async function createSpan(body) {
  const made = await attempt("span created", () => api("POST", "/api/spans", body));
  replaceSpan(null, made);
  const ref = refOf(made.id);
  done({ undo: () => removeSpan(ref), redo: () => remake(ref, body) });
}

async function changeSpan(span, changes) {
  const before = { start_time: span.start_time, end_time: span.end_time, label_type_id: span.label_type_id };
  const ref = refOf(span.id);
  await attempt("span changed", () => patchSpan(ref, changes));
  done({ undo: () => patchSpan(ref, before), redo: () => patchSpan(ref, changes) });
}

async function deleteSpan(span) {
  const ref = refOf(span.id);
  await attempt("span deleted", () => removeSpan(ref));
  const body = { chart_id: chartId, label_type_id: span.label_type_id, start_time: span.start_time,
                 end_time: span.end_time, source: span.source, confidence: span.confidence,
                 created_by: span.created_by || undefined };
  done({ undo: () => remake(ref, body), redo: () => removeSpan(ref) });
}

async function review(span, status) {
  if (!span || span.status !== "proposed") return say("select a proposed span to review", true);
  const body = { status, version: span.version, reviewer: reviewer() };
  replaceSpan(span.id, await attempt(`proposal ${status}`, () => api("POST", `/api/spans/${span.id}/review`, body)));
}

async function reviewAll(status) {
  const range = chart.timeScale().getVisibleLogicalRange();
  if (!range) return;
  const body = { status, reviewer: reviewer(), start: iso(bars.timeAt(Math.max(range.from, 0))),
                 end: iso(bars.timeAt(Math.min(range.to, bars.points.length - 1))) };
  const result = await attempt(`proposals in view ${status}`, () => api("POST", `/api/charts/${chartId}/spans/review`, body));
  say(`${result.ids.length} proposal(s) ${status}`);
  await refreshLabels();
}

async function step(from, to) {
  const action = from.pop();
  if (!action) return;
  try {
    await (from === state.undo ? action.undo() : action.redo());
    to.push(action);
    say(`${from === state.undo ? "undone" : "redone"}: ${state.undo.length} to undo, ${state.redo.length} to redo`);
  } catch (error) { say(error.message, true); }
}

// ---------------------------------------------------------------- mouse

const area = el("chart");
const xOf = (event) => event.clientX - area.getBoundingClientRect().left;
const logicalAt = (x) => chart.timeScale().coordinateToLogical(x);

area.addEventListener("mousemove", (event) => {
  if (state.drag) return;
  const edge = layer.edgeAt(xOf(event));
  area.style.cursor = edge ? "ew-resize" : state.label ? "crosshair" : "";
});

window.addEventListener("mousemove", (event) => {
  if (state.drag && event.buttons & 1) dragTo(event); // outside the chart too, as its own pan did
});

area.addEventListener("mousedown", (event) => {
  if (event.button !== 0 || event.altKey) return;
  const x = xOf(event);
  const edge = layer.edgeAt(x);
  const at = bars.timeAt(logicalAt(x));
  if (edge) state.drag = { kind: "resize", span: edge.span, edge: edge.edge, x0: x, at };
  else if (state.label) state.drag = { kind: "draw", from: at, at, x0: x };
  else state.drag = { kind: "pan", x0: x, grip: grip(event) }; // a click, if it barely moves
  if (state.drag.kind !== "pan") dragTo(event);
});

function dragTo(event) {
  const drag = state.drag;
  if (drag.kind === "pan") return drag.grip && panTo(drag.grip, event);
  drag.at = bars.timeAt(logicalAt(xOf(event)));
  const [start, end] = drag.kind === "draw" ? [drag.from, drag.at]
    : drag.edge === "start" ? [drag.at, drag.span.end] : [drag.span.start, drag.at];
  const color = drag.kind === "draw" ? state.label.color : drag.span.color;
  layer.preview = { start: Math.min(start, end), end: Math.max(start, end), color, label_type_id: -1 };
  layer.requestUpdate();
}

// Panning by mouse is done here, not by the chart (its pressedMouseMove is off): the chart
// keeps where a drag began as an offset from the last bar held, so a piece joined or dropped
// at that end mid-drag would throw the view by as many bars (lightweight-charts issue 1521).
// A pan here holds on to the bar grabbed, by its time, which no piece coming or going moves;
// and to the price grabbed, when the pane's prices are scaled by hand.
function grip(event) {
  const x = xOf(event);
  const pane = chart.panes().find((p) => p.getHTMLElement()?.contains(event.target));
  if (!pane || x >= chart.timeScale().width()) return null; // an axis, or the panes' divider
  const logical = logicalAt(x);
  const grabbed = { time: bars.timeAt(logical), dx: x - chart.timeScale().logicalToCoordinate(logical) };
  const series = pane.getSeries()[0];
  const scale = series.priceScale();
  if (scale.options().autoScale) return grabbed; // the chart fits the prices to the bars in view
  const perPixel = (series.coordinateToPrice(0) - series.coordinateToPrice(100)) / 100;
  return { ...grabbed, scale, prices: scale.getVisibleRange(), perPixel, y0: event.clientY };
}

// Move the view so that the grabbed bar is under the pointer again.
function panTo(grip, event) {
  const time = chart.timeScale();
  const range = time.getVisibleLogicalRange();
  const spacing = time.width() / (range.to - range.from + 1); // px a bar, as the chart sizes it
  const at = time.logicalToCoordinate(Math.round(bars.logicalOf(grip.time))) + grip.dx;
  const by = (at - xOf(event)) / spacing;
  time.setVisibleLogicalRange({ from: range.from + by, to: range.to + by });
  if (!grip.scale) return;
  const up = (event.clientY - grip.y0) * grip.perPixel;
  grip.scale.setVisibleRange({ from: grip.prices.from + up, to: grip.prices.to + up });
}

window.addEventListener("mouseup", async (event) => {
  const drag = state.drag;
  state.drag = null;
  layer.preview = null;
  layer.requestUpdate();
  if (!drag) return;
  const x = xOf(event);
  if (drag.kind === "pan" || Math.abs(x - drag.x0) < 3 && drag.kind === "resize") {
    if (Math.abs(x - drag.x0) < 3) await select(layer.spanAt(x));
    return;
  }
  try {
    if (drag.kind === "draw") await drawn(drag);
    else await resized(drag);
  } catch { /* said in the status line */ }
});

async function drawn(drag) {
  const [start, end] = [Math.min(drag.from, drag.at), Math.max(drag.from, drag.at)];
  await createSpan({ chart_id: chartId, label_type_id: state.label.id, start_time: iso(start),
                     end_time: iso(end), created_by: reviewer() });
}

async function resized(drag) {
  const span = drag.span;
  let [start, end] = drag.edge === "start" ? [drag.at, span.end] : [span.start, drag.at];
  if (end < start) [start, end] = [end, start];
  await changeSpan(span, { start_time: iso(start), end_time: iso(end) });
}

area.addEventListener("click", (event) => {
  if (!event.altKey) return;
  const logical = Math.round(logicalAt(xOf(event)));
  if (!bars.isCandle(logical)) return say("alt+click on a candle to annotate it", true);
  const price = candles.coordinateToPrice(event.clientY - area.getBoundingClientRect().top);
  openAnnotation(bars.timeAt(logical), price);
});

// ---------------------------------------------------------------- point annotations

function openAnnotation(time, price) {
  const dialog = el("annotation-dialog");
  el("annotation-when").textContent = formats.full.format(new Date(time * 1000));
  el("annotation-price").value = price == null ? "" : Number(price).toFixed(2);
  el("annotation-note").value = "";
  dialog.returnValue = "";
  dialog.onclose = async () => {
    if (dialog.returnValue !== "save") return;
    const kind = el("annotation-type").value;
    const priceText = el("annotation-price").value;
    const body = { chart_id: chartId, time: iso(time), annotation_type_id: kind ? Number(kind) : null,
                   price: priceText === "" ? null : Number(priceText),
                   note: el("annotation-note").value || null, created_by: reviewer() };
    try {
      await attempt("annotation added", () => api("POST", "/api/annotations", body));
      await refreshLabels();
    } catch { /* said */ }
  };
  dialog.showModal();
}

// ---------------------------------------------------------------- keys and controls

function pick(label) {
  state.label = state.label === label ? null : label;
  for (const b of document.querySelectorAll("#palette button")) {
    b.classList.toggle("active", state.label !== null && Number(b.dataset.labelId) === state.label.id);
  }
  say(state.label ? `drawing ${state.label.name}: drag across candles (Esc stops)` : "");
}

document.addEventListener("keydown", async (event) => {
  if (event.target.closest("input, textarea, select, dialog")) return;
  const key = event.key;
  const label = state.labels.find((l) => l.hotkey === key);
  if (label) pick(label);
  else if (key === "Escape") { pick(null); await select(null); }
  else if ((event.ctrlKey || event.metaKey) && key.toLowerCase() === "z") {
    event.preventDefault();
    await (event.shiftKey ? step(state.redo, state.undo) : step(state.undo, state.redo));
  } else if ((event.ctrlKey || event.metaKey) && key === "y") await step(state.redo, state.undo);
  else if ((key === "Delete" || key === "Backspace") && state.selected) await deleteSpan(state.selected).catch(() => {});
  else if (key === "a" && state.selected) await review(state.selected, "accepted").catch(() => {});
  else if (key === "r" && state.selected) await review(state.selected, "rejected").catch(() => {});
});

function palette() {
  const active = state.labels.filter((l) => l.is_active);
  el("palette").replaceChildren(...active.map((l) => {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.labelId = l.id;
    b.className = "label-button";
    b.style.borderColor = l.color;
    const key = document.createElement("kbd");
    key.textContent = l.hotkey || "·";
    b.append(key, document.createTextNode(` ${l.name}`));
    b.addEventListener("click", () => pick(l));
    return b;
  }));
  const kinds = state.kinds.filter((k) => k.is_active).map((k) => new Option(k.name, k.id));
  el("annotation-type").replaceChildren(new Option("(note only)", ""), ...kinds);
}

function reviewer() {
  return el("reviewer").value.trim() || "labeller";
}

function iso(seconds) {
  return new Date(seconds * 1000).toISOString();
}

el("undo").addEventListener("click", () => step(state.undo, state.redo));
el("redo").addEventListener("click", () => step(state.redo, state.undo));
el("accept-all").addEventListener("click", () => reviewAll("accepted").catch(() => {}));
el("reject-all").addEventListener("click", () => reviewAll("rejected").catch(() => {}));
el("filters").addEventListener("change", render);
el("reviewer").value = localStorage.getItem("candlelab.reviewer") || "";
el("reviewer").addEventListener("change", () => localStorage.setItem("candlelab.reviewer", reviewer()));
el("span-order").value = localStorage.getItem("candlelab.spanOrder") === "confidence" ? "confidence" : "time";
el("span-order").addEventListener("change", () => {
  localStorage.setItem("candlelab.spanOrder", el("span-order").value);
  render();
});
chart.timeScale().subscribeVisibleLogicalRangeChange((range) => {
  if (range && signals.zoomed(range.to - range.from)) renderNotes();
  extend();
});

async function start() {
  [state.labels, state.kinds] = await Promise.all([
    api("GET", "/api/span-label-types"), api("GET", "/api/annotation-types"),
  ]);
  palette();
  await features.start().catch((error) => say(`features: ${error.message}`, true));
  featurePicker(features, el("feature-set"), el("feature-list"), el("feature-note"));
  signalsShown = signalPicker(signals, el("signals-shown"), el("signal-model"), el("signal-legend"), renderNotes);
  await bars.latest(PIECE);
  redraw();
  chart.timeScale().setVisibleLogicalRange({ from: bars.points.length - 150, to: bars.points.length + 5 });
  await refreshLabels();
  root.dataset.ready = "true"; // the page is drawn: what tests and screenshots wait for
  const empty = bars.points.length - bars.candles;
  const gaps = empty ? `, ${empty.toLocaleString()} missing shown empty` : "";
  say(`${bars.candles.toLocaleString()} bars loaded${gaps}; pick a label (1–9) and drag to draw`);
}

// For tests and the console: where a bar's time is on screen, and which bar is at an x.
window.candlelab = { xOf: (time) => chart.timeScale().logicalToCoordinate(bars.logicalOf(time)),
                     timeAt: (x) => bars.timeAt(logicalAt(x)), bars, state, jumpTo, features,
                     signals, markers: () => markers.markers() };

start().catch((error) => say(error.message, true));
