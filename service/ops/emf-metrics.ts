// Publishes the engine's running and queued requests to CloudWatch as embedded-metric-format (EMF) log lines every
// few seconds, for the AWS stack's scaling and alarms (CloudWatch Logs extracts them from the awslogs stream).
// Off unless CLOUDWATCH_EMF_NAMESPACE is set.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { ConfigError } from '../config';

/** The gauges read from the registry (vLLM's names) and the CloudWatch metric each becomes. */
export const PUBLISHED_GAUGES = {
  'vllm:num_requests_running': 'RequestsRunning',
  'vllm:num_requests_waiting': 'RequestsWaiting',
} as const;

/** Running plus waiting: what a replica holds, the number autoscaling tracks per task. */
export const IN_FLIGHT_METRIC = 'RequestsInFlight';

export interface EmfConfig {
  readonly namespace: string;
  /** Dimension name -> value, the same on every line (e.g. the deployment). */
  readonly dimensions: Readonly<Record<string, string>>;
  readonly intervalMs: number;
}

const DIMENSION = /^([A-Za-z0-9_.\-]{1,255})=([^,]{1,1024})$/;

const EmfEnv = z.object({
  CLOUDWATCH_EMF_NAMESPACE: z.string().trim().min(1).max(255).optional(),
  CLOUDWATCH_EMF_DIMENSIONS: z
    .string()
    .trim()
    .optional()
    .transform((text, context) => {
      const entries = (text ?? '').split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
      const pairs = entries.map((entry) => DIMENSION.exec(entry));
      if (pairs.some((pair) => pair === null) || entries.length > 30) {
        context.addIssue({ code: 'custom', message: 'expected up to 30 Name=Value pairs separated by commas, e.g. Deployment=gpt2-aws' });
        return z.NEVER;
      }
      return Object.fromEntries(pairs.map((pair) => [pair![1]!, pair![2]!]));
    }),
  CLOUDWATCH_EMF_INTERVAL_SECONDS: z
    .string()
    .trim()
    .regex(/^\d+$/, 'expected a whole number of seconds from 1 to 60')
    .transform(Number)
    .pipe(z.number().int().min(1, 'expected at least 1').max(60, 'expected at most 60'))
    .default(10),
});

/** The EMF settings in `env`; undefined when CLOUDWATCH_EMF_NAMESPACE is unset (publishing off). */
export function emfConfigFromEnv(env: NodeJS.ProcessEnv): EmfConfig | undefined {
  const present = Object.fromEntries(Object.keys(EmfEnv.shape).map((name) => [name, env[name] === '' ? undefined : env[name]]));
  const parsed = EmfEnv.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${String(issue.path[0])}=${JSON.stringify(env[String(issue.path[0])] ?? '')}: ${issue.message}`);
    throw new ConfigError(`Invalid CloudWatch metrics configuration:\n  ${problems.join('\n  ')}`);
  }
  const values = parsed.data;
  if (values.CLOUDWATCH_EMF_NAMESPACE === undefined) return undefined;
  return { namespace: values.CLOUDWATCH_EMF_NAMESPACE, dimensions: values.CLOUDWATCH_EMF_DIMENSIONS, intervalMs: values.CLOUDWATCH_EMF_INTERVAL_SECONDS * 1000 };
}

async function gaugeTotal(registry: Registry, name: string): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return undefined;
  const { values } = await metric.get();
  return values.reduce((total, sample) => total + sample.value, 0);
}

/**
 * One EMF document with the current values, or undefined while the gauges are not registered yet (the model is
 * still loading): a loading replica reports nothing rather than an idle zero.
 */
export async function emfDocument(registry: Registry, config: EmfConfig, timestamp: number): Promise<Record<string, unknown> | undefined> {
  const values: Record<string, number> = {};
  for (const [gauge, metric] of Object.entries(PUBLISHED_GAUGES)) {
    const value = await gaugeTotal(registry, gauge);
    if (value === undefined) return undefined;
    values[metric] = value;
  }
  values[IN_FLIGHT_METRIC] = Object.values(values).reduce((total, value) => total + value, 0);
  return {
    _aws: {
      Timestamp: timestamp,
      CloudWatchMetrics: [
        {
          Namespace: config.namespace,
          Dimensions: [Object.keys(config.dimensions)],
          Metrics: Object.keys(values).map((name) => ({ Name: name, Unit: 'Count' })),
        },
      ],
    },
    ...config.dimensions,
    ...values,
  };
}

export interface EmfPublisher {
  stop(): void;
}

/**
 * Writes an EMF line through `logger` every interval when `env` enables it. The lines go at level info through a
 * child whose level is its own, so LOG_LEVEL=warn quiets the logs without stopping the metrics scaling depends on.
 */
export function startEmfMetrics(env: NodeJS.ProcessEnv, registry: Registry, logger: Logger): EmfPublisher {
  const config = emfConfigFromEnv(env);
  if (config === undefined) return { stop: () => undefined };
  const metricsLogger = logger.child({ component: 'cloudwatch-emf' }, { level: 'info' });
  const publish = async (): Promise<void> => {
    const document = await emfDocument(registry, config, Date.now());
    if (document !== undefined) metricsLogger.info(document, 'metrics');
  };
  const timer = setInterval(() => {
    publish().catch((error: unknown) => logger.warn({ err: error }, 'could not publish CloudWatch metrics'));
  }, config.intervalMs);
  // Metrics must never keep a draining process alive.
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
