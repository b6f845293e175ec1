// The proxy's shared state (limits and budgets every replica enforces together): ElastiCache Serverless for Valkey
// in the VPC's isolated subnets, TLS always on, a password user of its own, reachable only from its clients' security
// group, and the connection string (REDIS_URL, rediss:// with the credentials) assembled in a secret for the tasks.
import { SecretValue } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

/** Serverless caches listen on 6379 (reads and writes) and 6380 (reads from replicas), TLS only. */
export const CACHE_PORTS = ec2.Port.tcpRange(6379, 6380);

/** The user the proxy connects as. */
export const CACHE_USER = 'proxy';

export interface SharedStateCacheProps {
  readonly vpc: ec2.IVpc;
  /** Subnets in two or more availability zones; nothing but the cache needs to live there. */
  readonly subnets: ec2.SubnetSelection;
  /** Unique in the account and region (the stack name): names the cache, its users and its user group. */
  readonly name: string;
  /**
   * Upper bounds that cap the bill: limits state is small, so a runaway client cannot grow it into a large one.
   * @default { dataStorageGb: 1, ecpuPerSecond: 5000 }
   */
  readonly usageLimits?: { readonly dataStorageGb: number; readonly ecpuPerSecond: number };
}

/** `name` as an ElastiCache identifier: letters, digits and single hyphens, starting with a letter, at most `length`. */
function identifier(name: string, length: number): string {
  return name.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/-+/g, '-').slice(0, length).replace(/-+$/, '');
}

export class SharedStateCache extends Construct {
  readonly cache: elasticache.CfnServerlessCache;
  readonly securityGroup: ec2.SecurityGroup;
  /** The proxy user's generated password. */
  readonly passwordSecret: secretsmanager.Secret;
  /** The password of the disabled `default` user every user group must hold. */
  readonly defaultUserPasswordSecret: secretsmanager.Secret;
  /** REDIS_URL: `rediss://proxy:PASSWORD@ENDPOINT:6379`, for the tasks as an ECS secret. */
  readonly urlSecret: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: SharedStateCacheProps) {
    super(scope, id);
    // Room for the longest suffix below within ElastiCache's 40-character identifiers.
    const base = identifier(props.name, 32);
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'Shared-state cache: Valkey over TLS from the proxy tasks only',
      allowAllOutbound: false,
    });

    // Passwords without punctuation: they go into a URL unescaped, and ElastiCache refuses some punctuation.
    const password = (description: string, secretId: string) =>
      new secretsmanager.Secret(this, secretId, { description, generateSecretString: { passwordLength: 64, excludePunctuation: true } });
    this.passwordSecret = password(`${props.name}: password of the "${CACHE_USER}" user of the shared-state cache`, 'Password');
    this.defaultUserPasswordSecret = password(`${props.name}: password of the disabled "default" user of the shared-state cache`, 'DefaultUserPassword');

    // A Valkey user group must hold a user named "default" and only users with passwords; this one can do nothing.
    const defaultUser = new elasticache.CfnUser(this, 'DefaultUser', {
      engine: 'valkey',
      userId: `${base}-default`,
      userName: 'default',
      accessString: 'off -@all',
      passwords: [this.defaultUserPasswordSecret.secretValue.unsafeUnwrap()],
    });
    // All commands on all keys and channels: the cache holds only this proxy's limits and serves only its tasks.
    const proxyUser = new elasticache.CfnUser(this, 'ProxyUser', {
      engine: 'valkey',
      userId: `${base}-proxy`,
      userName: CACHE_USER,
      accessString: 'on ~* &* +@all',
      passwords: [this.passwordSecret.secretValue.unsafeUnwrap()],
    });
    const userGroup = new elasticache.CfnUserGroup(this, 'UserGroup', {
      engine: 'valkey',
      userGroupId: `${base}-users`,
      userIds: [defaultUser.userId, proxyUser.userId],
    });
    userGroup.node.addDependency(defaultUser, proxyUser);

    const limits = props.usageLimits ?? { dataStorageGb: 1, ecpuPerSecond: 5000 };
    this.cache = new elasticache.CfnServerlessCache(this, 'Cache', {
      serverlessCacheName: base,
      description: `${props.name}: proxy limits and budgets shared by every replica`,
      engine: 'valkey',
      majorEngineVersion: '8',
      subnetIds: props.vpc.selectSubnets(props.subnets).subnetIds,
      securityGroupIds: [this.securityGroup.securityGroupId],
      userGroupId: userGroup.userGroupId,
      cacheUsageLimits: {
        dataStorage: { maximum: limits.dataStorageGb, unit: 'GB' },
        ecpuPerSecond: { maximum: limits.ecpuPerSecond },
      },
    });
    this.cache.node.addDependency(userGroup);

    // CloudFormation resolves the password's dynamic reference when it creates this secret; the template holds only
    // the reference. A rotated password would need this secret updated too (a stack update) and a new deployment.
    this.urlSecret = new secretsmanager.Secret(this, 'Url', {
      description: `${props.name}: REDIS_URL of the shared-state cache (rediss://${CACHE_USER}:PASSWORD@ENDPOINT:PORT)`,
      secretStringValue: SecretValue.unsafePlainText(
        `rediss://${CACHE_USER}:${this.passwordSecret.secretValue.unsafeUnwrap()}@${this.cache.attrEndpointAddress}:${this.cache.attrEndpointPort}`,
      ),
    });
  }

  /** Lets `clients` (the proxy service) reach the cache, and nothing else. */
  allowFrom(clients: ec2.IConnectable, description: string): void {
    this.securityGroup.connections.allowFrom(clients, CACHE_PORTS, description);
  }
}
