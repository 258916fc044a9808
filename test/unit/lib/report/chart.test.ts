import { describe, expect, it } from '@jest/globals';
import { renderLineChart, timeTicks } from '../../../../lib/report/chart.ts';

const hour = 3_600_000;
const day = 24 * hour;
const from = Date.parse('2026-09-01T02:00:00Z');

describe('chart', () => {
  describe('timeTicks()', () => {
    it.each([
      ['two hours', 2 * hour],
      ['a night', 9 * hour],
      ['a day and a half', 36 * hour],
      ['nine days', 9 * day],
      ['forty days', 40 * day],
      ['ninety days', 90 * day],
      ['a year', 365 * day],
    ])('gives two to five ticks within %s, no two reading the same', (_name, span) => {
      const ticks = timeTicks(from, from + span);
      const labels = ticks.map((t) => t.lines.join(' '));

      expect(ticks.length).toBeGreaterThanOrEqual(2);
      expect(ticks.length).toBeLessThanOrEqual(5);
      expect(new Set(labels).size).toBe(labels.length);
      for (const tick of ticks) {
        expect(tick.at).toBeGreaterThanOrEqual(from);
        expect(tick.at).toBeLessThanOrEqual(from + span);
      }
    });

    it('says the date where the day changes under hourly ticks', () => {
      const ticks = timeTicks(Date.parse('2026-11-29T18:00:00Z'), Date.parse('2026-11-30T12:00:00Z'));

      expect(ticks.map((t) => t.lines)).toEqual([
        ['18:00', 'Nov 29'],
        ['00:00', 'Nov 30'],
        ['06:00'],
        ['12:00'],
      ]);
    });
  });

  describe('renderLineChart()', () => {
    it('marks a failed run with its error and escapes it', () => {
      const svg = renderLineChart({
        title: 'Dump size',
        format: (v) => `${v} B`,
        series: [{ name: 'dump', colour: '#000', points: [{ at: from, value: 10, label: 'a' }] }],
        markers: [{ at: from + day, label: 'DumpFailedError', title: 'pg_dump said <b>' }],
      });

      expect(svg).toContain(
        '<g class="failure" data-error="DumpFailedError"><title>pg_dump said &lt;b&gt;</title>',
      );
      expect(svg).toContain('>DumpFailedError</text>');
      expect(svg).not.toContain('<b>');
    });
  });
});
