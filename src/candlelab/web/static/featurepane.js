// Features of a materialised set beside the candles, read from the feature store by window
// like the candles are: a labeller sees what the model will see. A column in price units is
// drawn over the candles; any other in a pane of its own under them, on its own scale. The
// server says which (`scale`): "price" for TA-Lib's overlap studies on prices (EMA, BBANDS…),
// "own" for the rest of TA-Lib and the calendar (RSI, MACD…); an expression ("auto") goes on
// the price when nine in ten of its values held lie within the candles' low–high range.
import { api, float64s } from "./api.js";

const LC = window.LightweightCharts;
const COLORS = ["#2962ff", "#ff6d00", "#8e24aa", "#00897b", "#c2185b", "#6d4c41"];
const FIRST_PANE = 2; // 0: the candles, 1: the volume
// The panes share the chart's height by these weights: the candles most of it, the volume
// and each feature a strip (about 100 px on a 700 px chart with no feature shown).
const STRETCH = { candles: 6, volume: 1, feature: 1.4 };
const ON_PRICE = 0.9;
const REMEMBERED = "candlelab.features"; // the last set and columns shown, for the next chart

export class FeaturePane {
  constructor(chart, bars, chartId, say) {
    Object.assign(this, { chart, bars, chartId, say });
    this.sets = []; // the sets built on the chart, newest version of each name first
    this.set = null; // the one shown
    this.picked = []; // its columns shown, in the set's order
    this.values = new Map(); // column → Map(bar time → value), for the bars held
    this.series = new Map(); // column → its series on the chart
    this.places = new Map(); // column → "price" | "own", once known
    this.generation = 0; // moves on with the set: answers about another set are dropped
    this.dirty = false; // the series must be laid out again
  }

  async start() {
    this.sets = await api("GET", `/api/charts/${this.chartId}/feature-sets`);
  }

  // Show these columns of the set labelled so from the next draw on (no fetch).
  choose(label, columns) {
    const set = this.sets.find((s) => s.label === label) || null;
    if (set !== this.set) {
      this.generation += 1;
      this.values.clear();
      this.places.clear();
    }
    this.set = set;
    this.picked = set ? set.columns.map((c) => c.name).filter((name) => columns.includes(name)) : [];
    for (const name of this.values.keys()) if (!this.picked.includes(name)) this.values.delete(name);
    this.dirty = true;
  }

  // Choose, fetch what is not held yet for the bars held, and draw.
  async show(label, columns) {
    this.choose(label, columns);
    await this.bars.settled(); // a piece asked for before this choice comes without them
    const missing = this.picked.filter((name) => !this.values.has(name));
    if (missing.length && this.bars.first !== null) {
      const query = new URLSearchParams({
        start: iso(this.bars.first), end: iso(this.bars.last + 1),
        limit: String(Math.min(this.bars.points.length, 50000)),
      });
      await this.fetch(query, missing);
    }
    this.dirty = true; // laid out again, now that an expression's values can place it
    this.draw();
  }

  // The values of the columns shown for the bars a candle query asks for (Bars.alongside):
  // the same start, end and limit give the same bars.
  alongside(query) {
    return this.picked.length ? this.fetch(query, this.picked) : null;
  }

  // Never throws: the candles come whatever happens to their features.
  async fetch(query, columns) {
    const asked = this.generation;
    const params = new URLSearchParams(query);
    params.set("set", this.set.label);
    params.set("columns", columns.join(","));
    try {
      const window = await api("GET", `/api/charts/${this.chartId}/features?${params}`);
      if (asked === this.generation) this.keep(window);
    } catch (error) {
      this.say(`features: ${error.message}`, true);
    }
  }

  keep(window) {
    const times = float64s(window.time);
    for (const [name, text] of Object.entries(window.columns)) {
      const values = float64s(text);
      const held = this.values.get(name) || new Map();
      times.forEach((time, i) => held.set(time, values[i]));
      this.values.set(name, held);
    }
  }

  // Each series gets a point or an empty slot for every bar held (the time scale is the
  // candles'), NaN warm-up included; values beyond the bars held are let go.
  draw() {
    if (this.dirty) this.layout();
    for (const [name, series] of this.series) {
      const held = this.values.get(name);
      const kept = new Map();
      series.setData(this.bars.points.map(({ time }) => {
        const value = held && held.get(time);
        if (value === undefined) return { time };
        kept.set(time, value);
        return Number.isNaN(value) ? { time } : point(name, time, value);
      }));
      if (held) this.values.set(name, kept); // a column not fetched yet stays so
    }
  }

