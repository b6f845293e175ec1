/**
 * @jest-environment ./test/support/onnx-environment.js
 */
// monitoring/grafana/: the dashboard is valid for Grafana's file provisioning (the fields Grafana
// needs, panels on its 24-column grid, every variable it uses defined), its queries parse with
// Prometheus's own PromQL grammar, every metric name they select is in the /metrics output of a
// running inference service or of the proxy in front of it, and compose.yaml mounts the
// provisioning files where they point.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { parser } from '@prometheus-io/lezer-promql';
import { parse } from 'yaml';
import { z } from 'zod';
import type { Backend } from '../../service/backend';
import { createEngine } from '../../service/engine/engine';
import { buildApp, type BuiltApp } from '../../service/http/app';
import { createKeyAuthenticator, hashKey } from '../../service/http/auth';
import { createInferenceBackend } from '../../service/inference/backend';
import { tinyModelDir } from '../support/models';
import { writeProxyConfig } from '../service/proxy/support/config-file';
import { serveProxy, type ServedProxy } from '../service/proxy/support/harness';

const REPO_ROOT = resolve(__dirname, '..', '..');
const GRAFANA_DIR = join(REPO_ROOT, 'monitoring', 'grafana');
const DASHBOARD_FILE = join(GRAFANA_DIR, 'dashboards', 'gpt2-openai-toolkit.json');

const datasourceRef = z.object({ type: z.literal('prometheus'), uid: z.literal('${datasource}') });
const target = z.object({ refId: z.string().regex(/^[A-Z]$/), expr: z.string().min(1), datasource: datasourceRef, legendFormat: z.string() }).loose();
const gridPos = z.object({ h: z.number().int().positive(), w: z.number().int().min(1).max(24), x: z.number().int().min(0).max(23), y: z.number().int().min(0) });
const rowPanel = z.object({ id: z.number().int().positive(), type: z.literal('row'), title: z.string().min(1), gridPos, collapsed: z.boolean(), panels: z.array(z.unknown()) });
const dataPanel = z
  .object({
    id: z.number().int().positive(),
    type: z.enum(['timeseries', 'stat', 'bargauge']),
    title: z.string().min(1),
    description: z.string().min(1),
    datasource: datasourceRef,
    gridPos,
    fieldConfig: z.object({ defaults: z.object({ unit: z.string() }).loose(), overrides: z.array(z.unknown()) }),
    options: z.object({}).loose(),
    targets: z.array(target).min(1),
  })
  .loose();
const variable = z.discriminatedUnion('type', [
  z.object({ type: z.literal('datasource'), name: z.literal('datasource'), query: z.literal('prometheus') }).loose(),
  z
    .object({
      type: z.literal('query'),
      name: z.string().regex(/^[a-z_]+$/),
      datasource: datasourceRef,
      definition: z.string(),
      query: z.object({ query: z.string(), refId: z.string() }).loose(),
    })
    .loose(),
]);
/** The dashboard JSON model as Grafana's file provisioning loads it (no numeric id: Grafana assigns it). */
const dashboardSchema = z
  .object({
    uid: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/),
    title: z.string().min(1),
    schemaVersion: z.number().int().min(36),
    editable: z.boolean(),
    time: z.object({ from: z.string(), to: z.string() }),
    refresh: z.string(),
    templating: z.object({ list: z.array(variable) }),
    annotations: z.object({ list: z.array(z.unknown()) }),
    panels: z.array(z.union([rowPanel, dataPanel])).min(1),
  })
  .loose()
  .refine((dashboard) => !('id' in dashboard) || (dashboard as { id?: unknown }).id === null, 'a provisioned dashboard carries no numeric id');

type Dashboard = z.infer<typeof dashboardSchema>;
type DataPanel = z.infer<typeof dataPanel>;

