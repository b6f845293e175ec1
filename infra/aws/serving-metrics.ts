// The inference service's own CloudWatch metrics (running, waiting and in-flight requests, published as EMF log
// lines by service/ops/emf-metrics.ts): the environment that turns them on and the metrics a stack reads back.
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { IN_FLIGHT_METRIC, PUBLISHED_GAUGES } from '../../service/ops/emf-metrics';

export const SERVING_METRICS_NAMESPACE = 'gpt2-openai-toolkit';

/** The one dimension on every datapoint: the deployment (stack) name, so staging and production stay apart. */
const DIMENSION = 'Deployment';

export type ServingMetricName = (typeof PUBLISHED_GAUGES)[keyof typeof PUBLISHED_GAUGES] | typeof IN_FLIGHT_METRIC;

/** Environment for the container: publish every 10 s, a few datapoints per task in each one-minute period. */
export function servingMetricsEnvironment(deployment: string): Record<string, string> {
  return {
    CLOUDWATCH_EMF_NAMESPACE: SERVING_METRICS_NAMESPACE,
    CLOUDWATCH_EMF_DIMENSIONS: `${DIMENSION}=${deployment}`,
    CLOUDWATCH_EMF_INTERVAL_SECONDS: '10',
  };
}

/**
 * One of the metrics, per minute. Every task writes its own datapoints under the same dimension, so the Average is
 * the mean per task: the number target tracking holds at `scaling.targetConcurrency`.
 */
export function servingMetric(deployment: string, name: ServingMetricName, statistic = 'Average'): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: SERVING_METRICS_NAMESPACE,
    metricName: name,
    dimensionsMap: { [DIMENSION]: deployment },
    statistic,
    period: Duration.minutes(1),
  });
}