  layout() {
    for (const series of this.series.values()) this.chart.removeSeries(series); // and its pane
    this.series.clear();
    let pane = FIRST_PANE;
    this.picked.forEach((name, i) => {
      const color = COLORS[i % COLORS.length];
      const onPrice = this.place(name) === "price";
      const [kind, options] = !onPrice && isHistogram(name) ? [LC.HistogramSeries, {}]
        : [LC.LineSeries, { color, lineWidth: onPrice ? 2 : 1 }];
      const shown = { ...options, title: name, priceLineVisible: false };
      this.series.set(name, this.chart.addSeries(kind, shown, onPrice ? 0 : pane));
      if (!onPrice) pane += 1;
    });
    this.chart.panes().forEach((p, i) => p.setStretchFactor(
      i === 0 ? STRETCH.candles : i === 1 ? STRETCH.volume : STRETCH.feature));
    this.dirty = false;
  }

  place(name) {
    if (this.places.has(name)) return this.places.get(name);
    const { scale } = this.set.columns.find((c) => c.name === name);
    const values = [...(this.values.get(name) || new Map()).values()].filter(Number.isFinite);
    if (scale === "auto" && !values.length) return "own"; // for now: decided once it has values
    this.places.set(name, scale === "auto" ? this.byValues(values) : scale);
    return this.places.get(name);
  }

  byValues(values) {
    let [low, high] = [Infinity, -Infinity];
    for (const p of this.bars.points) {
      if (p.open !== undefined) [low, high] = [Math.min(low, p.low), Math.max(high, p.high)];
    }
    const inside = values.filter((v) => v >= low && v <= high).length;
    return inside >= ON_PRICE * values.length ? "price" : "own";
  }

  // What is drawn, for tests and the console: each column's pane and its [time, value]s.
  drawn() {
    return Object.fromEntries([...this.series].map(([name, series]) => [name, {
      pane: series.getPane().paneIndex(),
      values: series.data().filter((d) => d.value !== undefined).map((d) => [d.time, d.value]),
    }]));
  }
}

// The picker in the page: a set, and checkboxes of its columns. The last set and columns
// shown are remembered and shown again on the next chart that has that set built.
export function featurePicker(pane, select, list, note) {
  const remembered = JSON.parse(localStorage.getItem(REMEMBERED) || "{}");
  const newest = pane.sets.filter((s) => s.newest);
  select.replaceChildren(...pane.sets.map((s) => new Option(s.label, s.label)));
  select.disabled = !pane.sets.length;
  const first = newest.find((s) => s.name === remembered.set) || newest[0];
  if (!first) {
    note.textContent = `No feature set is built on this chart: \`candlelab features build --chart ${pane.chartId}\`.`;
    return;
  }
  select.value = first.label;
  const checked = () => [...list.querySelectorAll("input:checked")].map((input) => input.value);
  const chosen = () => pane.sets.find((s) => s.label === select.value);
  const changed = () => {
    localStorage.setItem(REMEMBERED, JSON.stringify({ set: chosen().name, columns: checked() }));
    return pane.show(select.value, checked());
  };
  const columns = (set, on) => {
    list.replaceChildren(...set.columns.map((c) => checkbox(c, on.includes(c.name), changed)));
    note.textContent = set.stale_from ? `Stale from ${set.stale_from}: \`candlelab features build\` brings it up to date.`
      : `${set.bars.toLocaleString()} bars built.`;
  };
  select.addEventListener("change", () => {
    columns(chosen(), pane.picked);
    changed();
  });
  columns(first, remembered.columns || []);
  pane.choose(first.label, checked()); // fetched with the first candles
}

function checkbox(column, on, changed) {
  const label = document.createElement("label");
  const input = document.createElement("input");
  Object.assign(input, { type: "checkbox", value: column.name, checked: on });
  input.addEventListener("change", changed);
  label.title = PLACES[column.scale];
  label.append(input, ` ${column.name}`);
  return label;
}

const PLACES = { price: "drawn over the candles", own: "drawn in a pane below",
                 auto: "over the candles if its values lie in their range, else below" };
const isHistogram = (name) => name.includes("hist");
const iso = (seconds) => new Date(seconds * 1000).toISOString();

function point(name, time, value) {
  if (!isHistogram(name)) return { time, value };
  return { time, value, color: value >= 0 ? "#26a69a99" : "#ef535099" };
}