const dashboard: Dashboard = dashboardSchema.parse(JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')));
const dataPanels = dashboard.panels.filter((panel): panel is DataPanel => panel.type !== 'row');
const expressions = dataPanels.flatMap((panel) => panel.targets.map((query) => ({ panel: panel.title, expr: query.expr })));

/** What Grafana puts in place of its variables before a query reaches Prometheus. */
function interpolated(expr: string): string {
  return expr.replace(/\$__(?:rate_interval|interval|range)\b/g, '5m').replace(/\$\{?\w+\}?/g, '.*');
}

interface ParsedQuery {
  /** The metric names of its vector selectors. */
  readonly metrics: string[];
  /** The text of every node Prometheus's own PromQL grammar could not parse. */
  readonly errors: string[];
}

/** Parses a panel query (variables interpolated) with Prometheus's PromQL grammar (@prometheus-io/lezer-promql). */
function parseQuery(expr: string): ParsedQuery {
  const text = interpolated(expr);
  const metrics = new Set<string>();
  const errors: string[] = [];
  const cursor = parser.parse(text).cursor();
  do {
    if (cursor.type.isError) errors.push(`at ${cursor.from}: "${text.slice(cursor.from, cursor.to + 10)}"`);
    if (cursor.name === 'Identifier' && cursor.node.parent?.name === 'VectorSelector') metrics.add(text.slice(cursor.from, cursor.to));
  } while (cursor.next());
  return { metrics: [...metrics], errors };
}

const metricNames = (expr: string): string[] => parseQuery(expr).metrics;

/** The metric a `label_values(metric, label)` variable query reads. */
function variableMetric(query: string): string {
  const match = /^label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,\s*[A-Za-z_]+\s*\)$/.exec(query);
  if (match?.[1] === undefined) throw new Error(`unexpected variable query ${query}: expected label_values(metric, label)`);
  return match[1];
}

interface Exposition {
  /** Every series name offered: the declared families (# TYPE), a histogram's _bucket/_sum/_count, and sample names. */
  readonly names: Set<string>;
  /** Only the names that have a sample line now. */
  readonly sampled: Set<string>;
}

