// A Cloud Monitoring dashboard and alert policies for one Cloud Run service: GPU utilization and GPU memory
// from Cloud Run's built-in metrics (run.googleapis.com/container/gpu/*), and, for inference, the queue depth
// the service exports as vllm:num_requests_waiting, which the Prometheus sidecar writes to Managed Service
// for Prometheus and the policies read with PromQL.
import * as pulumi from '@pulumi/pulumi';
import * as gcp from '@pulumi/gcp';
import type { DeploymentSpec } from '../spec';

/** Cloud Run's built-in metric types used here (Cloud Monitoring metrics list, "run"). */
export const CLOUD_RUN_METRICS = {
  gpuUtilization: 'run.googleapis.com/container/gpu/utilizations',
  gpuMemoryUtilization: 'run.googleapis.com/container/gpu/memory_utilizations',
  memoryUtilization: 'run.googleapis.com/container/memory/utilizations',
  instanceCount: 'run.googleapis.com/container/instance_count',
  requestCount: 'run.googleapis.com/request_count',
  requestLatencies: 'run.googleapis.com/request_latencies',
} as const;

/** GPU memory above this share for 5 minutes: the next long prompt or larger batch runs out of memory. */
export const GPU_MEMORY_HIGH_RATIO = 0.9;

function revisionFilter(service: string, metricType: string, extra = ''): string {
  return `resource.type = "cloud_run_revision" AND resource.labels.service_name = "${service}" AND metric.type = "${metricType}"${extra}`;
}

/** The sidecar labels the service's series with cluster "__run__" and namespace = the service's name. */
export function serviceSelector(service: string): string {
  return `{cluster="__run__",namespace="${service}"}`;
}

/**
 * Requests waiting in the engine's queue across instances, above a full batch of one replica for 5 minutes:
 * autoscaling is not keeping up (maxReplicas reached, or GPU quota exhausted).
 */
export function queueDepthQuery(spec: DeploymentSpec): string {
  return `max(vllm:num_requests_waiting${serviceSelector(spec.name)}) > ${spec.scaling.targetConcurrency}`;
}

/** An alert policy and the stable key its resource is named by. */
export interface ServiceAlertPolicy {
  readonly key: string;
  readonly policy: Omit<gcp.monitoring.AlertPolicyArgs, 'notificationChannels' | 'project'>;
}

export function alertPolicies(spec: DeploymentSpec): ServiceAlertPolicy[] {
  const service = spec.name;
  const threshold = (
    displayName: string,
    filter: string,
    aggregation: gcp.types.input.monitoring.AlertPolicyConditionConditionThresholdAggregation,
    comparison: string,
    thresholdValue: number,
    duration: string,
  ): gcp.types.input.monitoring.AlertPolicyCondition => ({
    displayName,
    conditionThreshold: { filter, aggregations: [aggregation], comparison, thresholdValue, duration },
  });
  const policies: ServiceAlertPolicy[] = [
    {
      key: 'server-errors',
      policy: {
        displayName: `${service}: 5xx responses`,
        combiner: 'OR',
        conditions: [
          threshold(
            'More than 10 responses with a 5xx code in 15 minutes',
            revisionFilter(service, CLOUD_RUN_METRICS.requestCount, ' AND metric.labels.response_code_class = "5xx"'),
            { alignmentPeriod: '900s', perSeriesAligner: 'ALIGN_SUM', crossSeriesReducer: 'REDUCE_SUM' },
            'COMPARISON_GT',
            10,
            '0s',
          ),
        ],
      },
    },
    {
      key: 'at-max-instances',
      policy: {
        displayName: `${service}: at max instances`,
        combiner: 'OR',
        documentation: {
          content: `The service ran at its ceiling of ${spec.scaling.maxReplicas} instances for 15 minutes: it cannot scale further and requests queue. Raise scaling.maxReplicas (and the GPU quota).`,
          mimeType: 'text/markdown',
        },
        conditions: [
          threshold(
            `${spec.scaling.maxReplicas} instances for 15 minutes`,
            revisionFilter(service, CLOUD_RUN_METRICS.instanceCount),
            { alignmentPeriod: '60s', perSeriesAligner: 'ALIGN_MAX', crossSeriesReducer: 'REDUCE_SUM' },
            'COMPARISON_GT',
            spec.scaling.maxReplicas - 0.5,
            '900s',
          ),
        ],
      },
    },
    {
      key: 'memory-high',
      policy: {
        displayName: `${service}: memory high`,
        combiner: 'OR',
        conditions: [
          threshold(
            'An instance above 90% of its memory limit for 15 minutes',
            revisionFilter(service, CLOUD_RUN_METRICS.memoryUtilization),
            { alignmentPeriod: '60s', perSeriesAligner: 'ALIGN_PERCENTILE_99', crossSeriesReducer: 'REDUCE_MAX' },
            'COMPARISON_GT',
            0.9,
            '900s',
          ),
        ],
      },
    },
  ];
  if (spec.variant === 'inference') {
    policies.push(
      {
        key: 'gpu-memory-high',
        policy: {
          displayName: `${service}: GPU memory high`,
          combiner: 'OR',
          conditions: [
            threshold(
              `A GPU above ${GPU_MEMORY_HIGH_RATIO * 100}% memory for 5 minutes`,
              revisionFilter(service, CLOUD_RUN_METRICS.gpuMemoryUtilization),
              { alignmentPeriod: '60s', perSeriesAligner: 'ALIGN_PERCENTILE_99', crossSeriesReducer: 'REDUCE_MAX' },
              'COMPARISON_GT',
              GPU_MEMORY_HIGH_RATIO,
              '300s',
            ),
          ],
        },
      },
      {
        key: 'queue-depth',
        policy: {
          displayName: `${service}: requests queueing`,
          combiner: 'OR',
          documentation: {
            content: `More than ${spec.scaling.targetConcurrency} requests (one replica's batch) waited in an engine queue for 5 minutes (vllm:num_requests_waiting).`,
            mimeType: 'text/markdown',
          },
          conditions: [
            {
              displayName: 'vllm:num_requests_waiting above one batch for 5 minutes',
              conditionPrometheusQueryLanguage: { query: queueDepthQuery(spec), duration: '300s', evaluationInterval: '60s' },
            },
          ],
        },
      },
    );
  }
  return policies;
}

