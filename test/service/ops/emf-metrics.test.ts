import { Writable } from 'node:stream';
import pino from 'pino';
import { Gauge, Registry } from 'prom-client';
import { ConfigError } from '../../../service/config';
import { emfConfigFromEnv, emfDocument, IN_FLIGHT_METRIC, startEmfMetrics } from '../../../service/ops/emf-metrics';
import { tinyModelDir } from '../../support/models';
import { startService } from '../../support/service-process';

/** A registry with the engine's two gauges reading `stats` when collected, as service/inference/metrics.ts registers them. */
function engineRegistry(stats: { running: number; waiting: number }): Registry {
  const registry = new Registry();
  new Gauge({
    name: 'vllm:num_requests_running',
    help: 'running',
    labelNames: ['model_name'],
    registers: [registry],
    collect() {
      this.set({ model_name: 'gpt2' }, stats.running);
    },
  });
  new Gauge({
    name: 'vllm:num_requests_waiting',
    help: 'waiting',
    labelNames: ['model_name'],
    registers: [registry],
    collect() {
      this.set({ model_name: 'gpt2' }, stats.waiting);
    },
  });
  return registry;
}

const config = { namespace: 'gpt2-openai-toolkit', dimensions: { Deployment: 'gpt2-aws' }, intervalMs: 10 };

describe('emfConfigFromEnv', () => {
  it('is off without a namespace, and reads dimensions and the interval when on', () => {
    expect(emfConfigFromEnv({})).toBeUndefined();
    expect(emfConfigFromEnv({ CLOUDWATCH_EMF_DIMENSIONS: 'Deployment=x' })).toBeUndefined();
    expect(
      emfConfigFromEnv({ CLOUDWATCH_EMF_NAMESPACE: 'ns', CLOUDWATCH_EMF_DIMENSIONS: 'Deployment=gpt2-aws, Variant=inference', CLOUDWATCH_EMF_INTERVAL_SECONDS: '5' }),
    ).toEqual({ namespace: 'ns', dimensions: { Deployment: 'gpt2-aws', Variant: 'inference' }, intervalMs: 5000 });
    expect(emfConfigFromEnv({ CLOUDWATCH_EMF_NAMESPACE: 'ns' })).toEqual({ namespace: 'ns', dimensions: {}, intervalMs: 10_000 });
  });

  it('names the variable and the expected form when a value is wrong', () => {
    const bad = () => emfConfigFromEnv({ CLOUDWATCH_EMF_NAMESPACE: 'ns', CLOUDWATCH_EMF_DIMENSIONS: 'Deployment', CLOUDWATCH_EMF_INTERVAL_SECONDS: '0' });
    expect(bad).toThrow(ConfigError);
    expect(bad).toThrow(/CLOUDWATCH_EMF_DIMENSIONS="Deployment": expected up to 30 Name=Value pairs/);
    expect(bad).toThrow(/CLOUDWATCH_EMF_INTERVAL_SECONDS="0": expected at least 1/);
  });
});

describe('emfDocument', () => {
  it('declares running, waiting and in-flight requests as counts under the namespace and dimensions', async () => {
    const document = await emfDocument(engineRegistry({ running: 8, waiting: 3 }), config, 1_700_000_000_000);
    expect(document).toEqual({
      _aws: {
        Timestamp: 1_700_000_000_000,
        CloudWatchMetrics: [
          {
            Namespace: 'gpt2-openai-toolkit',
            Dimensions: [['Deployment']],
            Metrics: [
              { Name: 'RequestsRunning', Unit: 'Count' },
              { Name: 'RequestsWaiting', Unit: 'Count' },
              { Name: IN_FLIGHT_METRIC, Unit: 'Count' },
            ],
          },
        ],
      },
      Deployment: 'gpt2-aws',
      RequestsRunning: 8,
      RequestsWaiting: 3,
      RequestsInFlight: 11,
    });
  });

  it('reports nothing while the engine gauges are not registered (the model is loading)', async () => {
    expect(await emfDocument(new Registry(), config, Date.now())).toBeUndefined();
  });
});

describe('startEmfMetrics', () => {
  it('writes EMF lines through the logger, even when the log level would hide info lines', async () => {
    const lines: Record<string, unknown>[] = [];
    let firstLine: () => void = () => undefined;
    const written = new Promise<void>((resolve) => (firstLine = resolve));
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n').filter((text) => text !== '')) lines.push(JSON.parse(line));
        firstLine();
        done();
      },
    });
    const stats = { running: 2, waiting: 0 };
    const publisher = startEmfMetrics(
      { CLOUDWATCH_EMF_NAMESPACE: 'gpt2-openai-toolkit', CLOUDWATCH_EMF_DIMENSIONS: 'Deployment=gpt2-aws', CLOUDWATCH_EMF_INTERVAL_SECONDS: '1' },
      engineRegistry(stats),
      pino({ level: 'warn' }, sink),
    );
    try {
      await written;
    } finally {
      publisher.stop();
    }
    expect(lines[0]).toMatchObject({ msg: 'metrics', Deployment: 'gpt2-aws', RequestsRunning: 2, RequestsInFlight: 2 });
    expect(lines[0]!._aws).toMatchObject({ CloudWatchMetrics: [expect.objectContaining({ Namespace: 'gpt2-openai-toolkit' })] });
  });

  it('does nothing when publishing is off', () => {
    const sink = new Writable({ write: (_chunk, _encoding, done) => done(new Error('nothing should be written')) });
    expect(() => startEmfMetrics({}, engineRegistry({ running: 1, waiting: 1 }), pino(sink)).stop()).not.toThrow();
  });
});

describe('the service with CLOUDWATCH_EMF_NAMESPACE set', () => {
  it('publishes its engine gauges as EMF lines on stdout once the model is loaded', async () => {
    const service = startService({
      MODEL_DIR: await tinyModelDir(),
      CLOUDWATCH_EMF_NAMESPACE: 'gpt2-openai-toolkit',
      CLOUDWATCH_EMF_DIMENSIONS: 'Deployment=gpt2-test',
      CLOUDWATCH_EMF_INTERVAL_SECONDS: '1',
    });
    try {
      const line = await new Promise<Record<string, unknown>>((resolve) => {
        let pending = '';
        service.child.stdout!.on('data', (chunk: Buffer) => {
          pending += chunk.toString('utf8');
          const lines = pending.split('\n');
          pending = lines.pop() ?? '';
          const emf = lines.find((text) => text.includes('"_aws"'));
          if (emf !== undefined) resolve(JSON.parse(emf) as Record<string, unknown>);
        });
      });
      expect(line).toMatchObject({ Deployment: 'gpt2-test', RequestsRunning: 0, RequestsWaiting: 0, RequestsInFlight: 0 });
    } finally {
      service.child.kill('SIGKILL');
      await service.exited;
    }
  }, 120_000);
});
