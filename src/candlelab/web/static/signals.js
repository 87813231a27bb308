// The signals models gave on the chart's bars, as markers on the candles, so a labeller
// sees where a model fired: a long is an arrow up under its bar, a short an arrow down over
// it, each with the class's probability and the model version ("long 0.72 · tb v1") once
// the view is narrow enough for the words to stand apart (WORDY bars or fewer). Any
// other class (none, a label's name) is not drawn: it is no call to act. They come for
// the bars the page holds, with the spans, from /api/charts/{id}/signals.
import { api } from "./api.js";

const STYLE = {
  long: { position: "belowBar", shape: "arrowUp", color: "#1b7f5a" },
  short: { position: "aboveBar", shape: "arrowDown", color: "#c62828" },
};
const WORDY = 80; // bars in view at most for the marks to carry their words
const LIMIT = 20000; // signals a window brings at most (the API's most)
const REMEMBERED = "candlelab.signals"; // shown or not, and which model

export class SignalMarks {
  constructor(chartId) {
    const remembered = JSON.parse(localStorage.getItem(REMEMBERED) || "{}");
    this.chartId = chartId;
    this.items = []; // the bars held's signals, oldest first, time in epoch seconds
    this.complete = true; // false: the window had more than LIMIT
    this.on = remembered.on !== false;
    this.model = remembered.model || ""; // "": every model
    this.wordy = false; // the marks carry their words (the view is narrow)
  }

  // Whether the marks' words change with a view of `bars` bars (then draw them again).
  zoomed(bars) {
    const wordy = bars <= WORDY;
    const changed = wordy !== this.wordy;
    this.wordy = wordy;
    return changed;
  }

  // The signals on bars from `first` to `last` (epoch seconds, both held).
  async load(first, last) {
    const query = new URLSearchParams({ start: iso(first), end: iso(last + 1), limit: String(LIMIT) });
    const answer = await api("GET", `/api/charts/${this.chartId}/signals?${query}`);
    this.items = answer.items.map((s) => ({ ...s, time: Date.parse(s.time) / 1000 }));
    this.complete = answer.complete;
  }

  choose(on, model) {
    Object.assign(this, { on, model });
    localStorage.setItem(REMEMBERED, JSON.stringify({ on, model }));
  }

  models() { return [...new Set(this.items.map((s) => s.model_name))].sort(); }

  shown() { return this.on ? this.items.filter((s) => !this.model || s.model_name === this.model) : []; }

  // The series markers of the signals shown that are calls (long or short).
  markers() {
    return this.shown().filter((s) => STYLE[s.pred]).map((s) => ({
      ...STYLE[s.pred], time: s.time, id: `signal ${s.model_name} ${s.model_version} ${s.time}`,
      ...(this.wordy ? { text: words(s) } : {}),
    }));
  }

  legend() {
    const shown = this.shown();
    if (!this.on) return `${this.items.length.toLocaleString()} signals hidden`;
    if (!this.items.length) return "No signal on these bars: `candlelab predict --model NAME` makes some.";
    const calls = shown.filter((s) => STYLE[s.pred]).length;
    const more = this.complete ? "" : ` (the first ${LIMIT.toLocaleString()} of these bars)`;
    return `▲ long under the bar · ▼ short over it: ${calls.toLocaleString()} drawn; ${
      (shown.length - calls).toLocaleString()} other (none) not drawn${more}${
      this.wordy ? "" : `; zoom in to ${WORDY} bars for each one's probability and version`}`;
  }
}

// The controls in the page: show or hide, and one model or every one.
export function signalPicker(marks, toggle, select, legend, changed) {
  toggle.checked = marks.on;
  const picked = () => { marks.choose(toggle.checked, select.value); changed(); };
  toggle.addEventListener("change", picked);
  select.addEventListener("change", picked);
  return () => { // after each load: the models seen, and the legend
    const names = [...new Set([...marks.models(), ...(marks.model ? [marks.model] : [])])];
    select.replaceChildren(new Option("every model", ""), ...names.map((n) => new Option(n, n)));
    select.value = marks.model;
    legend.textContent = marks.legend();
  };
}

const words = (s) => `${s.pred}${s.proba == null ? "" : ` ${s.proba.toFixed(2)}`} · ${s.model_name} v${s.model_version}`;
const iso = (seconds) => new Date(seconds * 1000).toISOString();
