/**
 * A line chart as inline SVG for the status page: no script, no external request, readable in any
 * browser and in a mail client that shows HTML. One chart per measure, so no line lies flat on an axis
 * scaled for another; a date axis with ticks; failed runs marked where they happened, with their error;
 * an optional target line (the RPO). Each point and mark carries a <title> so hovering names it.
 *
 * The chart is drawn 340 units wide and shown at most 340 px wide: on a 390 px phone it is shown at its
 * own size, so its 12-unit text stays 12 px; a desktop shows two side by side. Charting libraries
 * (Chart.js, ECharts) draw on a canvas from JavaScript and would have to be inlined whole (200 KB and
 * more) into a page whose Content-Security-Policy forbids scripts (docs/architecture.md, status page).
 */

export interface Series {
  name: string;
  colour: string;
  points: { at: number; value: number; label: string }[];
  /** Draw a dot (with its <title>) at every point; off for dense derived lines such as an age. */
  dots?: boolean;
}

/** A failed run: a red mark at its time, labelled with its error. */
export interface Marker {
  at: number;
  label: string;
  title: string;
}

export interface ChartOptions {
  title: string;
  /** Formats an axis value (bytes, seconds, hours). */
  format: (value: number) => string;
  series: Series[];
  markers?: Marker[];
  /** A target the values should stay under (the RPO), drawn as a dashed red line. */
  limit?: { value: number; label: string };
  /** The time span shown, shared by every chart of the page; the data's own span when absent. */
  span?: { from: number; to: number };
}

export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

const hour = 3_600_000;
const day = 24 * hour;
const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const dateLabel = (at: number) => {
  const d = new Date(at);
  return `${months[d.getUTCMonth()]} ${d.getUTCDate()}`;
};
const timeLabel = (at: number) => new Date(at).toISOString().slice(11, 16);

/** Tick steps from an hour to four weeks; the chart shows at most five ticks. */
const tickSteps = [hour, 3 * hour, 6 * hour, 12 * hour, day, 2 * day, 7 * day, 14 * day, 28 * day];
const maxTicks = 5;

/**
 * Ticks at whole steps (UTC). Under a day apart, a tick says its time and, where the day changes, the
 * date below it; from a day apart, the date. Either way no two ticks read the same.
 */
export function timeTicks(from: number, to: number): { at: number; lines: string[] }[] {
  const step =
    tickSteps.find((s) => Math.floor(to / s) - Math.ceil(from / s) + 1 <= maxTicks) ??
    Math.ceil((to - from) / (maxTicks - 1) / day) * day;
  const ticks: { at: number; lines: string[] }[] = [];
  for (let at = Math.ceil(from / step) * step; at <= to; at += step) {
    const previous = ticks.at(-1);
    const newDay = !previous || dateLabel(previous.at) !== dateLabel(at);
    ticks.push({
      at,
      lines: step >= day ? [dateLabel(at)] : newDay ? [timeLabel(at), dateLabel(at)] : [timeLabel(at)],
    });
  }
  return ticks;
}

const width = 340;
const left = 68;
const right = 12;
/** The title's band; the failure labels' rows (up to three) go below it, above the plot. */
const titleBand = 26;
const labelRow = 13;
const plotHeight = 124;
/** Below the plot: two lines of tick labels and up to two of legend. */
const belowPlot = 70;
const fixed = (n: number) => n.toFixed(1);
/** About how wide 12 px system-ui text is, for laying out labels without measuring them. */
const textWidth = (text: string) => text.length * 6.6;

