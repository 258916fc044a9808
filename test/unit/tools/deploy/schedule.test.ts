import { describe, expect, it } from '@jest/globals';
import { scheduleIntervalHours } from '../../../../tools/deploy/schedule.ts';

describe('scheduleIntervalHours', () => {
  it.each([
    ['cron(0 2 * * ? *)', 24],
    ['rate(1 day)', 24],
    ['rate(6 hours)', 6],
    ['rate(30 minutes)', 0.5],
    ['cron(0 2,14 * * ? *)', 12],
    ['cron(15 */4 * * ? *)', 4],
    // Weekdays only: the longest gap is the weekend, Friday 02:00 to Monday 02:00.
    ['cron(0 2 ? * MON-FRI *)', 72],
    ['cron(0 2 ? * 2-6 *)', 72],
    ['cron(0 3 1 1,4,7,10 ? *)', Number.POSITIVE_INFINITY],
  ])('%s runs at least every %d h', (schedule, hours) => {
    expect(scheduleIntervalHours(schedule)).toBe(hours);
  });

  it.each([
    ['cron(0 2 L * ? *)', 'cron value "L" is not supported'],
    ['cron(0 2 ? * 6#3 *)', 'cron value "6#3" is not supported'],
    ['cron(0 2 * *)', 'six fields'],
    ['cron(0 25 * * ? *)', 'cron value "25" is not supported'],
  ])('refuses %s rather than guessing', (schedule, message) => {
    expect(() => scheduleIntervalHours(schedule)).toThrow(message);
  });
});