function readExposition(text: string): Exposition {
  const names = new Set<string>();
  const sampled = new Set<string>();
  for (const line of text.split('\n')) {
    const declared = /^# TYPE (\S+) (\w+)$/.exec(line);
    if (declared?.[1] !== undefined) {
      names.add(declared[1]);
      // A histogram's series are NAME_bucket, NAME_sum and NAME_count, observed yet or not.
      if (declared[2] === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${declared[1]}${suffix}`);
      continue;
    }
    const sample = /^([A-Za-z_:][A-Za-z0-9_:]*)[{ ]/.exec(line);
    if (sample?.[1] !== undefined) {
      names.add(sample[1]);
      sampled.add(sample[1]);
    }
  }
  return { names, sampled };
}

describe('the PromQL reader', () => {
  it('finds the metrics of an expression and nothing else, and reports what does not parse', () => {
    expect(
      parseQuery('histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{instance=~"$instance", route=~"/v1/.*"}[$__rate_interval]))) / on(instance) group_left vllm:num_requests_running'),
    ).toEqual({ metrics: ['http_request_duration_seconds_bucket', 'vllm:num_requests_running'], errors: [] });
    expect(parseQuery('sum(rate(http_requests_total[$__rate_interval])').errors).not.toEqual([]);
  });
});

describe('the Grafana dashboard', () => {
  it('has the fields Grafana file provisioning needs, unique panel ids and one refId per query of a panel', () => {
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of dataPanels) {
      const refIds = panel.targets.map((query) => query.refId);
      expect({ panel: panel.title, unique: new Set(refIds).size }).toEqual({ panel: panel.title, unique: refIds.length });
    }
  });

  it('lays its panels on the 24-column grid without overlaps', () => {
    const owner = new Map<string, string>();
    const overlaps: string[] = [];
    for (const panel of dashboard.panels) {
      const { x, y, w, h } = panel.gridPos;
      if (x + w > 24) overlaps.push(`${panel.title} ends at column ${x + w}`);
      for (let column = x; column < x + w; column += 1) {
        for (let row = y; row < y + h; row += 1) {
          const other = owner.get(`${column},${row}`);
          if (other !== undefined) overlaps.push(`${panel.title} overlaps ${other} at ${column},${row}`);
          owner.set(`${column},${row}`, panel.title);
        }
      }
    }
    expect(overlaps).toEqual([]);
  });

  it("has queries that Prometheus's PromQL grammar parses, each selecting at least one metric", () => {
    const problems = expressions.flatMap(({ panel, expr }) => {
      const parsed = parseQuery(expr);
      return [...parsed.errors.map((error) => `${panel}: ${error}`), ...(parsed.metrics.length === 0 ? [`${panel}: no metric in ${expr}`] : [])];
    });
    expect(problems).toEqual([]);
  });

  it('uses only the variables it defines and the ones Grafana provides', () => {
    const defined = new Set(dashboard.templating.list.map((entry) => entry.name));
    const builtIn = new Set(['__rate_interval', '__range', '__interval']);
    const used = new Set(expressions.flatMap(({ expr }) => [...expr.matchAll(/\$\{?(\w+)/g)].map((match) => match[1] as string)));
    expect([...used].filter((name) => !defined.has(name) && !builtIn.has(name))).toEqual([]);
    expect([...defined].filter((name) => name !== 'datasource' && !used.has(name))).toEqual([]);
  });

  it('covers what the issue asks for: running and waiting, TTFT, inter-token and end-to-end quantiles, tokens/s, HTTP statuses, per-key usage, upstream latency and errors', () => {
    const queried = new Set(expressions.flatMap(({ expr }) => metricNames(expr)));
    expect([...queried].sort()).toEqual(
      expect.arrayContaining([
        'vllm:num_requests_running',
        'vllm:num_requests_waiting',
        'vllm:time_to_first_token_seconds_bucket',
        'vllm:inter_token_latency_seconds_bucket',
        'vllm:e2e_request_latency_seconds_bucket',
        'vllm:generation_tokens_total',
        'http_requests_total',
        'proxy_requests_total',
        'proxy_tokens_total',
        'proxy_upstream_latency_seconds_bucket',
        'proxy_upstream_errors_total',
      ]),
    );
    const quantiles = (metric: string) => expressions.filter(({ expr }) => expr.includes(`${metric}_bucket`)).map(({ expr }) => /histogram_quantile\(([\d.]+)/.exec(expr)?.[1]);
    for (const metric of ['vllm:time_to_first_token_seconds', 'vllm:inter_token_latency_seconds', 'vllm:e2e_request_latency_seconds']) {
      expect({ metric, quantiles: quantiles(metric) }).toEqual({ metric, quantiles: expect.arrayContaining(['0.5', '0.9', '0.99']) });
    }
  });
});

describe('every metric the dashboard queries is exported by a running service', () => {
  const SERVICE_KEY = 'sk-dashboard-service';
  const TEAM_KEY = 'sk-dashboard-team';
  let backend: Backend;
  let inference: BuiltApp;
  let inferenceUrl: string;
  let proxy: ServedProxy;
  let exported: { inference: Exposition; proxy: Exposition };

  beforeAll(async () => {
    const engine = await createEngine({ modelDir: await tinyModelDir(), intraOpThreads: 1, maxBatchSize: 4, maxQueue: 8 });
    const registry = new Registry();
    backend = createInferenceBackend(engine, { servedModelName: 'gpt2', registry });
    inference = await buildApp({ backend, authenticator: createKeyAuthenticator([{ name: 'proxy', sha256: hashKey(SERVICE_KEY) }]), registry, logger: pino({ level: 'silent' }) });
    inferenceUrl = await inference.app.listen({ host: '127.0.0.1', port: 0 });
    proxy = await serveProxy({
      UPSTREAM_BASE_URL: `${inferenceUrl}/v1`,
      OPENAI_API_KEY: SERVICE_KEY,
      PROXY_CONFIG_FILE: writeProxyConfig({ keys: [{ name: 'team', sha256: hashKey(TEAM_KEY) }], models: { allow: ['gpt2'] } }),
      PROXY_FIRST_BYTE_TIMEOUT_MS: '20000',
      PROXY_TOTAL_TIMEOUT_MS: '30000',
    });
    // Traffic through the proxy into the engine, so labelled series have samples: a streamed
    // completion and a request the upstream refuses (an upstream error).
    const post = (body: unknown) =>
      fetch(`${proxy.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TEAM_KEY}` }, body: JSON.stringify(body) });
    const streamed = await post({ model: 'gpt2', prompt: 'Once upon a time', max_tokens: 4, stream: true });
    expect(streamed.status).toBe(200);
    await streamed.text();
    expect((await post({ model: 'gpt2', prompt: 'x', max_tokens: 5000 })).status).toBe(400);
    const scrape = async (url: string) => readExposition(await (await fetch(`${url}/metrics`)).text());
    exported = { inference: await scrape(inferenceUrl), proxy: await scrape(proxy.url) };
  });

  afterAll(async () => {
    await proxy?.close();
    await inference?.app.close();
    await backend?.close();
  });

  it('finds each name of every panel query and variable in the /metrics of the inference service or the proxy', () => {
    const wanted = [
      ...expressions.flatMap(({ panel, expr }) => metricNames(expr).map((name) => ({ where: panel, name }))),
      ...dashboard.templating.list.flatMap((entry) => (entry.type === 'query' ? [{ where: `variable ${entry.name}`, name: variableMetric(entry.query.query) }] : [])),
    ];
    const missing = wanted.filter(({ name }) => !exported.inference.names.has(name) && !exported.proxy.names.has(name));
    expect(missing).toEqual([]);
  });

  it('reads engine metrics from the inference service and proxy metrics from the proxy', () => {
    const names = new Set(expressions.flatMap(({ expr }) => metricNames(expr)));
    for (const name of names) {
      if (name.startsWith('vllm:')) expect({ name, inference: exported.inference.names.has(name) }).toEqual({ name, inference: true });
      if (name.startsWith('proxy_')) expect({ name, proxy: exported.proxy.names.has(name) }).toEqual({ name, proxy: true });
      if (name.startsWith('http_') || name.startsWith('process_') || name.startsWith('nodejs_')) {
        expect({ name, both: exported.inference.names.has(name) && exported.proxy.names.has(name) }).toEqual({ name, both: true });
      }
    }
  });

  it('has samples, not only declarations, for the series the traffic produced', () => {
    expect({
      inference: ['vllm:time_to_first_token_seconds_bucket', 'vllm:inter_token_latency_seconds_bucket', 'vllm:generation_tokens_total', 'http_requests_total'].filter((name) => !exported.inference.sampled.has(name)),
      proxy: ['proxy_requests_total', 'proxy_tokens_total', 'proxy_upstream_latency_seconds_bucket', 'proxy_upstream_errors_total'].filter((name) => !exported.proxy.sampled.has(name)),
    }).toEqual({ inference: [], proxy: [] });
  });
});

describe('Grafana provisioning in compose.yaml', () => {
  const compose = parse(readFileSync(join(REPO_ROOT, 'compose.yaml'), 'utf8')) as {
    services: Record<string, { image?: string; profiles?: string[]; volumes?: string[]; environment?: Record<string, string>; ports?: string[] }>;
  };
  const grafana = compose.services.grafana;
  const mounts = new Map((grafana?.volumes ?? []).map((volume) => {
    const [host, container] = volume.split(':');
    return [container ?? '', join(REPO_ROOT, host ?? '')] as const;
  }));
  /** The host path compose mounts at `containerPath` (or a path below a mounted folder). */
  const hostPath = (containerPath: string): string | undefined => {
    for (const [container, host] of mounts) if (containerPath === container || containerPath.startsWith(`${container}/`)) return join(host, containerPath.slice(container.length));
    return undefined;
  };

  it('runs a pinned Grafana in the monitoring profile, on 127.0.0.1 only', () => {
    expect(grafana?.profiles).toEqual(['monitoring']);
    expect(grafana?.image).toMatch(/^docker\.io\/grafana\/grafana:\d+\.\d+\.\d+$/);
    expect(grafana?.ports).toEqual(['127.0.0.1:${GRAFANA_PORT:-3000}:3000']);
  });

  it("provisions the Prometheus of compose.yaml as the default data source, at its service name and port", () => {
    const file = hostPath('/etc/grafana/provisioning/datasources/prometheus.yml');
    expect(file).toBeDefined();
    const config = parse(readFileSync(file as string, 'utf8')) as { apiVersion: number; datasources: Array<Record<string, unknown>> };
    expect(config.apiVersion).toBe(1);
    expect(config.datasources).toEqual([expect.objectContaining({ type: 'prometheus', access: 'proxy', url: 'http://prometheus:9090', isDefault: true })]);
    expect(compose.services.prometheus?.profiles).toEqual(['monitoring']);
  });

  it('loads the dashboards folder the provider names, and makes this dashboard the home page', () => {
    const file = hostPath('/etc/grafana/provisioning/dashboards/gpt2-openai-toolkit.yml');
    expect(file).toBeDefined();
    const config = parse(readFileSync(file as string, 'utf8')) as { apiVersion: number; providers: Array<{ type: string; options: { path: string } }> };
    expect(config.apiVersion).toBe(1);
    expect(config.providers).toHaveLength(1);
    expect(config.providers[0]?.type).toBe('file');
    expect(hostPath(join(config.providers[0]?.options.path ?? '', 'gpt2-openai-toolkit.json'))).toBe(DASHBOARD_FILE);
    expect(hostPath(grafana?.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH ?? '')).toBe(DASHBOARD_FILE);
  });
});
