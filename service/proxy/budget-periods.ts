// The periods budgets are kept over: UTC calendar days and months, so every replica, every client and
// every operator sees the same boundaries whatever their time zone.

export type PeriodKind = 'day' | 'month';

export interface Period {
  readonly kind: PeriodKind;
  /** `2026-12-01` for a day, `2026-12` for a month: part of the counters' names. */
  readonly id: string;
  /** When the next period starts (ms since the epoch). */
  readonly endsAt: number;
}

export interface BudgetPeriods {
  readonly day: Period;
  readonly month: Period;
}

const twoDigits = (value: number) => String(value).padStart(2, '0');

/** The periods of the day last asked for: every request asks, and a day's answer holds for a day. */
let cached: { readonly dayStart: number; readonly periods: BudgetPeriods } | undefined;

export function budgetPeriods(now: number): BudgetPeriods {
  if (cached !== undefined && now >= cached.dayStart && now < cached.periods.day.endsAt) return cached.periods;
  const date = new Date(now);
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth();
  const day = date.getUTCDate();
  const monthId = `${year}-${twoDigits(month + 1)}`;
  const periods: BudgetPeriods = {
    day: { kind: 'day', id: `${monthId}-${twoDigits(day)}`, endsAt: Date.UTC(year, month, day + 1) },
    month: { kind: 'month', id: monthId, endsAt: Date.UTC(year, month + 1, 1) },
  };
  cached = { dayStart: Date.UTC(year, month, day), periods };
  return periods;
}
