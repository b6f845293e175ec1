// Entry point: environment -> config -> backend (inference or proxy) -> HTTP app (and the metrics listener
// when METRICS_PORT is set) -> listen; on SIGTERM/SIGINT drains in-flight requests, closes both listeners and
// the backend, and exits 0; on SIGHUP the proxy re-reads PROXY_CONFIG_FILE. The inference engine runs in a
// worker process; if it fails beyond its restarts the service exits 1.
import pino, { type Logger } from 'pino';
import { Registry } from 'prom-client';
import type { Backend } from './backend';
import { ConfigError, loadConfig, type Config } from './config';
import { createWorkerEngine } from './engine/worker/client';
import { buildApp, type BuiltApp } from './http/app';
import { createKeyAuthenticator, hashKey, type Authenticator } from './http/auth';
import type { InferenceBackend } from './inference/api';
import { buildMetricsServer } from './http/metrics-server';
import { serverTimeouts } from './http/server-timeouts';
import { createInferenceBackend } from './inference/backend';
import { loadingBackend } from './loading-backend';
import { resolveModelDir } from './models/resolve';
import { startEmfMetrics } from './ops/emf-metrics';
import { createProxyBackend } from './proxy/backend';

interface Variant {
  readonly backend: Backend;
  readonly authenticator: Authenticator;
  /** Resolves when the backend can serve; rejects when it cannot be had (e.g. no model). */
  readonly loaded: Promise<unknown>;
  /** Re-reads the variant's config (the proxy's PROXY_CONFIG_FILE), for SIGHUP. */
  readonly reload?: (trigger: string) => void;
}

/** How long responses of requests failed by an engine failure get to close before the exit. */
const ENGINE_FAILURE_GRACE_MS = 2000;

/**
 * Inference: listen at once and load the model behind a LoadingBackend (/ready says 503 meanwhile).
 * `onEngineFatal` runs when the engine's worker failed and cannot be restarted.
 */
function inferenceVariant(config: Config, registry: Registry, logger: Logger, onEngineFatal: (error: Error) => void): Variant {
  // Raw keys are hashed at once; names derive from the hash so logs never carry a key.
  const authenticator = createKeyAuthenticator(
    config.apiKeys.map((key) => {
      const sha256 = hashKey(key);
      return { name: `key-${sha256.slice(0, 8)}`, sha256 };
    }),
  );
  const load = (async (): Promise<InferenceBackend> => {
    const graph = { dtype: config.model.dtype, file: config.model.file };
    const modelDir = await resolveModelDir({
      modelDir: config.model.dir,
      modelId: config.model.id,
      revision: config.model.revision,
      graph,
      cacheDir: config.model.cacheDir,
      log: logger,
    });
    logger.info({ modelDir, ...graph }, 'loading model');
    const engine = await createWorkerEngine({
      modelDir,
      ...graph,
      modelId: config.model.servedName,
      executionProvider: config.engine.executionProvider,
      intraOpThreads: config.engine.intraOpThreads,
      maxBatchSize: config.engine.maxBatchSize,
      maxQueue: config.engine.maxQueue,
      prefillChunkTokens: config.engine.prefillChunkTokens,
      watchdogSeconds: config.engine.watchdogSeconds,
      maxRestarts: config.engine.maxRestarts,
      logLevel: config.logLevel,
      log: logger.child({ component: 'engine' }),
      onFatal: onEngineFatal,
    });
    return createInferenceBackend(engine, { servedModelName: config.model.servedName, registry });
  })();
  const backend = loadingBackend(load);
  return { backend, authenticator, loaded: backend.loaded };
}

async function proxyVariant(env: NodeJS.ProcessEnv, registry: Registry, logger: Logger): Promise<Variant> {
  const { backend, authenticator } = await createProxyBackend(env, { registry, logger: logger.child({ component: 'proxy' }) });
  return { backend, authenticator, loaded: Promise.resolve(), reload: (trigger) => backend.reload(trigger) };
}

export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  const logger = pino({ level: config.logLevel, base: { variant: config.variant, pid: process.pid } });
  /** The fatal line in the log and, for whoever reads the terminal or the container's exit, on stderr. */
  const report = (error: unknown, context: string): void => {
    const message = error instanceof Error ? error.message : String(error);
    logger.fatal({ err: error }, `${context}: ${message}`);
    process.stderr.write(`${context}: ${message}\n`);
  };
  const fail = (error: unknown, context: string): never => {
    report(error, context);
    process.exit(1);
  };

  const registry = new Registry();
  let built: BuiltApp | undefined;
  // In-flight requests already got their error; /ready turns 503, their responses close, then exit 1
  // so the orchestrator replaces this replica.
  const exitAfterEngineFailure = async (error: Error): Promise<void> => {
    report(error, 'the engine cannot serve');
    if (built) {
      await built.drain(ENGINE_FAILURE_GRACE_MS);
      await built.app.close();
    }
    process.exit(1);
  };
  let variant: Variant;
  try {
    variant =
      config.variant === 'proxy'
        ? await proxyVariant(env, registry, logger)
        : inferenceVariant(config, registry, logger, (error) => void exitAfterEngineFailure(error));
    startEmfMetrics(env, registry, logger);
  } catch (error) {
    return fail(error, `cannot start the ${config.variant} backend`);
  }
  const { backend } = variant;
  built = await buildApp({
    backend,
    authenticator: variant.authenticator,
    registry,
    logger,
    logContent: config.logContent,
    bodyLimitBytes: config.bodyLimitBytes,
    playground: config.playground,
    serveMetrics: config.metricsPort === undefined,
    timeouts: serverTimeouts(config.keepAliveTimeoutSeconds),
    ...(config.tls ? { https: config.tls } : {}),
  });
  try {
    const address = await built.app.listen({ host: config.host, port: config.port });
    logger.info({ address, auth: variant.authenticator.enabled, tls: config.tls !== undefined }, `listening on ${address}`);
  } catch (error) {
    return fail(error, `cannot listen on ${config.host}:${config.port}`);
  }
  const metricsServer = config.metricsPort === undefined ? undefined : buildMetricsServer({ registry, logger: logger.child({ listener: 'metrics' }) });
  if (metricsServer !== undefined) {
    try {
      const metricsAddress = await metricsServer.listen({ host: config.host, port: config.metricsPort });
      logger.info({ metricsAddress }, `metrics on ${metricsAddress}/metrics`);
    } catch (error) {
      return fail(error, `cannot listen on ${config.host}:${config.metricsPort} (METRICS_PORT)`);
    }
  }
  variant.loaded.then(
    () => logger.info('ready'),
    (error: unknown) => fail(error, 'cannot load the model'),
  );

  let stopping = false;
  const stop = async (signal: NodeJS.Signals): Promise<void> => {
    if (stopping) {
      // A second signal means "now": skip the rest of the drain.
      logger.warn({ signal }, 'second signal: exiting without finishing the drain');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, inFlight: built.inFlight(), drainTimeoutSeconds: config.drainTimeoutSeconds }, 'draining');
    const { aborted } = await built.drain(config.drainTimeoutSeconds * 1000);
    if (aborted > 0) logger.warn({ aborted }, 'drain timeout reached: aborted the requests still running');
    await Promise.all([built.app.close(), metricsServer?.close()]);
    await backend.close();
    logger.info('stopped');
    process.exit(0);
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, (received) => void stop(received));
  const { reload } = variant;
  if (reload !== undefined) process.on('SIGHUP', () => reload('SIGHUP'));
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
