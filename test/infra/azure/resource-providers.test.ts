import { missingResourceProviders, requiredResourceProviders } from '../../../infra/azure/resource-providers';
import { parseDeploymentSpec } from '../../../infra/spec';

/** `az provider show --namespace NAME --output json`, trimmed to the fields that matter and one the CLI adds. */
function show(namespace: string, registrationState: string) {
  return { id: `/subscriptions/s/providers/${namespace}`, namespace, registrationPolicy: 'RegistrationRequired', registrationState, resourceTypes: [] };
}

const inference = parseDeploymentSpec({ name: 'rp-inf', target: 'azure' });
const sharedProxy = parseDeploymentSpec({ name: 'rp-proxy', target: 'azure', variant: 'proxy', scaling: { maxReplicas: 4 } });

describe('requiredResourceProviders', () => {
  it('lists the namespaces every stack uses', () => {
    expect(requiredResourceProviders(inference)).toEqual([
      'Microsoft.App',
      'Microsoft.OperationalInsights',
      'Microsoft.ContainerRegistry',
      'Microsoft.ManagedIdentity',
      'Microsoft.KeyVault',
      'Microsoft.Insights',
      'Microsoft.Portal',
    ]);
  });

  it('adds Redis and networking when the proxy shares state', () => {
    expect(requiredResourceProviders(sharedProxy)).toEqual(expect.arrayContaining(['Microsoft.Cache', 'Microsoft.Network']));
    expect(requiredResourceProviders(inference)).not.toContain('Microsoft.Cache');
  });
});

describe('missingResourceProviders', () => {
  const required = requiredResourceProviders(inference);

  it('names the unregistered namespaces and the exact command that registers each', () => {
    const output = required.map((namespace) =>
      show(namespace, namespace === 'Microsoft.App' ? 'NotRegistered' : namespace === 'Microsoft.KeyVault' ? 'Registering' : 'Registered'),
    );
    expect(missingResourceProviders(required, output)).toEqual({
      missing: ['Microsoft.App', 'Microsoft.KeyVault'],
      commands: ['az provider register --namespace Microsoft.App --wait', 'az provider register --namespace Microsoft.KeyVault --wait'],
    });
  });

  it('reports nothing for a subscription with everything registered', () => {
    expect(missingResourceProviders(required, required.map((namespace) => show(namespace, 'Registered')))).toEqual({ missing: [], commands: [] });
  });

  it('counts a namespace missing from the output as unregistered', () => {
    const output = required.filter((namespace) => namespace !== 'Microsoft.Portal').map((namespace) => show(namespace, 'Registered'));
    expect(missingResourceProviders(required, output).missing).toEqual(['Microsoft.Portal']);
  });

  it('reads a single `az provider show` object and compares namespaces without case, as ARM does', () => {
    expect(missingResourceProviders(['Microsoft.App'], show('microsoft.app', 'Registered')).missing).toEqual([]);
    expect(missingResourceProviders(['Microsoft.App', 'Microsoft.Cache'], show('Microsoft.App', 'Registered')).missing).toEqual(['Microsoft.Cache']);
  });

  it('refuses output that is not provider JSON, saying what it expected', () => {
    expect(() => missingResourceProviders(required, 'Microsoft.App Registered')).toThrow(/az provider show --namespace NAME --output json/);
    expect(() => missingResourceProviders(required, [{ namespace: 'Microsoft.App' }])).toThrow(/registrationState/);
  });
});
