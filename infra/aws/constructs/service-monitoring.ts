// Alarms (5xx rate, unhealthy and missing targets, p99 latency, and where given queue depth and GPU memory) to the
// alarm topic, and one dashboard (with requests in flight and GPU utilization and memory where given), for a
// load-balanced ECS service.
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

export interface ServiceMonitoringProps {
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly targetGroup: elbv2.ApplicationTargetGroup;
  readonly service: ecs.BaseService;
  /** Where alarm and OK notifications go. */
  readonly alarmTopic: sns.ITopic;
  /** Dashboard name (unique in the account and region). */
  readonly dashboardName: string;
  /**
   * Alarm when more than this percentage of requests end in a 5xx (from targets or the load balancer).
   * @default 5
   */
  readonly errorRatePercent?: number;
  /**
   * Alarm when the p99 target response time (time to the response headers) exceeds this.
   * @default Duration.seconds(30)
   */
  readonly p99Latency?: Duration;
  /**
   * The service's own per-task request metrics: a dashboard row, and an alarm when requests keep waiting for a
   * batch slot (scaling is at its maximum or cannot get capacity).
   * @default - none
   */
  readonly serving?: {
    readonly running: cloudwatch.IMetric;
    readonly waiting: cloudwatch.IMetric;
    /** Alarm when the average queue per task stays above this for 10 minutes. */
    readonly waitingAlarmThreshold: number;
  };
  /**
   * GPU metrics of the instances: a dashboard row, and an alarm when GPU memory is nearly full.
   * @default - none
   */
  readonly gpu?: {
    readonly utilization: cloudwatch.IMetric;
    readonly memoryUsedPercent: cloudwatch.IMetric;
    /** @default 90 */
    readonly memoryAlarmPercent?: number;
  };
}

export class ServiceMonitoring extends Construct {
  readonly errorRateAlarm: cloudwatch.Alarm;
  readonly unhealthyTargetsAlarm: cloudwatch.Alarm;
  readonly noHealthyTargetsAlarm: cloudwatch.Alarm;
  readonly latencyAlarm: cloudwatch.Alarm;
  readonly queueDepthAlarm?: cloudwatch.Alarm;
  readonly gpuMemoryAlarm?: cloudwatch.Alarm;
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: ServiceMonitoringProps) {
    super(scope, id);
    const period = Duration.minutes(1);
    const lb = props.loadBalancer.metrics;
    const tg = props.targetGroup.metrics;
    const errorRatePercent = props.errorRatePercent ?? 5;
    const p99Latency = props.p99Latency ?? Duration.seconds(30);

    const requests = lb.requestCount({ period });
    const targetErrors = lb.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, { period });
    const lbErrors = lb.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, { period });
    const errorRate = new cloudwatch.MathExpression({
      expression: 'IF(requests > 0, 100 * (FILL(targetErrors, 0) + FILL(lbErrors, 0)) / requests, 0)',
      usingMetrics: { requests, targetErrors, lbErrors },
      label: '5xx rate (%)',
      period,
    });
    const latencyP99 = tg.targetResponseTime({ period, statistic: 'p99' });
    const healthy = tg.healthyHostCount({ period, statistic: 'Minimum' });
    const unhealthy = tg.unhealthyHostCount({ period, statistic: 'Maximum' });

    this.errorRateAlarm = errorRate.createAlarm(this, 'ErrorRate', {
      alarmDescription: `More than ${errorRatePercent}% of requests returned 5xx in 3 of the last 5 minutes`,
      threshold: errorRatePercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.unhealthyTargetsAlarm = unhealthy.createAlarm(this, 'UnhealthyTargets', {
      alarmDescription: 'A target failed its readiness check for 3 of the last 5 minutes',
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.noHealthyTargetsAlarm = healthy.createAlarm(this, 'NoHealthyTargets', {
      alarmDescription: 'No target has been ready for 5 minutes: the endpoint is down',
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 5,
      // No data means no registered target at all, which is the outage this alarm is for.
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    this.latencyAlarm = latencyP99.createAlarm(this, 'LatencyP99', {
      alarmDescription: `p99 target response time above ${p99Latency.toSeconds()} s in 3 of the last 5 minutes`,
      threshold: p99Latency.toSeconds(),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const alarms = [this.errorRateAlarm, this.unhealthyTargetsAlarm, this.noHealthyTargetsAlarm, this.latencyAlarm];
    if (props.serving !== undefined) {
      const queueDepthAlarm = new cloudwatch.Alarm(this, 'QueueDepth', {
        metric: props.serving.waiting,
        alarmDescription:
          `More than ${props.serving.waitingAlarmThreshold} requests per task waited for a batch slot for 10 minutes: ` +
          'the service is at scaling.maxReplicas or cannot get GPU capacity',
        threshold: props.serving.waitingAlarmThreshold,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 10,
        datapointsToAlarm: 10,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      this.queueDepthAlarm = queueDepthAlarm;
      alarms.push(queueDepthAlarm);
    }
    if (props.gpu !== undefined) {
      const percent = props.gpu.memoryAlarmPercent ?? 90;
      const gpuMemoryAlarm = new cloudwatch.Alarm(this, 'GpuMemory', {
        metric: props.gpu.memoryUsedPercent,
        alarmDescription: `GPU memory above ${percent}% on an instance for 5 minutes: close to out-of-memory; lower scaling.targetConcurrency or use a GPU with more memory`,
        threshold: percent,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 5,
        datapointsToAlarm: 5,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      this.gpuMemoryAlarm = gpuMemoryAlarm;
      alarms.push(gpuMemoryAlarm);
    }
    const notify = new actions.SnsAction(props.alarmTopic);
    for (const alarm of alarms) {
      alarm.addAlarmAction(notify);
      alarm.addOkAction(notify);
    }

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { dashboardName: props.dashboardName });
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms, width: 24, height: 3 }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Requests per minute', left: [requests], width: 8 }),
      new cloudwatch.GraphWidget({ title: '5xx rate (%)', left: [errorRate], width: 8 }),
      new cloudwatch.GraphWidget({
        title: 'Target response time (s)',
        left: [
          tg.targetResponseTime({ period, statistic: 'p50' }),
          tg.targetResponseTime({ period, statistic: 'p90' }),
          latencyP99,
        ],
        width: 8,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Targets', left: [healthy, unhealthy], width: 12 }),
      new cloudwatch.GraphWidget({
        title: 'Service CPU and memory (%)',
        left: [props.service.metricCpuUtilization({ period }), props.service.metricMemoryUtilization({ period })],
        width: 12,
      }),
    );
    const servingRow: cloudwatch.IWidget[] = [];
    if (props.serving !== undefined) {
      servingRow.push(
        new cloudwatch.GraphWidget({ title: 'Requests per task: running and waiting', left: [props.serving.running, props.serving.waiting], width: 8 }),
      );
    }
    if (props.gpu !== undefined) {
      servingRow.push(
        new cloudwatch.GraphWidget({ title: 'GPU utilization (%)', left: [props.gpu.utilization], leftYAxis: { min: 0, max: 100 }, width: 8 }),
        new cloudwatch.GraphWidget({ title: 'GPU memory used (%)', left: [props.gpu.memoryUsedPercent], leftYAxis: { min: 0, max: 100 }, width: 8 }),
      );
    }
    if (servingRow.length > 0) this.dashboard.addWidgets(...servingRow);
  }
}
