// Google Cloud Managed Service for Prometheus's Cloud Run sidecar, scraping the service's METRICS_PORT inside
// the instance (no ingress reaches that port) and writing vllm:num_requests_waiting and the rest to Cloud
// Monitoring, where alert policies query them with PromQL. Its RunMonitoring config is a Secret Manager
// secret mounted at /etc/rungmp/config.yaml, the one path the sidecar reads.
import * as pulumi from '@pulumi/pulumi';
import * as gcp from '@pulumi/gcp';
import { METRICS_PORT } from '../pulumi/workload';

/** The collector image Google publishes for Cloud Run (GoogleCloudPlatform/run-gmp-sidecar), pinned. */
export const PROMETHEUS_SIDECAR_IMAGE = 'us-docker.pkg.dev/cloud-ops-agents-artifacts/cloud-run-gmp-sidecar/cloud-run-gmp-sidecar:1.2.0';
export const PROMETHEUS_SIDECAR_CONFIG_DIRECTORY = '/etc/rungmp';
export const SCRAPE_INTERVAL = '30s';

/** The RunMonitoring document: scrape the service's metrics listener; label series with service and revision. */
export function runMonitoringConfig(): string {
  return [
    'apiVersion: monitoring.googleapis.com/v1beta',
    'kind: RunMonitoring',
    'metadata:',
    '  name: gpt2-openai-toolkit',
    'spec:',
    '  endpoints:',
    `    - port: "${METRICS_PORT}"`,
    '      path: /metrics',
    `      interval: ${SCRAPE_INTERVAL}`,
    '  targetLabels:',
    '    metadata: [service, revision, instance]',
    '',
  ].join('\n');
}

export interface PrometheusSidecarArgs {
  readonly name: string;
  readonly project: string;
  /** The runtime service account (`serviceAccount:EMAIL`): it reads the config and writes the metrics. */
  readonly readerMember: pulumi.Input<string>;
  /** The container the sidecar starts after. */
  readonly scrapedContainer: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The Secret Manager API. */
  readonly dependsOn: pulumi.Resource[];
}

export class PrometheusSidecar extends pulumi.ComponentResource {
  readonly container: gcp.types.input.cloudrunv2.ServiceTemplateContainer;
  readonly volume: gcp.types.input.cloudrunv2.ServiceTemplateVolume;
  /** The config's version and the grant to read it. */
  readonly ready: pulumi.Resource[];

  constructor(name: string, args: PrometheusSidecarArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gpt2:gcp:PrometheusSidecar', name, {}, opts);
    const secret = new gcp.secretmanager.Secret(
      `${name}-gmp-config`,
      { project: args.project, secretId: `${args.name}-gmp-config`, replication: { auto: {} }, labels: { ...args.labels } },
      { parent: this, dependsOn: args.dependsOn },
    );
    const version = new gcp.secretmanager.SecretVersion(`${name}-gmp-config-v`, { secret: secret.id, secretData: runMonitoringConfig() }, { parent: this });
    const grant = new gcp.secretmanager.SecretIamMember(
      `${name}-gmp-config-reader`,
      { project: args.project, secretId: secret.secretId, role: 'roles/secretmanager.secretAccessor', member: args.readerMember },
      { parent: this },
    );
    this.ready = [version, grant];
    this.volume = { name: 'gmp-config', secret: { secret: secret.secretId, items: [{ version: 'latest', path: 'config.yaml' }] } };
    this.container = {
      name: 'metrics-collector',
      image: PROMETHEUS_SIDECAR_IMAGE,
      // Scrapes start once the server's startup probe passes.
      dependsOns: [args.scrapedContainer],
      // CPU stays allocated between requests, as on the GPU server it sits beside, so scrapes keep their schedule.
      resources: { limits: { cpu: '1', memory: '512Mi' }, cpuIdle: false },
      volumeMounts: [{ name: 'gmp-config', mountPath: PROMETHEUS_SIDECAR_CONFIG_DIRECTORY }],
    };
    this.registerOutputs({});
  }
}
