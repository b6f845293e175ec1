// Which upstream an attempt goes to. Each allowed model has targets (an upstream and the model's name
// there) in fallback order; first attempts are spread by weight over the targets that have one, later
// attempts move down the list. A target that fails PROXY_COOLDOWN_AFTER_FAILURES times in a row, or
// answers 429 with a Retry-After, cools down; afterwards one live request probes it back in (a
// circuit breaker's half-open state). With every target cooling, the one that recovers first is
// used anyway: a single upstream is never refused by the proxy itself.
import type { Logger } from 'pino';
import type { ProxyConfig } from './config';
import type { ProxyEndpoint } from './endpoints';
import type { ProxyMetrics } from './metrics';
import type { UpstreamClient } from './upstream-client';

class TargetHealth {
  /** Upstream faults in a row. */
  failures = 0;
  /** When the cooldown ends; 0 when the target is healthy. */
  coolingUntil = 0;
  /** A probe after a cooldown is in flight; other requests keep away until it answers. */
  probing = false;
}

export interface Target {
  readonly client: UpstreamClient;
  /** The model's name at this upstream (an Azure deployment, or the model itself). */
  readonly upstreamModel: string;
  /** The model's name as the proxy serves it (metric label). */
  readonly model: string;
  readonly weight: number | undefined;
  readonly health: TargetHealth;
}

export interface AttemptVerdict {
  /** The upstream is at fault (5xx, 429, timeout, network, its credentials): counts towards a cooldown. */
  readonly upstreamFault: boolean;
  readonly retryAfterMs: number | undefined;
}

export interface RouterDeps {
  readonly metrics: ProxyMetrics;
  readonly log: Logger;
  readonly clock?: () => number;
  readonly random?: () => number;
}

export class UpstreamRouter {
  private readonly byModel = new Map<string, Target[]>();
  private readonly byEndpoint = new Map<string, Target[]>();
  private readonly clock: () => number;
  private readonly random: () => number;
  private readonly cooldown: ProxyConfig['cooldown'];

  constructor(
    config: Pick<ProxyConfig, 'routes' | 'upstreams' | 'cooldown'>,
    clients: ReadonlyMap<string, UpstreamClient>,
    private readonly deps: RouterDeps,
  ) {
    this.clock = deps.clock ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.cooldown = config.cooldown;
    const weights = new Map(config.upstreams.map((upstream) => [upstream.name, upstream.weight]));
    for (const [model, route] of config.routes) {
      this.byModel.set(
        model,
        route.map((target) => ({
          client: clients.get(target.upstream)!,
          upstreamModel: target.upstreamModel,
          model,
          weight: weights.get(target.upstream),
          health: new TargetHealth(),
        })),
      );
    }
    deps.metrics.reportCoolingWith(() => this.reportCooling());
  }

  /** The targets of an allowed model that serve `endpoint`, in fallback order (empty: none does). */
  targets(model: string, endpoint: ProxyEndpoint): readonly Target[] {
    const key = `${model}\u0000${endpoint.url}`;
    let targets = this.byEndpoint.get(key);
    if (targets === undefined) {
      targets = (this.byModel.get(model) ?? []).filter((target) => target.client.serves(endpoint));
      this.byEndpoint.set(key, targets);
    }
    return targets;
  }

  /** The target for the next attempt of a request that already tried `tried`. */
  pick(targets: readonly Target[], tried: ReadonlySet<Target>): Target {
    const now = this.clock();
    const available = (target: Target) => isAvailable(target.health, now);
    const fresh = targets.filter((target) => !tried.has(target) && available(target));
    const choice =
      (tried.size === 0 ? this.weighted(fresh) : undefined) ??
      fresh[0] ??
      targets.find((target) => tried.has(target) && available(target)) ??
      soonestBack(targets);
    if (choice.health.coolingUntil > 0 && choice.health.coolingUntil <= now) choice.health.probing = true;
    return choice;
  }

  /** The attempt reached its first byte (or the upstream answered a request error: it is up). */
  succeeded(target: Target): void {
    const health = target.health;
    if (health.coolingUntil > 0) this.deps.log.info({ upstream: target.client.name, model: target.model }, 'upstream back in rotation after its cooldown');
    health.failures = 0;
    health.coolingUntil = 0;
    health.probing = false;
  }

  failed(target: Target, verdict: AttemptVerdict): void {
    if (!verdict.upstreamFault) {
      this.succeeded(target);
      return;
    }
    const health = target.health;
    const now = this.clock();
    const wasProbe = health.probing;
    health.probing = false;
    health.failures += 1;
    let until = 0;
    if (wasProbe || health.failures >= this.cooldown.afterFailures) until = now + this.cooldown.durationMs;
    if (verdict.retryAfterMs !== undefined) until = Math.max(until, now + verdict.retryAfterMs);
    if (until <= health.coolingUntil) return;
    const starting = health.coolingUntil <= now;
    health.coolingUntil = until;
    if (!starting) return;
    this.deps.metrics.cooldowns.inc({ upstream: target.client.name, model: target.model });
    this.deps.log.warn(
      { upstream: target.client.name, model: target.model, failures: health.failures, cooldownMs: until - now },
      'upstream taken out of rotation for a cooldown',
    );
  }

  /** The attempt ended without a verdict (the client left): a probe may be sent by the next request. */
  released(target: Target): void {
    target.health.probing = false;
  }

  /** Weighted choice among the targets that have a weight; undefined when none has one. */
  private weighted(targets: readonly Target[]): Target | undefined {
    let total = 0;
    for (const target of targets) total += target.weight ?? 0;
    if (total === 0) return undefined;
    let point = this.random() * total;
    for (const target of targets) {
      point -= target.weight ?? 0;
      if ((target.weight ?? 0) > 0 && point < 0) return target;
    }
    return targets.findLast((target) => (target.weight ?? 0) > 0);
  }

  private reportCooling(): void {
    const now = this.clock();
    const gauge = this.deps.metrics.coolingDown;
    for (const targets of this.byModel.values()) {
      for (const target of targets) gauge.set({ upstream: target.client.name, model: target.model }, target.health.coolingUntil > now ? 1 : 0);
    }
  }
}

function isAvailable(health: TargetHealth, now: number): boolean {
  if (health.coolingUntil === 0) return true;
  return health.coolingUntil <= now && !health.probing;
}

function soonestBack(targets: readonly Target[]): Target {
  let best = targets[0]!;
  for (const target of targets) if (target.health.coolingUntil < best.health.coolingUntil) best = target;
  return best;
}
