// The proxy's connection to its shared-state store (REDIS_URL, with node-redis): TLS checked as
// REDIS_TLS_VERIFY says against Node's CAs and REDIS_CA_FILE's, commands that fail at once while the store is down (no offline queue) and
// within PROXY_SHARED_STATE_TIMEOUT_MS when it hangs, reconnection by itself, and whether the store is
// available now (proxy_shared_state_available; a warning when it goes, a line when it is back).
// Credentials never reach a log line: the store is named by host and port.
import { createClient, ErrorReply, type RedisClientType } from '@redis/client';
import { rootCertificates } from 'node:tls';
import type { Logger } from 'pino';
import type { ProxyMetrics } from './metrics';
import { RedisScript } from './redis-scripts';
import { serverIdentityCheck, type TlsVerify } from './redis-tls';

/** RESP2: what every managed Redis and Valkey speaks (ElastiCache Serverless, Azure Managed Redis, Memorystore). */
export type StoreClient = RedisClientType<{}, {}, {}, 2, {}>;

/** Reconnection backoff: 50 ms doubling to at most this, for as long as it takes. */
const RECONNECT_MAX_DELAY_MS = 1000;
/** While marked unavailable with its socket still up (it stopped answering), a PING this often looks for it. */
const PROBE_INTERVAL_MS = 1000;
/** Failures that are not the store being away (a script error, a refused command) are logged at most this often. */
const ERROR_LOG_INTERVAL_MS = 10_000;
/** Replies that mean the store is there but cannot serve now. */
const NOT_SERVING = /^(LOADING|BUSY|READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN)\b/;

export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}

export interface RedisConnectionOptions {
  readonly url: string;
  readonly timeoutMs: number;
  readonly tlsVerify: TlsVerify;
  /** PEM of CAs to trust besides Node's own (REDIS_CA_FILE). */
  readonly caCertificates: string | undefined;
  /** Loaded on every (re)connection, so calls find them by SHA1 and stay in the order they were made. */
  readonly scripts: readonly RedisScript[];
  readonly log: Logger;
  readonly metrics: ProxyMetrics;
}

/** Node's CAs plus REDIS_CA_FILE's (a `ca` option replaces Node's, so they are listed too); undefined: Node's alone. */
function trustedCas(extra: string | undefined): string[] | undefined {
  return extra === undefined ? undefined : [...rootCertificates, extra];
}

function withDeadline<T>(promise: Promise<T>, ms: number, onLate: ((value: T) => void) | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      reject(new StoreUnavailableError(`no answer within PROXY_SHARED_STATE_TIMEOUT_MS=${ms}`));
    }, ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        if (late) onLate?.(value);
        else resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        if (!late) reject(error);
      },
    );
  });
}

export class RedisConnection {
  private readonly client: StoreClient;
  /** `host:port`, for logs. */
  readonly where: string;
  readonly tls: boolean;
  private available = false;
  /** Since when the store has been away (undefined: it is available, or was never reached yet). */
  private awaySince: number | undefined;
  private probe: NodeJS.Timeout | undefined;
  private lastErrorLog = 0;
  private suppressedErrors = 0;
  private closed = false;
  private readonly onBack = new Set<() => void>();

  constructor(private readonly options: RedisConnectionOptions) {
    const url = new URL(options.url);
    this.where = `${url.hostname}:${url.port || '6379'}`;
    this.tls = url.protocol === 'rediss:';
    const reconnectStrategy = (retries: number) => Math.min(50 * 2 ** retries, RECONNECT_MAX_DELAY_MS);
    this.client = createClient({
      url: options.url,
      RESP: 2,
      // Fail at once while disconnected: admission then falls back (or refuses) instead of queueing.
      disableOfflineQueue: true,
      socket: this.tls
        ? { tls: true, reconnectStrategy, checkServerIdentity: serverIdentityCheck(options.tlsVerify), ca: trustedCas(options.caCertificates) }
        : { tls: false, reconnectStrategy },
    }) as StoreClient;
    this.client.on('ready', () => {
      for (const script of options.scripts) this.client.scriptLoad(script.source).catch((error: Error) => this.logError('load', error.message));
      this.markAvailable();
    });
    this.client.on('error', (error: Error) => {
      if (!this.client.isReady) this.markUnavailable(error.message);
    });
    options.metrics.sharedStateAvailable.set(0);
  }

