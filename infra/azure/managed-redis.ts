// The proxy's shared state on Azure: an Azure Managed Redis reachable only through a private endpoint in a
// virtual network that the Container Apps environment is injected into, TLS only, and a REDIS_URL built
// from its access key. Azure Managed Redis rather than Azure Cache for Redis: Microsoft announced the
// retirement of every Azure Cache for Redis tier (Basic/Standard/Premium on 2028-09-30) and points new
// deployments to Azure Managed Redis, its successor.
import * as pulumi from '@pulumi/pulumi';
import * as network from '@pulumi/azure-native/network';
import * as privatedns from '@pulumi/azure-native/privatedns';
import * as redisenterprise from '@pulumi/azure-native/redisenterprise';
import { globalSuffix } from './foundation';

/** The address plan of the stack's virtual network. */
export const REDIS_NETWORK = {
  addressSpace: '10.42.0.0/16',
  /** The Container Apps environment's infrastructure subnet: workload-profiles environments need /27 or more, delegated to Microsoft.App/environments. */
  appsSubnet: { name: 'apps', prefix: '10.42.0.0/23' },
  /** Private endpoints (the Redis one). */
  endpointsSubnet: { name: 'endpoints', prefix: '10.42.2.0/27' },
} as const;

/** Azure Managed Redis serves its databases on port 10000 (TLS when clientProtocol is Encrypted). */
export const MANAGED_REDIS_PORT = 10000;
/** The private DNS zone Azure Managed Redis private endpoints register in (Azure private endpoint DNS zone values). */
export const MANAGED_REDIS_PRIVATE_DNS_ZONE = 'privatelink.redis.azure.net';

export interface ManagedRedisArgs {
  readonly name: string;
  readonly location: string;
  readonly resourceGroupName: pulumi.Input<string>;
  readonly subscriptionId: pulumi.Input<string>;
  readonly tags: Readonly<Record<string, string>>;
}

/** `rediss://:KEY@HOST:PORT`; the access key is base64 and may hold `+`, `/` and `=`, so it is percent-encoded. */
export function managedRedisUrl(accessKey: string, hostName: string): string {
  return `rediss://:${encodeURIComponent(accessKey)}@${hostName}:${MANAGED_REDIS_PORT}`;
}

export class ManagedRedis extends pulumi.ComponentResource {
  /** Where the Container Apps environment's infrastructure lives (vnetConfiguration.infrastructureSubnetId). */
  readonly appsSubnetId: pulumi.Output<string>;
  readonly hostName: pulumi.Output<string>;
  /** REDIS_URL, a secret. */
  readonly url: pulumi.Output<string>;
  /** What the app must wait for: the database and the DNS that points its name at the private endpoint. */
  readonly ready: pulumi.Resource[];

  constructor(name: string, args: ManagedRedisArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gpt2:azure:ManagedRedis', name, {}, opts);
    const tags = { ...args.tags };
    const vnet = new network.VirtualNetwork(
      `${name}-vnet`,
      {
        resourceGroupName: args.resourceGroupName,
        virtualNetworkName: `${args.name}-vnet`,
        location: args.location,
        addressSpace: { addressPrefixes: [REDIS_NETWORK.addressSpace] },
        // Declared inline so an update of the network never drops a subnet the environment sits in.
        subnets: [
          {
            name: REDIS_NETWORK.appsSubnet.name,
            addressPrefix: REDIS_NETWORK.appsSubnet.prefix,
            delegations: [{ name: 'container-apps', serviceName: 'Microsoft.App/environments' }],
          },
          { name: REDIS_NETWORK.endpointsSubnet.name, addressPrefix: REDIS_NETWORK.endpointsSubnet.prefix },
        ],
        tags,
      },
      { parent: this },
    );
    this.appsSubnetId = pulumi.interpolate`${vnet.id}/subnets/${REDIS_NETWORK.appsSubnet.name}`;

    // The host name <cluster>.<region>.redis.azure.net must be unique in the region, hence the suffix.
    const cluster = new redisenterprise.RedisEnterprise(
      `${name}-redis`,
      {
        resourceGroupName: args.resourceGroupName,
        clusterName: pulumi.interpolate`${args.name}-redis-${globalSuffix(args.subscriptionId, args.name, 6)}`,
        location: args.location,
        // The smallest SKU (0.5 GB): limits and budgets are a few keys per client key.
        sku: { name: 'Balanced_B0' },
        // A replica on another node: budgets survive a node failure.
        highAvailability: 'Enabled',
        minimumTlsVersion: '1.2',
        // Only the private endpoint below reaches it.
        publicNetworkAccess: 'Disabled',
        tags,
      },
      { parent: this },
    );
    this.hostName = cluster.hostName;
    const database = new redisenterprise.Database(
      `${name}-redis-db`,
      {
        resourceGroupName: args.resourceGroupName,
        clusterName: cluster.name,
        // Azure Managed Redis has one database, named default.
        databaseName: 'default',
        clientProtocol: 'Encrypted',
        port: MANAGED_REDIS_PORT,
        // One plain Redis endpoint: the proxy's multi-key scripts need no cluster-aware client or hash tags.
        clusteringPolicy: 'NoCluster',
        // A full cache refuses writes rather than silently evicting a key's counters.
        evictionPolicy: 'NoEviction',
        accessKeysAuthentication: 'Enabled',
      },
      { parent: this },
    );

    const endpoint = new network.PrivateEndpoint(
      `${name}-redis-pe`,
      {
        resourceGroupName: args.resourceGroupName,
        privateEndpointName: `${args.name}-redis-pe`,
        location: args.location,
        subnet: { id: pulumi.interpolate`${vnet.id}/subnets/${REDIS_NETWORK.endpointsSubnet.name}` },
        privateLinkServiceConnections: [{ name: 'redis', privateLinkServiceId: cluster.id, groupIds: ['redisEnterprise'] }],
        tags,
      },
      { parent: this, dependsOn: [database] },
    );
    const zone = new privatedns.PrivateZone(
      `${name}-redis-dns`,
      { resourceGroupName: args.resourceGroupName, privateZoneName: MANAGED_REDIS_PRIVATE_DNS_ZONE, location: 'Global', tags },
      { parent: this },
    );
    const link = new privatedns.VirtualNetworkLink(
      `${name}-redis-dns-link`,
      {
        resourceGroupName: args.resourceGroupName,
        privateZoneName: zone.name,
        virtualNetworkLinkName: `${args.name}-vnet`,
        location: 'Global',
        virtualNetwork: { id: vnet.id },
        registrationEnabled: false,
        tags,
      },
      { parent: this },
    );
    const dnsGroup = new network.PrivateDnsZoneGroup(
      `${name}-redis-dns-group`,
      {
        resourceGroupName: args.resourceGroupName,
        privateEndpointName: endpoint.name,
        privateDnsZoneGroupName: 'default',
        privateDnsZoneConfigs: [{ name: 'redis', privateDnsZoneId: zone.id }],
      },
      { parent: this },
    );

    const keys = redisenterprise.listDatabaseKeysOutput(
      { resourceGroupName: args.resourceGroupName, clusterName: cluster.name, databaseName: database.name },
      { parent: this },
    );
    this.url = pulumi.secret(pulumi.all([keys, cluster.hostName]).apply(([k, host]) => managedRedisUrl(k.primaryKey, host)));
    this.ready = [database, link, dnsGroup];
    this.registerOutputs({ hostName: this.hostName, appsSubnetId: this.appsSubnetId });
  }
}
