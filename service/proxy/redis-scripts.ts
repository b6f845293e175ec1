// The Lua scripts that keep every replica's limits in Redis, each one atomic and one round trip: admit
// (budgets, concurrency leases, requests and tokens per minute: check, then charge), and settle (the
// estimate corrected to the usage, or an unused admission given back). Every key a script touches is passed in KEYS and shares one
// `{client}` hash tag, so clustered stores (ElastiCache Serverless) find them in one slot. Levels and
// times are numbers the scripts compute with; replies are whole numbers (Redis truncates Lua floats).
import { createHash } from 'node:crypto';

/** Bucket helpers both scripts use: a level that refills at limit/window since it was last written. */
const BUCKET_FUNCTIONS = `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])

local function ms_until(missing, limit)
  if missing <= 0 then return 0 end
  return math.ceil(missing * window / limit)
end

-- The level at now. A replica whose clock lags behind the last writer's does not refill backwards.
-- A limit changed by a config reload moves the level by as much: what was used still counts.
local function refill(key, limit)
  local state = redis.call('HMGET', key, 'level', 'at', 'limit')
  local level, at, kept_limit = tonumber(state[1]), tonumber(state[2]), tonumber(state[3])
  if level == nil then return limit, now end
  if kept_limit ~= nil then level = level + limit - kept_limit end
  local elapsed = math.max(0, now - at)
  return math.min(limit, level + elapsed * limit / window), math.max(at, now)
end

-- A full bucket needs no state: the key expires once it would have refilled (and a window later).
local function store(key, level, at, limit)
  redis.call('HSET', key, 'level', level, 'at', at, 'limit', limit)
  redis.call('PEXPIRE', key, ms_until(limit - level, limit) + window)
end

local function spend(key, tokens, nano_usd, ttl)
  local total_tokens = redis.call('HINCRBY', key, 'tokens', tokens)
  local total_nano_usd = redis.call('HINCRBY', key, 'nanousd', nano_usd)
  redis.call('PEXPIRE', key, ttl)
  return total_tokens, total_nano_usd
end
`;

/**
 * KEYS: requests bucket, tokens bucket, leases (sorted set: lease id -> expiry), day spend, month spend.
 * ARGV: now, window ms, requests/min, tokens/min, estimated tokens, estimated nano-USD, max concurrent,
 * lease id, lease expiry, leases TTL ms, tokens/day, tokens/month, nano-USD/day, nano-USD/month, day
 * spend TTL ms, month spend TTL ms (a limit or budget of 0: not kept).
 * Reply: refusal (0: admitted), retry ms, requests remaining and reset ms, tokens remaining and reset
 * ms, leases held, day tokens, day nano-USD, month tokens, month nano-USD.
 */
const ADMIT = `${BUCKET_FUNCTIONS}
local rpm, tpm = tonumber(ARGV[3]), tonumber(ARGV[4])
local tokens, nano_usd = tonumber(ARGV[5]), tonumber(ARGV[6])
local max_concurrent = tonumber(ARGV[7])
local tokens_per_day, tokens_per_month = tonumber(ARGV[11]), tonumber(ARGV[12])
local nano_usd_per_day, nano_usd_per_month = tonumber(ARGV[13]), tonumber(ARGV[14])

local requests_level, requests_at, tokens_level, tokens_at
if rpm > 0 then requests_level, requests_at = refill(KEYS[1], rpm) end
if tpm > 0 then tokens_level, tokens_at = refill(KEYS[2], tpm) end
local in_flight = 0
if max_concurrent > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  in_flight = redis.call('ZCARD', KEYS[3])
end
local day = redis.call('HMGET', KEYS[4], 'tokens', 'nanousd')
local month = redis.call('HMGET', KEYS[5], 'tokens', 'nanousd')
local day_tokens, day_nano_usd = tonumber(day[1]) or 0, tonumber(day[2]) or 0
local month_tokens, month_nano_usd = tonumber(month[1]) or 0, tonumber(month[2]) or 0

local refusal, retry_ms = 0, 0
if tokens_per_month > 0 and month_tokens >= tokens_per_month then refusal = 1
elseif nano_usd_per_month > 0 and month_nano_usd >= nano_usd_per_month then refusal = 2
elseif tokens_per_day > 0 and day_tokens >= tokens_per_day then refusal = 3
elseif nano_usd_per_day > 0 and day_nano_usd >= nano_usd_per_day then refusal = 4
elseif max_concurrent > 0 and in_flight >= max_concurrent then refusal = 5
elseif rpm > 0 and requests_level < 1 then refusal = 6; retry_ms = ms_until(1 - requests_level, rpm)
elseif tpm > 0 and tokens > tpm then refusal = 7
elseif tpm > 0 and tokens_level < tokens then refusal = 8; retry_ms = ms_until(tokens - tokens_level, tpm)
end

if refusal == 0 then
  if rpm > 0 then
    requests_level = requests_level - 1
    store(KEYS[1], requests_level, requests_at, rpm)
  end
  if tpm > 0 then
    tokens_level = tokens_level - tokens
    store(KEYS[2], tokens_level, tokens_at, tpm)
  end
  if max_concurrent > 0 then
    redis.call('ZADD', KEYS[3], ARGV[9], ARGV[8])
    redis.call('PEXPIRE', KEYS[3], ARGV[10])
    in_flight = in_flight + 1
  end
  day_tokens, day_nano_usd = spend(KEYS[4], tokens, nano_usd, ARGV[15])
  month_tokens, month_nano_usd = spend(KEYS[5], tokens, nano_usd, ARGV[16])
end

local function remaining(level)
  if level == nil then return 0 end
  return math.max(0, math.floor(level))
end
local function reset_ms(level, limit)
  if level == nil then return 0 end
  return ms_until(limit - level, limit)
end
return { refusal, retry_ms, remaining(requests_level), reset_ms(requests_level, rpm), remaining(tokens_level), reset_ms(tokens_level, tpm),
  in_flight, day_tokens, day_nano_usd, month_tokens, month_nano_usd }
`;

