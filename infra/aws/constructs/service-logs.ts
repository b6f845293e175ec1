// The CloudWatch log group a service's containers write to, with a retention so logs do not pile up forever.
import { RemovalPolicy } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface ServiceLogsProps {
  /**
   * How long container logs are kept.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly retention?: logs.RetentionDays;
  /**
   * What happens to the log group when the stack is deleted.
   * @default RemovalPolicy.DESTROY - logs of a deleted service are not worth a monthly bill
   */
  readonly removalPolicy?: RemovalPolicy;
}

export class ServiceLogs extends Construct {
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: ServiceLogsProps = {}) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.retention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.DESTROY,
    });
  }

  /** The awslogs driver for a container writing to this group under `streamPrefix`. */
  logDriver(streamPrefix: string): ecs.LogDriver {
    return ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix });
  }
}
