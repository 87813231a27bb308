// The bars the chart holds: one contiguous window of the chart's history, fetched from
// the database piece by piece as the user scrolls, never the whole series, and cut back at
// its far end so the page holds a few pieces however far the user scrolls.
import { api, float64s } from "./api.js";

const MAX_FILLED = 2000; // whitespace bars drawn for one gap at most

export class Bars {
  constructor(chartId, step, calendar) {
    this.chartId = chartId;
    this.step = step; // seconds per bar
    this.fillGaps = calendar === "24/7" && step > 0; // elsewhere a closed market is no gap
    this.points = []; // candles and whitespace, in time order: index = logical index
    this.volumes = [];
    this.atStart = false;
    this.atEnd = false;
    this.alongside = null; // (query) => a promise that never rejects: more of the same bars
    this.coming = Promise.resolve(); // the last fetch
  }

  get candles() { return this.points.filter((p) => p.open !== undefined).length; }
  get first() { return this.points.length ? this.points[0].time : null; }
  get last() { return this.points.length ? this.points[this.points.length - 1].time : null; }

  async latest(limit) {
    this.replace(await this.fetch({ limit }));
    this.atEnd = true;
  }

  async around(time, limit) {
    const start = time - Math.floor(limit / 2) * this.step;
    this.replace(await this.fetch({ start, limit }));
  }

  // The piece before the bars held, for take(); null at the chart's first bar.
  async older(limit) {
    if (this.atStart || this.first === null) return null;
    const edge = this.first;
    const piece = await this.fetch({ end: edge, limit });
    return { ...this.decoded(piece), before: true, edge, final: piece.count < limit };
  }

  // The piece after the bars held, for take(); null at the chart's newest bar.
  async newer(limit) {
    if (this.atEnd || this.last === null) return null;
    const edge = this.last;
    const piece = await this.fetch({ start: edge + 1, limit });
    return { ...this.decoded(piece), before: false, edge, final: piece.count < limit };
  }

  // Once the last piece asked for has come and been joined (or dropped).
  async settled() {
    await this.coming;
    await new Promise((done) => setTimeout(done)); // after whatever awaited it has run
  }

  // Whether a piece still fits on the bars held: a jump elsewhere while it came replaces them.
  fits(piece) {
    return piece !== null && piece.edge === (piece.before ? this.first : this.last);
  }

  // Join a piece from older() or newer(); how many points came in front, which is how far
  // every logical index moved.
  take(piece) {
    const held = this.points.length;
    if (piece.before) this.atStart = piece.final; else this.atEnd = piece.final;
    this.join(piece, piece.before);
    return piece.before ? this.points.length - held : 0;
  }

  // Hold at most `cap` points: keep the `cap` centred on the view (a logical range) as far as
  // the window allows, so what goes is what lies farthest from it; how many went from the
  // start. A cut may fall on an empty slot: the piece fetched again later is asked for by
  // time and the gap up to the slot filled as before (only a 24/7 gap longer than MAX_FILLED,
  // cut at the window's newer end, may come back drawn with more empty slots).
  fit(cap, view) {
    const n = this.points.length;
    if (n <= cap) return 0;
    const centre = Math.round((view.from + view.to) / 2);
    const start = Math.min(Math.max(centre - Math.floor(cap / 2), 0), n - cap);
    this.points = this.points.slice(start, start + cap);
    this.volumes = this.volumes.slice(start, start + cap);
    if (start > 0) this.atStart = false;
    if (start + cap < n) this.atEnd = false;
    return start;
  }

  async fetch({ start, end, limit }) {
    const query = new URLSearchParams({ limit: String(limit) });
    if (start !== undefined) query.set("start", new Date(start * 1000).toISOString());
    if (end !== undefined) query.set("end", new Date(end * 1000).toISOString());
    const both = Promise.all([
      api("GET", `/api/charts/${this.chartId}/candles?${query}`),
      this.alongside && this.alongside(query),
    ]);
    this.coming = both.catch(() => {});
    return (await both)[0];
  }

  replace(piece) {
    this.points = [];
    this.volumes = [];
    this.atStart = false;
    this.atEnd = false;
    this.join(this.decoded(piece), false);
  }

  decoded(piece) {
    const c = Object.fromEntries(Object.entries(piece.columns).map(([k, v]) => [k, float64s(v)]));
    const missing = piece.missing ? float64s(piece.missing) : new Float64Array(0);
    const points = [];
    const volumes = [];
    let m = 0;
    for (let i = 0; i < c.time.length; i++) {
      if (i > 0) this.whitespace(c.time[i - 1], c.time[i], points, volumes);
      for (; m < missing.length && missing[m] < c.time[i]; m++) empty(missing[m], points, volumes);
      const up = c.close[i] >= c.open[i];
      points.push({ time: c.time[i], open: c.open[i], high: c.high[i], low: c.low[i], close: c.close[i] });
      volumes.push({ time: c.time[i], value: c.volume[i], color: up ? "#26a69a80" : "#ef535080" });
    }
    for (; m < missing.length; m++) empty(missing[m], points, volumes); // up to the bars held
    return { points, volumes };
  }

  // Missing bars of a round-the-clock chart stay visible as empty slots. (A calendar
  // chart's missing bars the server names, as only it knows when the market was open.)
  whitespace(before, after, points, volumes) {
    if (!this.fillGaps) return;
    const missing = Math.min(Math.round((after - before) / this.step) - 1, MAX_FILLED);
    for (let k = 1; k <= missing; k++) empty(before + k * this.step, points, volumes);
  }

  // A piece joined before or after the bars held, with the gap between them filled.
  join(piece, before) {
    if (!piece.points.length) return;
    const [left, right] = before ? [piece, this] : [this, piece];
    const gap = { points: [], volumes: [] };
    if (left.points.length && right.points.length) {
      const end = left.points[left.points.length - 1].time;
      this.whitespace(end, right.points[0].time, gap.points, gap.volumes);
    }
    this.points = left.points.concat(gap.points, right.points);
    this.volumes = left.volumes.concat(gap.volumes, right.volumes);
  }

  // The logical index of a time: exact inside the window, extrapolated by bars outside it.
  logicalOf(time) {
    const n = this.points.length;
    if (!n) return 0;
    if (time < this.first) return (time - this.first) / this.step;
    if (time > this.last) return n - 1 + (time - this.last) / this.step;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.points[mid].time < time) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  // The open time of the bar at a logical index (the bars' boundaries are what spans snap to).
  timeAt(logical) {
    const n = this.points.length;
    const i = Math.round(logical);
    if (i < 0) return this.first + i * this.step;
    if (i >= n) return this.last + (i - n + 1) * this.step;
    return this.points[i].time;
  }

  isCandle(logical) {
    const point = this.points[Math.round(logical)];
    return Boolean(point && point.open !== undefined);
  }
}

// An empty slot on the time axis: a bar that should be there and is not.
function empty(time, points, volumes) {
  points.push({ time });
  volumes.push({ time });
}
