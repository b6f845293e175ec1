// A portal dashboard and metric alerts for one Container App, from the platform metrics Azure Monitor collects
// for Microsoft.App/containerApps. GPU utilization is one of them (GpuUtilizationPercentage); GPU memory and
// the service's queue depth (vllm:num_requests_waiting) are not, and Container Apps has no managed path for
// a replica's Prometheus metrics into Azure Monitor (its managed OpenTelemetry agent sends no metrics to
// Application Insights), so saturation is alerted on from what the platform sees: GPU utilization pinned
// high and the replica count pinned at its ceiling, the two signs that requests queue.
import * as pulumi from '@pulumi/pulumi';
import * as monitor from '@pulumi/azure-native/monitor';
import * as portal from '@pulumi/azure-native/portal';
import type { DeploymentSpec } from '../spec';

export const CONTAINER_APP_METRICS_NAMESPACE = 'Microsoft.App/containerApps';

/** An alert on one Microsoft.App/containerApps metric: above `threshold` for the whole window. */
export interface ContainerAppAlertRule {
  readonly name: string;
  readonly description: string;
  readonly metricName: string;
  readonly timeAggregation: 'Average' | 'Maximum' | 'Minimum' | 'Total';
  readonly operator: 'GreaterThan' | 'GreaterThanOrEqual';
  readonly threshold: number;
  readonly dimensions?: readonly { readonly name: string; readonly values: readonly string[] }[];
  readonly severity: 0 | 1 | 2 | 3 | 4;
}

/** GPU busy this much of the time, for 15 minutes: the batch is full and new requests wait. */
export const GPU_SATURATED_PERCENT = 90;

export function containerAppAlertRules(spec: DeploymentSpec): ContainerAppAlertRule[] {
  const rules: ContainerAppAlertRule[] = [
    {
      name: 'server-errors',
      description: 'The app answered 5xx (Requests with statusCodeCategory 5xx) more than 10 times in 15 minutes.',
      metricName: 'Requests',
      timeAggregation: 'Total',
      operator: 'GreaterThan',
      threshold: 10,
      dimensions: [{ name: 'statusCodeCategory', values: ['5xx'] }],
      severity: 2,
    },
    {
      name: 'at-max-replicas',
      description: `The app ran at its ceiling of ${spec.scaling.maxReplicas} replicas for 15 minutes: it cannot scale further and requests queue. Raise scaling.maxReplicas (and the GPU quota).`,
      metricName: 'Replicas',
      timeAggregation: 'Minimum',
      operator: 'GreaterThanOrEqual',
      threshold: spec.scaling.maxReplicas,
      severity: 2,
    },
    {
      name: 'memory-high',
      description: 'A replica used more than 90% of its memory limit for 15 minutes (MemoryPercentage); it is close to being OOM-killed.',
      metricName: 'MemoryPercentage',
      timeAggregation: 'Average',
      operator: 'GreaterThan',
      threshold: 90,
      severity: 2,
    },
  ];
  if (spec.variant === 'inference') {
    rules.push({
      name: 'gpu-saturated',
      description: `The GPU was busy more than ${GPU_SATURATED_PERCENT}% of the time for 15 minutes (GpuUtilizationPercentage): replicas run full batches and requests wait.`,
      metricName: 'GpuUtilizationPercentage',
      timeAggregation: 'Average',
      operator: 'GreaterThan',
      threshold: GPU_SATURATED_PERCENT,
      severity: 2,
    });
  }
  return rules;
}

/** The dashboard's charts: metric name, aggregation (Azure portal codes: 1 sum, 2 min, 3 max, 4 average) and title. */
export function containerAppCharts(spec: DeploymentSpec): { metric: string; aggregation: 1 | 2 | 3 | 4; title: string }[] {
  return [
    ...(spec.variant === 'inference' ? [{ metric: 'GpuUtilizationPercentage', aggregation: 4 as const, title: 'GPU utilization %' }] : []),
    { metric: 'Requests', aggregation: 1, title: 'Requests' },
    { metric: 'Replicas', aggregation: 3, title: 'Replicas' },
    { metric: 'ResponseTime', aggregation: 4, title: 'Response time (ms)' },
    { metric: 'MemoryPercentage', aggregation: 3, title: 'Memory % of limit' },
    { metric: 'CpuPercentage', aggregation: 3, title: 'CPU % of limit' },
  ];
}