/** Dashboard tiles: a Cloud Monitoring filter with its aligner, or a PromQL query. */
type Tile = { title: string } & ({ filter: string; aligner: string; reducer: string } | { promql: string });

export function dashboardTiles(spec: DeploymentSpec): Tile[] {
  const service = spec.name;
  const tiles: Tile[] = [
    { title: 'Requests by response class', filter: revisionFilter(service, CLOUD_RUN_METRICS.requestCount), aligner: 'ALIGN_RATE', reducer: 'REDUCE_SUM' },
    { title: 'Latency p99 (ms)', filter: revisionFilter(service, CLOUD_RUN_METRICS.requestLatencies), aligner: 'ALIGN_PERCENTILE_99', reducer: 'REDUCE_MAX' },
    { title: 'Instances', filter: revisionFilter(service, CLOUD_RUN_METRICS.instanceCount), aligner: 'ALIGN_MAX', reducer: 'REDUCE_SUM' },
    { title: 'Memory utilization p99', filter: revisionFilter(service, CLOUD_RUN_METRICS.memoryUtilization), aligner: 'ALIGN_PERCENTILE_99', reducer: 'REDUCE_MAX' },
  ];
  if (spec.variant === 'inference') {
    tiles.unshift(
      { title: 'GPU utilization p99', filter: revisionFilter(service, CLOUD_RUN_METRICS.gpuUtilization), aligner: 'ALIGN_PERCENTILE_99', reducer: 'REDUCE_MAX' },
      { title: 'GPU memory utilization p99', filter: revisionFilter(service, CLOUD_RUN_METRICS.gpuMemoryUtilization), aligner: 'ALIGN_PERCENTILE_99', reducer: 'REDUCE_MAX' },
      { title: 'Requests waiting (queue depth)', promql: `sum(vllm:num_requests_waiting${serviceSelector(service)})` },
      { title: 'Requests running', promql: `sum(vllm:num_requests_running${serviceSelector(service)})` },
    );
  }
  return tiles;
}

/** The dashboard as Cloud Monitoring's JSON: a 12-column mosaic, two charts a row. */
export function dashboardJson(spec: DeploymentSpec): string {
  const tiles = dashboardTiles(spec).map((tile, index) => ({
    xPos: (index % 2) * 6,
    yPos: Math.floor(index / 2) * 4,
    width: 6,
    height: 4,
    widget: {
      title: tile.title,
      xyChart: {
        dataSets: [
          {
            plotType: 'LINE',
            timeSeriesQuery:
              'promql' in tile
                ? { prometheusQuery: tile.promql }
                : {
                    timeSeriesFilter: {
                      filter: tile.filter,
                      aggregation: { alignmentPeriod: '60s', perSeriesAligner: tile.aligner, crossSeriesReducer: tile.reducer },
                    },
                  },
          },
        ],
      },
    },
  }));
  return JSON.stringify({ displayName: `${spec.name} (${spec.variant})`, mosaicLayout: { columns: 12, tiles } });
}

export interface CloudRunMonitoringArgs {
  readonly spec: DeploymentSpec;
  readonly project: string;
  /** The Monitoring API. */
  readonly dependsOn: pulumi.Resource[];
}

export class CloudRunMonitoring extends pulumi.ComponentResource {
  constructor(name: string, args: CloudRunMonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gpt2:gcp:CloudRunMonitoring', name, {}, opts);
    const { spec } = args;
    const channels: pulumi.Output<string>[] = [];
    if (spec.alarmEmail !== undefined) {
      const channel = new gcp.monitoring.NotificationChannel(
        `${name}-alarm-email`,
        { project: args.project, displayName: `${spec.name} alarms`, type: 'email', labels: { email_address: spec.alarmEmail } },
        { parent: this, dependsOn: args.dependsOn },
      );
      channels.push(channel.name);
    }
    for (const { key, policy } of alertPolicies(spec)) {
      new gcp.monitoring.AlertPolicy(
        `${name}-${key}`,
        { ...policy, project: args.project, notificationChannels: channels },
        { parent: this, dependsOn: args.dependsOn },
      );
    }
    new gcp.monitoring.Dashboard(`${name}-dashboard`, { project: args.project, dashboardJson: dashboardJson(spec) }, { parent: this, dependsOn: args.dependsOn });
    this.registerOutputs({});
  }
}