  /** Connects, waiting at most `waitMs` for the store: past that the proxy starts anyway and keeps trying. */
  async start(waitMs: number): Promise<void> {
    const connected = this.client.connect().then(
      () => true,
      () => false,
    );
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), waitMs)));
    const ready = await Promise.race([connected, waited]);
    clearTimeout(timer);
    if (!ready) this.options.log.warn({ redis: this.where, waitedMs: waitMs }, 'shared state: Redis not reachable at start; the proxy starts and keeps trying');
  }

  isAvailable(): boolean {
    return this.available;
  }

  /** Called each time the store is available again after being away. */
  onAvailable(listener: () => void): void {
    this.onBack.add(listener);
  }

  /** Runs a script: EVALSHA, and the source itself should the store have forgotten it (a restart between two reconnections). */
  async script(operation: string, script: RedisScript, keys: string[], args: string[], onLate?: (reply: unknown) => void): Promise<unknown> {
    return this.run(
      operation,
      async (client) => {
        try {
          return await client.evalSha(script.sha, { keys, arguments: args });
        } catch (error) {
          if (!(error instanceof ErrorReply) || !error.message.startsWith('NOSCRIPT')) throw error;
          return client.eval(script.source, { keys, arguments: args });
        }
      },
      onLate,
    );
  }

  /**
   * Runs `call` within PROXY_SHARED_STATE_TIMEOUT_MS, or throws StoreUnavailableError at once while
   * the store is away. A call that answers after its deadline hands its value to `onLate` (an
   * admission nobody waits for any more can be undone).
   */
  async run<T>(operation: string, call: (client: StoreClient) => Promise<T>, onLate?: (value: T) => void): Promise<T> {
    if (!this.available) throw new StoreUnavailableError(`Redis at ${this.where} is not available`);
    try {
      return await withDeadline(call(this.client), this.options.timeoutMs, onLate);
    } catch (error) {
      this.options.metrics.sharedStateErrors.inc({ operation });
      const message = error instanceof Error ? error.message : String(error);
      if (!(error instanceof ErrorReply) || NOT_SERVING.test(message)) this.markUnavailable(message);
      else this.logError(operation, message);
      throw error;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.probe);
    if (!this.client.isOpen) return;
    if (this.client.isReady) await this.client.close();
    else this.client.destroy();
  }

  private markAvailable(): void {
    clearInterval(this.probe);
    this.probe = undefined;
    if (this.available || this.closed) return;
    this.available = true;
    this.options.metrics.sharedStateAvailable.set(1);
    if (this.awaySince === undefined) {
      this.options.log.info({ redis: this.where, tls: this.tls }, 'shared state: connected to Redis');
      return;
    }
    this.options.log.info({ redis: this.where, unavailableMs: Date.now() - this.awaySince }, 'shared state: Redis available again');
    this.awaySince = undefined;
    for (const listener of this.onBack) listener();
  }

  private markUnavailable(cause: string): void {
    if (this.closed) return;
    if (this.awaySince === undefined) {
      this.awaySince = Date.now();
      this.options.log.warn({ redis: this.where, cause }, 'shared state: Redis unavailable');
    }
    this.available = false;
    this.options.metrics.sharedStateAvailable.set(0);
    // A socket that is still up gets no 'ready' when the store answers again: look for it.
    this.probe ??= setInterval(() => void this.lookForStore(), PROBE_INTERVAL_MS).unref();
  }

  private async lookForStore(): Promise<void> {
    if (!this.client.isReady) return;
    try {
      await withDeadline(this.client.ping(), this.options.timeoutMs, undefined);
      this.markAvailable();
    } catch {
      this.options.metrics.sharedStateErrors.inc({ operation: 'probe' });
    }
  }

  private logError(operation: string, message: string): void {
    const now = Date.now();
    if (now - this.lastErrorLog < ERROR_LOG_INTERVAL_MS) {
      this.suppressedErrors += 1;
      return;
    }
    this.options.log.error({ redis: this.where, operation, error: message, suppressedSinceLast: this.suppressedErrors }, 'shared state: Redis refused a call');
    this.lastErrorLog = now;
    this.suppressedErrors = 0;
  }
}