export function renderLineChart(options: ChartOptions): string {
  const points = options.series.flatMap((s) => s.points);
  const markers = options.markers ?? [];
  const head = (height: number) =>
    `<svg class="chart" role="img" aria-label="${escapeHtml(options.title)}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg"><title>${escapeHtml(options.title)}</title><text x="${left}" y="17" class="chart-title">${escapeHtml(options.title)}</text>`;
  if (points.length === 0 && markers.length === 0) {
    return `${head(titleBand + plotHeight + belowPlot)}<text x="${width / 2}" y="${titleBand + plotHeight / 2}" text-anchor="middle" class="empty">no data yet</text></svg>`;
  }
  const times = [...points.map((p) => p.at), ...markers.map((m) => m.at)];
  let from = options.span?.from ?? Math.min(...times);
  let to = options.span?.to ?? Math.max(...times);
  if (to - from < 2 * hour) {
    const middle = (from + to) / 2;
    from = middle - hour;
    to = middle + hour;
  }
  const maxValue = Math.max(...points.map((p) => p.value), options.limit?.value ?? 0) * 1.1 || 1;
  // Points at the span's ends keep their dots inside the plot.
  const plotLeft = left + 6;
  const plotRight = width - right - 6;
  const x = (at: number) => plotLeft + ((at - from) / (to - from)) * (plotRight - plotLeft);

  // Each failure label goes right of its mark (left of it near the right edge), on the first of three
  // rows where it overlaps no other; one that fits none is left to its mark's <title>.
  const labelledUntil = [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY];
  const placed = [...markers]
    .sort((a, b) => a.at - b.at)
    .map((m) => {
      const mx = x(m.at);
      const labelWidth = textWidth(m.label);
      const anchorEnd = mx + 3 + labelWidth > width - right;
      const start = anchorEnd ? mx - 3 - labelWidth : mx + 3;
      const row = labelledUntil.findIndex((until) => start > until + 4 && start >= left);
      if (row >= 0) labelledUntil[row] = start + labelWidth;
      return { ...m, mx, anchorEnd, row };
    });
  const rows = Math.max(0, ...placed.map((p) => p.row + 1));
  const top = titleBand + rows * labelRow + (rows ? 4 : 0);
  const plotBottom = top + plotHeight;
  const height = plotBottom + belowPlot;
  const y = (value: number) => plotBottom - (value / maxValue) * (plotBottom - top);

  const grid = [0, 0.5, 1]
    .map((share) => {
      const value = maxValue * share;
      return `<line x1="${left}" x2="${width - right}" y1="${fixed(y(value))}" y2="${fixed(y(value))}" class="grid"/><text x="${left - 5}" y="${fixed(y(value) + 4)}" text-anchor="end" class="axis">${escapeHtml(options.format(value))}</text>`;
    })
    .join('');
  const ticks = timeTicks(from, to)
    .map((tick) => {
      const tx = fixed(x(tick.at));
      const lines = tick.lines
        .map((line, i) => `<tspan x="${tx}" dy="${i === 0 ? 0 : 13}">${escapeHtml(line)}</tspan>`)
        .join('');
      // A label at the right edge ends at its tick rather than being cut off by the chart's edge.
      const anchor = x(tick.at) + Math.max(...tick.lines.map(textWidth)) / 2 > width ? 'end' : 'middle';
      return `<line x1="${tx}" x2="${tx}" y1="${plotBottom}" y2="${plotBottom + 4}" class="tick"/><text x="${tx}" y="${plotBottom + 16}" text-anchor="${anchor}" class="axis x-tick">${lines}</text>`;
    })
    .join('');
  const axis = `<line x1="${left}" x2="${width - right}" y1="${plotBottom}" y2="${plotBottom}" class="axis-line"/>`;
  const limit = options.limit
    ? `<line x1="${left}" x2="${width - right}" y1="${fixed(y(options.limit.value))}" y2="${fixed(y(options.limit.value))}" class="limit"/><text x="${width - right}" y="${fixed(y(options.limit.value) - 4)}" text-anchor="end" class="axis limit-label">${escapeHtml(options.limit.label)}</text>`
    : '';
  const marks = placed
    .map(
      (m) =>
        `<g class="failure" data-error="${escapeHtml(m.label)}"><title>${escapeHtml(m.title)}</title><line x1="${fixed(m.mx)}" x2="${fixed(m.mx)}" y1="${titleBand}" y2="${plotBottom}" class="failure-line"/><text x="${fixed(m.mx)}" y="${plotBottom - 3}" text-anchor="middle" class="failure-mark">✕</text>${
          m.row >= 0
            ? `<text x="${fixed(m.anchorEnd ? m.mx - 3 : m.mx + 3)}" y="${titleBand + 10 + m.row * labelRow}" text-anchor="${m.anchorEnd ? 'end' : 'start'}" class="axis failure-label">${escapeHtml(m.label)}</text>`
            : ''
        }</g>`,
    )
    .join('');
  const lines = options.series
    .map((s) => {
      const sorted = [...s.points].sort((a, b) => a.at - b.at);
      const path = sorted.map((p) => `${fixed(x(p.at))},${fixed(y(p.value))}`).join(' ');
      const dots =
        s.dots === false
          ? ''
          : sorted
              .map(
                (p) =>
                  `<circle cx="${fixed(x(p.at))}" cy="${fixed(y(p.value))}" r="2.5" fill="${s.colour}"><title>${escapeHtml(`${s.name} ${p.label}: ${options.format(p.value)}`)}</title></circle>`,
              )
              .join('');
      return `<polyline class="series" data-series="${escapeHtml(s.name)}" points="${path}" fill="none" stroke="${s.colour}" stroke-width="2"/>${dots}`;
    })
    .join('');
  const legendItems = [
    ...options.series.map((s) => ({ name: s.name, colour: s.colour })),
    ...(markers.length ? [{ name: 'failed run', colour: '#cf222e' }] : []),
  ];
  let legendX = left;
  let legendY = height - 30;
  const legend = legendItems
    .map((item) => {
      const itemWidth = 16 + textWidth(item.name) + 12;
      if (legendX > left && legendX + itemWidth > width) {
        legendX = left;
        legendY += 16;
      }
      const svg = `<rect x="${fixed(legendX)}" y="${legendY - 9}" width="10" height="10" fill="${item.colour}"/><text x="${fixed(legendX + 14)}" y="${legendY}" class="axis legend">${escapeHtml(item.name)}</text>`;
      legendX += itemWidth;
      return svg;
    })
    .join('');
  return `${head(height)}${grid}${axis}${ticks}${limit}${marks}${lines}${legend}</svg>`;
}
