// Everything the proxy builds from one ProxyConfig: the model catalog, the upstream clients, routes and
// caller, each key's limits and budgets, the prices, and the key authenticator. A reload builds a new
// generation; a request keeps the one it started with, so a reload never changes a request halfway.
import type { Logger } from 'pino';
import type { Agent } from 'undici';
import { type Authenticator, createKeyAuthenticator } from '../http/auth';
import type { Budget, Limits, Price, ProxyConfig } from './config';
import type { Clock, KeyPolicy } from './limiter';
import type { ProxyMetrics } from './metrics';
import { ModelCatalog } from './models';
import { usdToNano } from './prices';
import { UpstreamRouter } from './router';
import { UpstreamCaller } from './upstream';
import { UpstreamClient } from './upstream-client';

export interface GenerationDeps {
  /** The connection pool every generation shares (its settings come from the environment, which a reload does not change). */
  readonly agent: Agent;
  readonly metrics: ProxyMetrics;
  readonly log: Logger;
  readonly clock?: Clock;
  readonly random?: () => number;
}

function policyOf(limits: Limits, budget: Budget): KeyPolicy {
  return {
    ...limits,
    tokensPerDay: budget.tokensPerDay,
    tokensPerMonth: budget.tokensPerMonth,
    nanoUsdPerDay: budget.usdPerDay === undefined ? undefined : usdToNano(budget.usdPerDay),
    nanoUsdPerMonth: budget.usdPerMonth === undefined ? undefined : usdToNano(budget.usdPerMonth),
  };
}

export class ConfigGeneration {
  readonly catalog: ModelCatalog;
  readonly router: UpstreamRouter;
  readonly caller: UpstreamCaller;
  /** The upstream keys, redacted from whatever is relayed or logged. */
  readonly secrets: readonly string[];
  readonly authenticator: Authenticator;
  private readonly policies: ReadonlyMap<string, KeyPolicy>;
  /** For a caller without a key (PROXY_ALLOW_ANONYMOUS). */
  private readonly defaultPolicy: KeyPolicy;

  constructor(
    readonly config: ProxyConfig,
    deps: GenerationDeps,
  ) {
    this.catalog = new ModelCatalog(config.models);
    const clients = new Map(config.upstreams.map((upstream) => [upstream.name, new UpstreamClient(upstream, deps.agent)]));
    this.router = new UpstreamRouter(config, clients, { metrics: deps.metrics, log: deps.log, clock: deps.clock, random: deps.random });
    this.secrets = config.upstreams.flatMap((upstream) => (upstream.apiKey === null ? [] : [upstream.apiKey]));
    this.caller = new UpstreamCaller(config, { router: this.router, metrics: deps.metrics, secrets: this.secrets, random: deps.random });
    this.authenticator = createKeyAuthenticator(config.keys.map(({ name, sha256 }) => ({ name, sha256 })));
    this.defaultPolicy = policyOf(config.defaultLimits, config.defaultBudget);
    this.policies = new Map(
      config.keys.map((key) => [key.name, policyOf({ ...config.defaultLimits, ...key.limits }, { ...config.defaultBudget, ...key.budget })]),
    );
  }

  policyFor(client: string): KeyPolicy {
    return this.policies.get(client) ?? this.defaultPolicy;
  }

  priceOf(model: string): Price | undefined {
    return this.config.prices[model];
  }
}
