// The GCP pieces an endpoint stands on: the APIs it uses, an Artifact Registry repository, and a
// least-privilege service account the service runs as.
import * as pulumi from '@pulumi/pulumi';
import * as gcp from '@pulumi/gcp';

export interface GcpFoundationArgs {
  /** Prefix of every resource name (the spec's name). */
  readonly name: string;
  readonly project: string;
  readonly region: string;
  readonly labels: Readonly<Record<string, string>>;
  /** APIs to enable beyond Cloud Run, Artifact Registry and IAM (Secret Manager, Monitoring, Redis, ...). @default none */
  readonly extraApis?: readonly string[];
}

/** Project roles the runtime service account holds: write its own logs and metrics, nothing else. */
export const RUNTIME_PROJECT_ROLES = ['roles/logging.logWriter', 'roles/monitoring.metricWriter'] as const;

export class GcpFoundation extends pulumi.ComponentResource {
  readonly repositoryUrl: pulumi.Output<string>;
  readonly serviceAccountEmail: pulumi.Output<string>;
  /** `serviceAccount:EMAIL`, the IAM member string. */
  readonly serviceAccountMember: pulumi.Output<string>;
  /** What the service must wait for: enabled APIs and the runtime grants. */
  readonly ready: pulumi.Resource[] = [];

  constructor(name: string, args: GcpFoundationArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gpt2:gcp:Foundation', name, {}, opts);
    const apis = ['run.googleapis.com', 'artifactregistry.googleapis.com', 'iam.googleapis.com', ...(args.extraApis ?? [])];
    for (const api of apis) {
      this.ready.push(
        new gcp.projects.Service(
          `${name}-${api.split('.')[0]}`,
          // Other stacks in the project may use the API: leave it on when this one is destroyed.
          { project: args.project, service: api, disableOnDestroy: false },
          { parent: this },
        ),
      );
    }

    const repository = new gcp.artifactregistry.Repository(
      `${name}-repo`,
      {
        project: args.project,
        location: args.region,
        repositoryId: args.name,
        format: 'DOCKER',
        description: `Images for ${args.name} (pushed by CI)`,
        labels: { ...args.labels },
      },
      { parent: this, dependsOn: this.ready },
    );
    this.repositoryUrl = pulumi.interpolate`${args.region}-docker.pkg.dev/${args.project}/${repository.repositoryId}`;

    const account = new gcp.serviceaccount.Account(
      `${name}-sa`,
      { project: args.project, accountId: `${args.name.slice(0, 25).replace(/-+$/, '')}-run`, displayName: `${args.name} Cloud Run runtime` },
      { parent: this, dependsOn: this.ready },
    );
    this.serviceAccountEmail = account.email;
    this.serviceAccountMember = pulumi.interpolate`serviceAccount:${account.email}`;

    this.ready.push(
      new gcp.artifactregistry.RepositoryIamMember(
        `${name}-repo-reader`,
        {
          project: args.project,
          location: args.region,
          repository: repository.repositoryId,
          role: 'roles/artifactregistry.reader',
          member: this.serviceAccountMember,
        },
        { parent: this },
      ),
    );
    for (const role of RUNTIME_PROJECT_ROLES) {
      this.ready.push(
        new gcp.projects.IAMMember(
          `${name}-${role.split('/')[1]}`,
          { project: args.project, role, member: this.serviceAccountMember },
          { parent: this },
        ),
      );
    }
    this.registerOutputs({ repositoryUrl: this.repositoryUrl, serviceAccountEmail: this.serviceAccountEmail });
  }
}
