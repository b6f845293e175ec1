// Before `pulumi up` on Azure: the resource providers the spec's stack needs must be registered in the
// subscription (a fresh one refuses the first resource of each namespace with MissingSubscriptionRegistration,
// and the azure-native provider does not register them). Checked with `az provider show`, registered on consent.
import { missingResourceProviders, requiredResourceProviders } from '../../infra/azure/resource-providers';
import type { DeploymentSpec } from '../../infra/spec';
import { PrerequisiteError, StepError } from './errors';
import { formatCommand, lastLine, type Command, type CommandRunner, type Output } from './runner';
import { LOGIN_HINTS } from './tools';

export interface ProviderCheck {
  readonly required: readonly string[];
  readonly missing: readonly string[];
  /** `az provider register --namespace X --wait`, one per missing namespace. */
  readonly commands: readonly string[];
}

const showCommand = (namespace: string): Command => ({ tool: 'az', args: ['provider', 'show', '-n', namespace, '-o', 'json'] });
const registerCommand = (namespace: string): Command => ({ tool: 'az', args: ['provider', 'register', '--namespace', namespace, '--wait'] });

/** One `az provider show` per namespace the spec needs; throws PrerequisiteError when az cannot answer (not logged in). */
export async function checkResourceProviders(spec: DeploymentSpec, runner: CommandRunner): Promise<ProviderCheck> {
  const required = requiredResourceProviders(spec);
  const shown: unknown[] = [];
  for (const namespace of required) {
    const result = await runner(showCommand(namespace), { quiet: true });
    if (result.code !== 0) {
      const said = lastLine(result.stderr);
      throw new PrerequisiteError(`\`${formatCommand(showCommand(namespace))}\` failed (${said}): ${LOGIN_HINTS.az}`);
    }
    try {
      shown.push(JSON.parse(result.stdout));
    } catch {
      throw new PrerequisiteError(`\`${formatCommand(showCommand(namespace))}\` did not print JSON: ${result.stdout.slice(0, 200)}`);
    }
  }
  const { missing } = missingResourceProviders(required, shown);
  return { required, missing, commands: missing.map((namespace) => formatCommand(registerCommand(namespace))) };
}

export interface RegistrationConsent {
  /** --yes: register without asking. */
  readonly yes: boolean;
  readonly confirm: (question: string) => Promise<boolean>;
}

/**
 * Registers what `check` found missing when allowed to (--yes, or a yes at the prompt); otherwise fails before
 * anything is deployed, with the exact commands to run.
 */
export async function registerMissingProviders(check: ProviderCheck, consent: RegistrationConsent, runner: CommandRunner, output: Output): Promise<void> {
  if (check.missing.length === 0) return;
  const list = check.commands.map((command) => `  ${command}`).join('\n');
  const agreed =
    consent.yes ||
    (await consent.confirm(`The subscription has not registered ${check.missing.join(', ')}, which this stack needs. Register them now?\n${list}\n[y/N] `));
  if (!agreed) {
    throw new PrerequisiteError(
      `the subscription has not registered the resource providers ${check.missing.join(', ')} (pulumi up would fail with ` +
        `MissingSubscriptionRegistration): register them once, then deploy again:\n${list}\n(or pass --yes to let the deploy command register them)`,
    );
  }
  for (const namespace of check.missing) {
    const command = registerCommand(namespace);
    output(`==> register the resource provider ${namespace} (once per subscription; --wait returns when it is usable)`);
    output(`$ ${formatCommand(command)}`);
    const result = await runner(command);
    if (result.code !== 0) {
      throw new StepError(`\`${formatCommand(command)}\` failed with exit code ${result.code}: registering needs the subscription's Contributor or Owner role`);
    }
  }
}
