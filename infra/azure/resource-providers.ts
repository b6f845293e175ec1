// The Azure resource providers a spec's stack uses, and which of them a subscription still has to register.
// A fresh subscription refuses the first resource of an unregistered namespace with MissingSubscriptionRegistration,
// and the azure-native provider does not register them itself; `npm run deploy` checks first with this.
import { z } from 'zod';
import type { DeploymentSpec } from '../spec';
import { sharesProxyState } from '../pulumi/workload';

/** Namespaces every stack uses: Container Apps, logs, registry, identity, Key Vault, alerts and the dashboard. */
export const BASE_RESOURCE_PROVIDERS = [
  'Microsoft.App',
  'Microsoft.OperationalInsights',
  'Microsoft.ContainerRegistry',
  'Microsoft.ManagedIdentity',
  'Microsoft.KeyVault',
  'Microsoft.Insights',
  'Microsoft.Portal',
] as const;

/** Azure Managed Redis and its private network path. */
export const REDIS_RESOURCE_PROVIDERS = ['Microsoft.Cache', 'Microsoft.Network'] as const;

export function requiredResourceProviders(spec: DeploymentSpec): string[] {
  return [...BASE_RESOURCE_PROVIDERS, ...(sharesProxyState(spec) ? REDIS_RESOURCE_PROVIDERS : [])];
}

/** The fields of `az provider show --namespace X --output json` (one object) or `az provider list` (an array) this reads. */
const providersSchema = z.array(z.object({ namespace: z.string().min(1), registrationState: z.string().min(1) }).loose());

export interface ProviderRegistrationCheck {
  /** Required namespaces that are not Registered (Registering counts as missing: resources still fail until it ends). */
  readonly missing: string[];
  /** One `az provider register` per missing namespace; `--wait` returns once it is usable. */
  readonly commands: string[];
}

/**
 * Compares `az provider show` output (a JSON value: one provider, or an array of them) with `required`.
 * A required namespace absent from the output counts as missing. Namespaces compare case-insensitively, as ARM does.
 */
export function missingResourceProviders(required: readonly string[], azProviderShowOutput: unknown): ProviderRegistrationCheck {
  const parsed = providersSchema.safeParse(Array.isArray(azProviderShowOutput) ? azProviderShowOutput : [azProviderShowOutput]);
  if (!parsed.success) {
    throw new Error(
      'expected the JSON of `az provider show --namespace NAME --output json` (or an array of them, or `az provider list`): ' +
        parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; '),
    );
  }
  const registered = new Set(
    parsed.data.filter((provider) => provider.registrationState === 'Registered').map((provider) => provider.namespace.toLowerCase()),
  );
  const missing = required.filter((namespace) => !registered.has(namespace.toLowerCase()));
  return { missing, commands: missing.map((namespace) => `az provider register --namespace ${namespace} --wait`) };
}
