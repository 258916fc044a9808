/**
 * A line chart as inline SVG for the status page: no script, no external request, readable in any
 * browser and in a mail client that shows HTML. Each point carries a <title> so hovering names the
 * backup and the value. Charting libraries (Chart.js, ECharts) draw on a canvas from JavaScript and
 * would have to be inlined whole (200 KB and more) into a page that only needs a few polylines.
 */

export interface Series {
  name: string;
  colour: string;
  points: { at: number; value: number; label: string }[];
}

export interface ChartOptions {
  title: string;
  /** Formats an axis value (bytes, seconds). */
  format: (value: number) => string;
  series: Series[];
  width?: number;
  height?: number;
}

export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

const day = (at: number) => new Date(at).toISOString().slice(0, 10);

export function renderLineChart(options: ChartOptions): string {
  const width = options.width ?? 640;
  const height = options.height ?? 220;
  const left = 72;
  const right = 16;
  const top = 28;
  const bottom = 40;
  const points = options.series.flatMap((s) => s.points);
  const head = `<svg class="chart" role="img" aria-label="${escapeHtml(options.title)}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg"><title>${escapeHtml(options.title)}</title><text x="${left}" y="18" class="chart-title">${escapeHtml(options.title)}</text>`;
  if (points.length === 0) {
    return `${head}<text x="${width / 2}" y="${height / 2}" text-anchor="middle" class="empty">no data yet</text></svg>`;
  }
  const minAt = Math.min(...points.map((p) => p.at));
  const maxAt = Math.max(...points.map((p) => p.at));
  const maxValue = Math.max(...points.map((p) => p.value)) * 1.1 || 1;
  const plotWidth = width - left - right;
  const plotHeight = height - top - bottom;
  const x = (at: number) =>
    maxAt === minAt ? left + plotWidth / 2 : left + ((at - minAt) / (maxAt - minAt)) * plotWidth;
  const y = (value: number) => top + plotHeight - (value / maxValue) * plotHeight;
  const fixed = (n: number) => n.toFixed(1);

  const grid = [0, 0.5, 1]
    .map((share) => {
      const value = maxValue * share;
      return `<line x1="${left}" x2="${width - right}" y1="${fixed(y(value))}" y2="${fixed(y(value))}" class="grid"/><text x="${left - 6}" y="${fixed(y(value) + 4)}" text-anchor="end" class="axis">${escapeHtml(options.format(value))}</text>`;
    })
    .join('');
  const xLabels =
    minAt === maxAt
      ? `<text x="${fixed(x(minAt))}" y="${height - bottom + 18}" text-anchor="middle" class="axis">${day(minAt)}</text>`
      : `<text x="${left}" y="${height - bottom + 18}" class="axis">${day(minAt)}</text><text x="${width - right}" y="${height - bottom + 18}" text-anchor="end" class="axis">${day(maxAt)}</text>`;
  const lines = options.series
    .map((s) => {
      const sorted = [...s.points].sort((a, b) => a.at - b.at);
      const path = sorted.map((p) => `${fixed(x(p.at))},${fixed(y(p.value))}`).join(' ');
      const dots = sorted
        .map(
          (p) =>
            `<circle cx="${fixed(x(p.at))}" cy="${fixed(y(p.value))}" r="3" fill="${s.colour}"><title>${escapeHtml(`${s.name} ${p.label}: ${options.format(p.value)}`)}</title></circle>`,
        )
        .join('');
      return `<polyline class="series" data-series="${escapeHtml(s.name)}" points="${path}" fill="none" stroke="${s.colour}" stroke-width="2"/>${dots}`;
    })
    .join('');
  const legend = options.series
    .map(
      (s, i) =>
        `<rect x="${left + i * 170}" y="${height - 14}" width="10" height="10" fill="${s.colour}"/><text x="${left + i * 170 + 14}" y="${height - 5}" class="axis">${escapeHtml(s.name)}</text>`,
    )
    .join('');
  return `${head}${grid}${xLabels}${lines}${legend}</svg>`;
}
