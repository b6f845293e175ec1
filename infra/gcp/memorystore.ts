// The proxy's shared state on GCP: a Memorystore for Redis instance on a private IP in the stack's own VPC,
// reached by the Cloud Run service through Direct VPC egress (no connector to run and pay for), with AUTH and
// in-transit encryption (SERVER_AUTHENTICATION). REDIS_URL carries the AUTH string; the instance's CA, which
// the service must trust, is delivered as a file that NODE_EXTRA_CA_CERTS points at.
import * as pulumi from '@pulumi/pulumi';
import * as gcp from '@pulumi/gcp';

/** The address plan of the stack's VPC. */
export const REDIS_NETWORK = {
  /** Cloud Run instances take their egress IPs from here: Direct VPC egress wants /26 or larger. */
  runSubnet: { name: 'run', cidr: '10.43.0.0/24' },
} as const;

export interface MemorystoreArgs {
  readonly name: string;
  readonly project: string;
  readonly region: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The Compute and Redis APIs. */
  readonly dependsOn: pulumi.Resource[];
}

/** `rediss://:AUTH@HOST:PORT`; the AUTH string is percent-encoded, as a URL's password must be. */
export function memorystoreUrl(authString: string, host: string, port: number): string {
  return `rediss://:${encodeURIComponent(authString)}@${host}:${port}`;
}

export class Memorystore extends pulumi.ComponentResource {
  /** The network and subnetwork Cloud Run's Direct VPC egress attaches to. */
  readonly networkName: pulumi.Output<string>;
  readonly subnetworkName: pulumi.Output<string>;
  /** REDIS_URL, a secret. */
  readonly url: pulumi.Output<string>;
  /** The PEM of every CA the instance's server certificates chain to (two while a new CA rolls out). */
  readonly caCertificates: pulumi.Output<string>;
  readonly ready: pulumi.Resource[];

  constructor(name: string, args: MemorystoreArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gpt2:gcp:Memorystore', name, {}, opts);
    const labels = { ...args.labels };
    // Cloud Run holds a Direct VPC egress subnet's addresses for 1-2 hours after the service is gone, and the
    // subnet cannot be deleted until then. So `pulumi destroy` leaves the network and subnet (they cost
    // nothing) instead of failing, and both are auto-named so a new stack of the same name never collides.
    const network = new gcp.compute.Network(
      `${name}-vpc`,
      { project: args.project, autoCreateSubnetworks: false },
      { parent: this, dependsOn: args.dependsOn, retainOnDelete: true },
    );
    const subnet = new gcp.compute.Subnetwork(
      `${name}-${REDIS_NETWORK.runSubnet.name}`,
      {
        project: args.project,
        region: args.region,
        network: network.id,
        ipCidrRange: REDIS_NETWORK.runSubnet.cidr,
        privateIpGoogleAccess: true,
      },
      { parent: this, retainOnDelete: true },
    );
    this.networkName = network.name;
    this.subnetworkName = subnet.name;

    const instance = new gcp.redis.Instance(
      `${name}-redis`,
      {
        project: args.project,
        region: args.region,
        name: `${args.name}-redis`,
        // A replica in another zone with automatic failover: budgets survive a node failure.
        tier: 'STANDARD_HA',
        memorySizeGb: 1,
        redisVersion: 'REDIS_7_2',
        // Peered into the stack's VPC: reachable on a private IP only, from that network.
        authorizedNetwork: network.id,
        connectMode: 'DIRECT_PEERING',
        authEnabled: true,
        transitEncryptionMode: 'SERVER_AUTHENTICATION',
        labels,
      },
      { parent: this, dependsOn: args.dependsOn },
    );
    this.url = pulumi.secret(
      pulumi.all([instance.authString, instance.host, instance.port]).apply(([auth, host, port]) => memorystoreUrl(auth, host, port)),
    );
    this.caCertificates = instance.serverCaCerts.apply((certs) => certs.map((cert) => cert.cert.trim()).join('\n') + '\n');
    this.ready = [instance, subnet];
    this.registerOutputs({ networkName: this.networkName, subnetworkName: this.subnetworkName });
  }
}
