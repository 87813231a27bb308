// Spans drawn over the candles: a tint across the pane and a labelled strip at the top,
// one strip lane per label, so overlapping spans of different labels stay readable.
// Model proposals are hatched with a dashed outline and show their confidence.

const STRIP = 14; // px per lane

export class SpanLayer {
  constructor(bars) {
    this.bars = bars;
    this.spans = [];
    this.lanes = new Map(); // label type id → lane
    this.selected = null;
    this.preview = null; // {start, end, color} while drawing
    this.chart = null;
    this.requestUpdate = () => {};
    this.view = { renderer: () => ({ draw: (target) => this.draw(target) }), zOrder: () => "bottom" };
  }

  attached({ chart, requestUpdate }) {
    this.chart = chart;
    this.requestUpdate = requestUpdate;
  }

  detached() { this.chart = null; }
  updateAllViews() {}
  paneViews() { return [this.view]; }

  show(spans, laneOrder) {
    this.spans = spans;
    this.lanes = new Map(laneOrder.map((id, i) => [id, i]));
    this.requestUpdate();
  }

  // The span's left and right edge in CSS pixels: the outer edges of its first and last bar.
  edges(span) {
    const scale = this.chart.timeScale();
    const half = scale.options().barSpacing / 2;
    const left = scale.logicalToCoordinate(this.bars.logicalOf(span.start));
    const right = scale.logicalToCoordinate(this.bars.logicalOf(span.end));
    if (left === null || right === null) return null;
    return { left: left - half, right: right + half };
  }

  draw(target) {
    if (!this.chart) return;
    target.useMediaCoordinateSpace(({ context, mediaSize }) => {
      for (const span of this.spans) this.drawSpan(context, mediaSize, span);
      if (this.preview) this.drawSpan(context, mediaSize, { ...this.preview, preview: true });
    });
  }

  drawSpan(ctx, size, span) {
    const box = this.edges(span);
    if (!box || box.right < 0 || box.left > size.width) return;
    const width = Math.max(box.right - box.left, 2);
    const rejected = span.status === "rejected";
    const proposed = span.status === "proposed";
    ctx.save();
    ctx.globalAlpha = rejected ? 0.05 : span.preview ? 0.25 : 0.13;
    ctx.fillStyle = span.color;
    ctx.fillRect(box.left, 0, width, size.height);
    ctx.globalAlpha = rejected ? 0.35 : 1;
    const y = 2 + (this.lanes.get(span.label_type_id) ?? 0) * STRIP;
    if (proposed) this.hatch(ctx, box.left, y, width, STRIP - 2, span.color);
    else { ctx.fillStyle = span.color; ctx.fillRect(box.left, y, width, STRIP - 2); }
    if (proposed || span === this.selected) this.outline(ctx, box.left, width, size.height, span, proposed);
    this.caption(ctx, span, box.left, y, width);
    ctx.restore();
  }

  hatch(ctx, x, y, width, height, color) {
    ctx.strokeStyle = color;
    ctx.lineWidth = 1;
    ctx.strokeRect(x + 0.5, y + 0.5, width - 1, height - 1);
    ctx.beginPath();
    for (let k = -height; k < width; k += 5) {
      ctx.moveTo(x + Math.max(k, 0), y + height - Math.max(0, -k));
      ctx.lineTo(x + Math.min(k + height, width), y + Math.max(0, k + height - width));
    }
    ctx.save();
    ctx.rect(x, y, width, height);
    ctx.clip();
    ctx.stroke();
    ctx.restore();
  }

  outline(ctx, x, width, height, span, dashed) {
    ctx.setLineDash(dashed ? [5, 4] : []);
    ctx.lineWidth = span === this.selected ? 2.5 : 1;
    ctx.strokeStyle = span.color;
    ctx.globalAlpha = 1;
    ctx.strokeRect(x + 1, 1, width - 2, height - 2);
    ctx.setLineDash([]);
  }

  caption(ctx, span, x, y, width) {
    const confidence = span.confidence == null ? "" : ` ${Math.round(span.confidence * 100)}%`;
    const text = `${span.label ?? ""}${confidence}`;
    if (width < 24) return;
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = span.status === "proposed" ? "#111" : "#fff";
    ctx.textBaseline = "top";
    ctx.save();
    ctx.beginPath();
    ctx.rect(x, y, width, STRIP);
    ctx.clip();
    ctx.fillText(text, x + 3, y + 1); // canvas text: whatever the label says is drawn, never run
    ctx.restore();
  }

  // The span whose edge is within `reach` px of x, and which edge.
  edgeAt(x, reach = 5) {
    for (const span of this.spans) {
      const box = this.edges(span);
      if (!box || span.status === "rejected") continue;
      if (Math.abs(x - box.left) <= reach) return { span, edge: "start" };
      if (Math.abs(x - box.right) <= reach) return { span, edge: "end" };
    }
    return null;
  }

  // The topmost span under x (the last drawn).
  spanAt(x) {
    let found = null;
    for (const span of this.spans) {
      const box = this.edges(span);
      if (box && x >= box.left && x <= box.right) found = span;
    }
    return found;
  }
}
