/**
 * The longest gap between two runs of an EventBridge schedule, `rate(...)` or `cron(...)` (UTC): what
 * the backup-age alarm waits for before it may call a backup late, and what the effective RPO of the
 * schedule is. Crons are evaluated minute by minute over five weeks; the `L`, `W` and `#` forms are
 * refused rather than guessed.
 */
import { ConfigurationError } from '../../lib/errors.ts';

const minuteMs = 60_000;
const rateUnits: Record<string, number> = { minute: 1 / 60, hour: 1, day: 24 };

export function scheduleIntervalHours(schedule: string, field = 'schedule'): number {
  const rate = /^rate\((\d+) (minute|hour|day)s?\)$/.exec(schedule);
  if (rate?.[1] && rate[2]) return Number(rate[1]) * (rateUnits[rate[2]] ?? 1);
  const cron = /^cron\((.+)\)$/.exec(schedule)?.[1]?.trim().split(/\s+/);
  if (!cron || cron.length !== 6) {
    throw new ConfigurationError(`${field}: must be rate(...) or cron(...) with six fields`);
  }
  const [minutes, hours, days, months, weekdays, years] = cron as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const match = {
    minute: parseField(minutes, 0, 59, field),
    hour: parseField(hours, 0, 23, field),
    day: parseField(days, 1, 31, field),
    month: parseField(months, 1, 12, field, monthNames),
    // EventBridge counts weekdays 1-7 from Sunday.
    weekday: parseField(weekdays, 1, 7, field, weekdayNames),
    year: parseField(years, 1970, 2199, field),
  };
  const start = Date.UTC(2027, 0, 1);
  const fires: number[] = [];
  for (let t = start; t < start + 35 * 24 * 60 * minuteMs; t += minuteMs) {
    const d = new Date(t);
    if (
      match.minute(d.getUTCMinutes()) &&
      match.hour(d.getUTCHours()) &&
      match.day(d.getUTCDate()) &&
      match.month(d.getUTCMonth() + 1) &&
      match.weekday(d.getUTCDay() + 1) &&
      match.year(d.getUTCFullYear())
    ) {
      fires.push(t);
    }
  }
  if (fires.length < 2) return Number.POSITIVE_INFINITY;
  let longest = 0;
  for (let i = 1; i < fires.length; i++) longest = Math.max(longest, (fires[i] ?? 0) - (fires[i - 1] ?? 0));
  return longest / 3_600_000;
}

const monthNames = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const weekdayNames = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

function parseField(
  text: string,
  min: number,
  max: number,
  field: string,
  names: string[] = [],
): (value: number) => boolean {
  if (text === '*' || text === '?') return () => true;
  const allowed = new Set<number>();
  const number = (part: string) => {
    const named = names.indexOf(part.toUpperCase());
    const value = named >= 0 ? named + min : Number(part);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new ConfigurationError(
        `${field}: cron value "${part}" is not supported here (use numbers, names, lists, ranges and steps)`,
      );
    }
    return value;
  };
  for (const item of text.split(',')) {
    const [range, stepText] = item.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1)
      throw new ConfigurationError(`${field}: bad cron step "${item}"`);
    const [from, to] =
      range === '*'
        ? [min, max]
        : range?.includes('-')
          ? range.split('-').map(number)
          : [number(range ?? '')];
    const last = to ?? (stepText === undefined ? from : max);
    for (let value = from ?? min; value <= (last ?? max); value += step) allowed.add(value);
  }
  return (value) => allowed.has(value);
}