/**
 * KEYS: requests bucket, tokens bucket, day spend, month spend. ARGV: now, window ms, requests/min
 * (0: none), requests to add (-1: one given back, for an admission that answered too late to be
 * used), tokens/min (0: none), tokens to add (negative: given back), nano-USD to add, day spend TTL
 * ms, month spend TTL ms. Reply: 1.
 */
const SETTLE = `${BUCKET_FUNCTIONS}
local rpm, requests = tonumber(ARGV[3]), tonumber(ARGV[4])
local tpm = tonumber(ARGV[5])
local tokens, nano_usd = tonumber(ARGV[6]), tonumber(ARGV[7])
if rpm > 0 and requests ~= 0 then
  local level, at = refill(KEYS[1], rpm)
  store(KEYS[1], math.min(rpm, level + requests), at, rpm)
end
if tpm > 0 and tokens ~= 0 then
  local level, at = refill(KEYS[2], tpm)
  store(KEYS[2], math.min(tpm, level - tokens), at, tpm)
end
if tokens ~= 0 or nano_usd ~= 0 then
  spend(KEYS[3], tokens, nano_usd, ARGV[8])
  spend(KEYS[4], tokens, nano_usd, ARGV[9])
end
return 1
`;

/** A script sent by its SHA1 (EVALSHA); Redis forgets scripts on restart, so NOSCRIPT sends it whole once. */
export class RedisScript {
  readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }
}

export const ADMIT_SCRIPT = new RedisScript(ADMIT);
export const SETTLE_SCRIPT = new RedisScript(SETTLE);

/** What the admit script decided; `refusal` 0 is admitted. */
export interface AdmitReply {
  readonly refusal: number;
  readonly retryMs: number;
  readonly requestsRemaining: number;
  readonly requestsResetMs: number;
  readonly tokensRemaining: number;
  readonly tokensResetMs: number;
  readonly leases: number;
  readonly day: { readonly tokens: number; readonly nanoUsd: number };
  readonly month: { readonly tokens: number; readonly nanoUsd: number };
}

const ADMIT_REPLY_LENGTH = 11;

export function parseAdmitReply(reply: unknown): AdmitReply {
  if (!Array.isArray(reply) || reply.length !== ADMIT_REPLY_LENGTH || !reply.every((value) => typeof value === 'number')) {
    throw new Error(`the admit script answered ${JSON.stringify(reply)}, not ${ADMIT_REPLY_LENGTH} numbers`);
  }
  const [refusal, retryMs, requestsRemaining, requestsResetMs, tokensRemaining, tokensResetMs, leases, dayTokens, dayNanoUsd, monthTokens, monthNanoUsd] =
    reply as number[];
  return {
    refusal: refusal!,
    retryMs: retryMs!,
    requestsRemaining: requestsRemaining!,
    requestsResetMs: requestsResetMs!,
    tokensRemaining: tokensRemaining!,
    tokensResetMs: tokensResetMs!,
    leases: leases!,
    day: { tokens: dayTokens!, nanoUsd: dayNanoUsd! },
    month: { tokens: monthTokens!, nanoUsd: monthNanoUsd! },
  };
}
