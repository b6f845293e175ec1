// What tokens cost: a model's price per million input and output tokens -> whole nano-dollars
// (1e-9 USD), the unit budgets are counted in, so spend adds up exactly in Redis counters and in memory.
import type { Price } from './config-file';

const NANO_USD_PER_USD = 1e9;
/** Nano-dollars per token at a price of one dollar per million tokens. */
const NANO_USD_PER_TOKEN_AT_ONE_USD_PER_MILLION = 1000;

export function usdToNano(usd: number): number {
  return Math.round(usd * NANO_USD_PER_USD);
}

export function nanoToUsd(nanoUsd: number): number {
  return nanoUsd / NANO_USD_PER_USD;
}

/** Rounded up to a whole nano-dollar; 0 for a model without a price. */
export function costNanoUsd(price: Price | undefined, promptTokens: number, completionTokens: number): number {
  if (price === undefined) return 0;
  const exact =
    (promptTokens * price.inputPerMillionTokens + completionTokens * price.outputPerMillionTokens) * NANO_USD_PER_TOKEN_AT_ONE_USD_PER_MILLION;
  // Prices like 0.15 are not exact in binary: round away the noise before rounding up.
  return Math.ceil(Number(exact.toFixed(6)));
}

/** A dollar amount for headers and messages: at most six decimals, no trailing zeros. */
export function formatUsd(nanoUsd: number): string {
  return String(Number(nanoToUsd(nanoUsd).toFixed(6)));
}
