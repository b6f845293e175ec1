// How a limiter's verdict reads to a client: OpenAI's x-ratelimit-* headers for the per-minute limits,
// x-budget-* headers in the same style for the day and month budgets, and the errors of a refusal
// (429 rate_limit_exceeded, 429 budget_exceeded, 503 shared_state_unavailable) in OpenAI's envelope.
import { ApiError } from '../http/api-error';
import type { Period } from './budget-periods';
import type { KeyPolicy, LimitState, Refusal } from './limiter';
import { formatUsd } from './prices';

/** OpenAI writes reset durations as Go does: `20ms`, `1.5s`, `6m0s`, `13h2m5s`. */
export function formatResetDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const seconds = Math.ceil(ms / 100) / 10;
  if (seconds < 60) return `${seconds}s`;
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds - hours * 3600) / 60);
  const rest = `${minutes}m${Math.round((seconds - hours * 3600 - minutes * 60) * 10) / 10}s`;
  return hours > 0 ? `${hours}h${rest}` : rest;
}

interface BudgetStanding {
  readonly period: Period;
  readonly limit: number;
  readonly spent: number;
}

/** Of a unit's day and month budgets, the one with less left (on a tie, the month: it resets later). */
function binding(state: LimitState, unit: 'tokens' | 'usd', policy: KeyPolicy): BudgetStanding | undefined {
  const field = unit === 'tokens' ? 'tokens' : 'nanoUsd';
  const day = unit === 'tokens' ? policy.tokensPerDay : policy.nanoUsdPerDay;
  const month = unit === 'tokens' ? policy.tokensPerMonth : policy.nanoUsdPerMonth;
  const standings: BudgetStanding[] = [];
  if (month !== undefined) standings.push({ period: state.periods.month, limit: month, spent: state.spent.month[field] });
  if (day !== undefined) standings.push({ period: state.periods.day, limit: day, spent: state.spent.day[field] });
  let tightest: BudgetStanding | undefined;
  for (const standing of standings) {
    if (tightest === undefined || standing.limit - standing.spent < tightest.limit - tightest.spent) tightest = standing;
  }
  return tightest;
}

/** The headers every admitted (and refused) request carries for its key. */
export function limitHeaders(state: LimitState, policy: KeyPolicy): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [kind, bucket] of [
    ['requests', state.requests],
    ['tokens', state.tokens],
  ] as const) {
    if (bucket === undefined) continue;
    headers[`x-ratelimit-limit-${kind}`] = String(bucket.limit);
    headers[`x-ratelimit-remaining-${kind}`] = String(bucket.remaining);
    headers[`x-ratelimit-reset-${kind}`] = formatResetDuration(bucket.resetMs);
  }
  for (const unit of ['tokens', 'usd'] as const) {
    const standing = binding(state, unit, policy);
    if (standing === undefined) continue;
    const format = unit === 'tokens' ? String : formatUsd;
    headers[`x-budget-limit-${unit}`] = format(standing.limit);
    headers[`x-budget-remaining-${unit}`] = format(Math.max(0, standing.limit - standing.spent));
    headers[`x-budget-reset-${unit}`] = formatResetDuration(standing.period.endsAt - state.at);
  }
  return headers;
}

function retryAfter(ms: number): Record<string, string> {
  return { 'retry-after': String(Math.max(1, Math.ceil(ms / 1000))), 'retry-after-ms': String(Math.max(1, Math.ceil(ms))) };
}

function rateLimited(message: string, headers: Record<string, string>): ApiError {
  return new ApiError({ status: 429, type: 'rate_limit_error', code: 'rate_limit_exceeded', message, headers });
}

function budgetExceeded(refusal: Extract<Refusal, { kind: 'budget' }>, state: LimitState, policy: KeyPolicy, headers: Record<string, string>): ApiError {
  const period = state.periods[refusal.period];
  const tokens = refusal.unit === 'tokens';
  const limit = (tokens ? (refusal.period === 'day' ? policy.tokensPerDay : policy.tokensPerMonth) : refusal.period === 'day' ? policy.nanoUsdPerDay : policy.nanoUsdPerMonth) ?? 0;
  const spent = state.spent[refusal.period][tokens ? 'tokens' : 'nanoUsd'];
  const amount = (value: number) => (tokens ? `${value} tokens` : `$${formatUsd(value)}`);
  const untilReset = period.endsAt - state.at;
  return new ApiError({
    status: 429,
    // OpenAI's type for a spent quota; the code says it is this proxy's budget, not the upstream's.
    type: 'insufficient_quota',
    code: 'budget_exceeded',
    message:
      `Budget exceeded: this key's ${refusal.period === 'day' ? 'daily' : 'monthly'} budget of ${amount(limit)} is spent ` +
      `(${amount(spent)} this UTC ${refusal.period}, ${period.id}). It resets at ${new Date(period.endsAt).toISOString()} ` +
      `(in ${formatResetDuration(untilReset)}); until then this key is refused.`,
    // Retrying before the reset cannot succeed: the SDKs honour x-should-retry: false.
    headers: { ...headers, ...retryAfter(untilReset), 'x-should-retry': 'false' },
  });
}

/** The error for a refused request; `tokens` is its estimate (for the messages). */
export function refusalError(refusal: Refusal, state: LimitState | undefined, policy: KeyPolicy, tokens: number): ApiError {
  if (refusal.kind === 'unavailable' || state === undefined) {
    return new ApiError({
      status: 503,
      type: 'service_unavailable',
      code: 'shared_state_unavailable',
      message:
        'The proxy cannot reach the store its limits and budgets are shared in (Redis), and PROXY_SHARED_STATE_FAILURE=closed ' +
        'refuses what it cannot count. Retry shortly.',
      headers: retryAfter(1000),
    });
  }
  const headers = limitHeaders(state, policy);
  switch (refusal.kind) {
    case 'budget':
      return budgetExceeded(refusal, state, policy, headers);
    case 'concurrency':
      return rateLimited(`Rate limit reached: ${refusal.limit} concurrent requests for this key. Retry when one finishes.`, { ...headers, ...retryAfter(1000) });
    case 'requests':
      return rateLimited(
        `Rate limit reached: ${state.requests?.limit} requests per minute for this key. Retry after the Retry-After header's seconds.`,
        { ...headers, ...retryAfter(refusal.retryAfterMs) },
      );
    case 'too_large':
      return rateLimited(
        `Request too large: about ${tokens} tokens (prompt/4 + max_tokens) against a limit of ${state.tokens?.limit} tokens per minute ` +
          'for this key. Shorten the prompt or lower max_tokens.',
        headers,
      );
    case 'tokens':
      return rateLimited(
        `Rate limit reached: ${state.tokens?.limit} tokens per minute for this key (this request needs about ${tokens}). ` +
          "Retry after the Retry-After header's seconds.",
        { ...headers, ...retryAfter(refusal.retryAfterMs) },
      );
  }
}
