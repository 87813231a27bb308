// The chart view: candles and volume from the database by window, spans drawn and edited
// with the mouse and hotkeys, point annotations, review of model proposals, undo/redo.
import { api, ApiError } from "./api.js";
import { Bars } from "./bars.js";
import { SpanLayer } from "./spanlayer.js";

const LC = window.LightweightCharts;
const root = document.getElementById("annotator");
const chartId = Number(root.dataset.chartId);
const timezone = root.dataset.timezone || "UTC";
const PIECE = 3000; // bars fetched at a time
const MARGIN = 300; // bars kept ready beyond the visible range

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
const markers = LC.createSeriesMarkers(candles, []);

function say(text, bad = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("bad", bad);
}

function redraw() {
  candles.setData(bars.points);
  volume.setData(bars.volumes);
}

// Keep the logical range steady while bars are added in front of it.
function prepended(count, range) {
  redraw();
  if (range) chart.timeScale().setVisibleLogicalRange({ from: range.from + count, to: range.to + count });
}

async function extend() {
  const range = chart.timeScale().getVisibleLogicalRange();
  if (!range || state.loading) return;
  state.loading = true;
  try {
    if (range.from < MARGIN && !bars.atStart) {
      const before = bars.points.length;
      await bars.older(PIECE);
      prepended(bars.points.length - before, range);
      await refreshLabels();
    } else if (range.to > bars.points.length - MARGIN && !bars.atEnd) {
      if (await bars.newer(PIECE)) { redraw(); await refreshLabels(); }
    }
  } catch (error) { say(error.message, true); } finally { state.loading = false; }
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

function renderSpanList(spans) {
  const items = spans.map((s) => {
    const li = document.createElement("li");
    li.dataset.spanId = s.id;
    li.className = `span-item ${CATEGORY(s)}${state.selected && state.selected.id === s.id ? " selected" : ""}`;
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = s.color;
    const text = document.createElement("span");
    const confidence = s.confidence == null ? "" : ` · ${Math.round(s.confidence * 100)}%`;
    text.textContent = `${s.label} · ${formats.full.format(new Date(s.start * 1000))} → ${
      formats.full.format(new Date(s.end * 1000))} · ${CATEGORY(s)}${confidence}`;
    li.append(swatch, text);
    li.addEventListener("click", () => select(s, true));
    return li;
  });
  el("span-list").replaceChildren(...items);
}

function renderNotes() {
  markers.setMarkers(state.notes.map((n) => ({
    time: Date.parse(n.time) / 1000, position: "aboveBar", shape: n.shape || "circle",
    color: n.color || "#555", text: n.type_name || "note",
  })));
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
const pan = (on) => chart.applyOptions({ handleScroll: { pressedMouseMove: on } });

area.addEventListener("mousemove", (event) => {
  const x = xOf(event);
  if (state.drag) return dragTo(x);
  const edge = layer.edgeAt(x);
  area.style.cursor = edge ? "ew-resize" : state.label ? "crosshair" : "";
  pan(!edge && !state.label); // the chart pans unless a drag here draws or resizes
});

area.addEventListener("mousedown", (event) => {
  if (event.button !== 0 || event.altKey) return;
  const x = xOf(event);
  const edge = layer.edgeAt(x);
  const at = bars.timeAt(logicalAt(x));
  if (edge) state.drag = { kind: "resize", span: edge.span, edge: edge.edge, x0: x, at };
  else if (state.label) state.drag = { kind: "draw", from: at, at, x0: x };
  else state.drag = { kind: "click", x0: x };
  if (state.drag.kind !== "click") dragTo(x);
});

function dragTo(x) {
  const drag = state.drag;
  if (drag.kind === "click") return;
  drag.at = bars.timeAt(logicalAt(x));
  const [start, end] = drag.kind === "draw" ? [drag.from, drag.at]
    : drag.edge === "start" ? [drag.at, drag.span.end] : [drag.span.start, drag.at];
  const color = drag.kind === "draw" ? state.label.color : drag.span.color;
  layer.preview = { start: Math.min(start, end), end: Math.max(start, end), color, label_type_id: -1 };
  layer.requestUpdate();
}

window.addEventListener("mouseup", async (event) => {
  const drag = state.drag;
  state.drag = null;
  layer.preview = null;
  layer.requestUpdate();
  if (!drag) return;
  const x = xOf(event);
  if (drag.kind === "click" || Math.abs(x - drag.x0) < 3 && drag.kind === "resize") {
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
chart.timeScale().subscribeVisibleLogicalRangeChange(() => { extend(); });

async function start() {
  [state.labels, state.kinds] = await Promise.all([
    api("GET", "/api/span-label-types"), api("GET", "/api/annotation-types"),
  ]);
  palette();
  await bars.latest(PIECE);
  redraw();
  chart.timeScale().setVisibleLogicalRange({ from: bars.points.length - 150, to: bars.points.length + 5 });
  await refreshLabels();
  root.dataset.ready = "true"; // the page is drawn: what tests and screenshots wait for
  const empty = bars.points.length - bars.candles;
  const gaps = empty ? `, ${empty.toLocaleString()} missing shown empty` : "";
  say(`${bars.candles.toLocaleString()} bars loaded${gaps}; pick a label (1–9) and drag to draw`);
}

// For tests and the console: where a bar's time is on screen.
window.candlelab = { xOf: (time) => chart.timeScale().logicalToCoordinate(bars.logicalOf(time)),
                     bars, state, jumpTo };

start().catch((error) => say(error.message, true));