export interface ContainerAppMonitoringArgs {
  readonly spec: DeploymentSpec;
  readonly resourceGroupName: pulumi.Input<string>;
  readonly appId: pulumi.Input<string>;
  readonly tags: Readonly<Record<string, string>>;
}

export class ContainerAppMonitoring extends pulumi.ComponentResource {
  constructor(name: string, args: ContainerAppMonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gpt2:azure:ContainerAppMonitoring', name, {}, opts);
    const { spec } = args;
    const tags = { ...args.tags };
    const actions: monitor.MetricAlertArgs['actions'] = [];
    if (spec.alarmEmail !== undefined) {
      const group = new monitor.ActionGroup(
        `${name}-alarms`,
        {
          resourceGroupName: args.resourceGroupName,
          actionGroupName: `${spec.name}-alarms`,
          location: 'Global',
          // At most 12 characters; shown in the alert mail and SMS.
          groupShortName: spec.name.slice(0, 12),
          enabled: true,
          emailReceivers: [{ name: 'alarm-email', emailAddress: spec.alarmEmail, useCommonAlertSchema: true }],
          tags,
        },
        { parent: this },
      );
      actions.push({ actionGroupId: group.id });
    }
    for (const rule of containerAppAlertRules(spec)) {
      new monitor.MetricAlert(
        `${name}-${rule.name}`,
        {
          resourceGroupName: args.resourceGroupName,
          ruleName: `${spec.name}-${rule.name}`,
          location: 'global',
          description: rule.description,
          severity: rule.severity,
          enabled: true,
          scopes: [args.appId],
          evaluationFrequency: 'PT5M',
          windowSize: 'PT15M',
          autoMitigate: true,
          criteria: {
            odataType: 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria',
            allOf: [
              {
                criterionType: 'StaticThresholdCriterion',
                name: rule.name,
                metricName: rule.metricName,
                metricNamespace: CONTAINER_APP_METRICS_NAMESPACE,
                timeAggregation: rule.timeAggregation,
                operator: rule.operator,
                threshold: rule.threshold,
                dimensions: (rule.dimensions ?? []).map((dimension) => ({ name: dimension.name, operator: 'Include', values: [...dimension.values] })),
              },
            ],
          },
          actions,
          tags,
        },
        { parent: this },
      );
    }
    new portal.Dashboard(
      `${name}-dashboard`,
      {
        resourceGroupName: args.resourceGroupName,
        dashboardName: `${spec.name}-dashboard`,
        location: spec.region,
        properties: {
          lenses: [
            {
              order: 0,
              parts: containerAppCharts(spec).map((chart, index) => ({
                position: { x: (index % 2) * 6, y: Math.floor(index / 2) * 4, colSpan: 6, rowSpan: 4 },
                metadata: {
                  type: 'Extension/HubsExtension/PartType/MonitorChartPart',
                  inputs: [
                    {
                      name: 'options',
                      isOptional: true,
                      value: {
                        chart: {
                          title: chart.title,
                          metrics: [
                            {
                              resourceMetadata: { id: args.appId },
                              name: chart.metric,
                              aggregationType: chart.aggregation,
                              namespace: CONTAINER_APP_METRICS_NAMESPACE.toLowerCase(),
                              metricVisualization: { displayName: chart.title },
                            },
                          ],
                          visualization: { chartType: 2 },
                        },
                      },
                    },
                    { name: 'sharedTimeRange', isOptional: true },
                  ],
                },
              })),
            },
          ],
        },
        tags: { ...tags, 'hidden-title': `${spec.name} (${spec.variant})` },
      },
      { parent: this },
    );
    this.registerOutputs({});
  }
}
