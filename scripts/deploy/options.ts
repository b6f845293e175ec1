// Command-line options of `npm run deploy`, parsed once into a typed, validated DeployOptions.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { TARGETS } from '../../infra/spec';

export const ENVIRONMENTS = ['staging', 'production'] as const;
export type Environment = (typeof ENVIRONMENTS)[number];
import { UsageError } from './errors';

export const USAGE = `Deploy a deployment spec to its target, then smoke-test the endpoint.

Usage: npm run deploy -- --target local|aws|azure|gcp --spec FILE [options]

  --target T          local (compose.yaml), aws (CDK), azure or gcp (Pulumi); must equal the spec's "target"
  --spec FILE         deployment spec, e.g. deploy/aws-inference.json
  --dry-run           validate the spec, print the commands, where the API key will live, the URL and the
                      hourly cost, and synthesize (aws: cdk synth) or preview (azure/gcp: pulumi preview,
                      when pulumi is installed and logged in); deploys nothing
  --destroy           tear the deployment down instead (cdk destroy, pulumi destroy, compose down)
  --environment ENV   staging or production: a stack of its own per environment, so both can share an
                      account or subscription (aws: stack NAME-ENV, passed to cdk as -c environment=ENV;
                      azure/gcp: default stack FILE-ENV, e.g. azure-inference-staging). Default: none
  --stack NAME        azure/gcp: Pulumi stack (default: the spec file's name, e.g. azure-inference, plus
                      -ENV with --environment); aws: the stack is the spec's "name" (plus -ENV), so NAME
                      must equal it
  --yes               do not ask for confirmation (required without a terminal, e.g. in CI); on azure also
                      register the resource providers the subscription lacks
  --json FILE         also write the result (commands, URL, smoke report) as JSON
  --timeout S         seconds to wait for the endpoint's /ready (default: local 600, aws 900, azure/gcp 600)
  --api-key KEY       bearer key for the smoke test (default: $SMOKE_API_KEY; inference on a cloud: the
                      key read from the stack's API key secret with aws/az/gcloud)
  --smoke-model NAME  model for the smoke test's completion checks (default: the spec's served name;
                      proxy: gpt-3.5-turbo-instruct)
  --smoke-chat-model NAME  model for the chat check (default: --smoke-model; proxy: gpt-4o-mini)
  --registry-only     azure/gcp: create only the stack's registry and identity (pulumi registryOnly), to
                      push a first image into; prints the registry, no smoke test. A stack that already
                      has its registry is left as it is (a registryOnly update would delete its service)
  --image REF         azure/gcp/aws: deploy this image instead of the spec's "image" (CI: the digest
                      npm run image printed)
  --model-revision SHA  with --image: the model commit that image has baked in (npm run image prints it),
                      so the service's MODEL_REVISION loads the baked copy instead of fetching model.revision
  --help              this text

Tools: cdk from PATH or this project's node_modules/.bin (npm run puts it first), pulumi, docker (or
docker-compose), and aws, az or gcloud (the API key; az also checks resource providers) from PATH. Exit status: 0 deployed and smoke test passed (or dry run fine),
1 a step or the smoke test failed, 2 wrong options or invalid spec, 3 a tool missing or not logged in.`;

const positiveSeconds = z.coerce
  .number({ error: '--timeout must be a number of seconds' })
  .positive('--timeout must be more than 0 seconds');

const optionsSchema = z.object({
  target: z.enum(TARGETS, { error: `--target must be one of ${TARGETS.join(', ')}` }),
  specPath: z.string().min(1, '--spec must name a file'),
  dryRun: z.boolean(),
  destroy: z.boolean(),
  environment: z.enum(ENVIRONMENTS, { error: `--environment must be one of ${ENVIRONMENTS.join(', ')}` }).optional(),
  stack: z
    .string()
    .regex(/^[A-Za-z0-9_.\-/]+$/, '--stack may hold only letters, digits, hyphens, underscores, periods and one org/ prefix')
    .optional(),
  yes: z.boolean(),
  jsonFile: z.string().min(1).optional(),
  timeoutSeconds: positiveSeconds.optional(),
  apiKey: z.string().min(1).optional(),
  smokeModel: z.string().min(1).optional(),
  smokeChatModel: z.string().min(1).optional(),
  registryOnly: z.boolean(),
  image: z.string().min(1).optional(),
  modelRevision: z.string().regex(/^[0-9a-f]{40}$/, '--model-revision must be a 40-digit commit id').optional(),
});
export type DeployOptions = z.infer<typeof optionsSchema>;

export type ParsedCommandLine = { readonly help: true } | { readonly help: false; readonly options: DeployOptions };

/** Throws UsageError naming the option that was wrong. */
export function parseDeployArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ParsedCommandLine {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        target: { type: 'string' },
        spec: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        destroy: { type: 'boolean', default: false },
        environment: { type: 'string' },
        stack: { type: 'string' },
        yes: { type: 'boolean', short: 'y', default: false },
        json: { type: 'string' },
        timeout: { type: 'string' },
        'api-key': { type: 'string' },
        'smoke-model': { type: 'string' },
        'smoke-chat-model': { type: 'string' },
        'registry-only': { type: 'boolean', default: false },
        image: { type: 'string' },
        'model-revision': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message} (see --help)`);
  }
  if (values.help) return { help: true };
  if (values.target === undefined) throw new UsageError(`--target is required: one of ${TARGETS.join(', ')} (see --help)`);
  if (values.spec === undefined) throw new UsageError('--spec is required, e.g. --spec deploy/aws-inference.json (see --help)');
  const parsed = optionsSchema.safeParse({
    target: values.target,
    specPath: values.spec,
    dryRun: values['dry-run'],
    destroy: values.destroy,
    environment: values.environment,
    stack: values.stack,
    yes: values.yes,
    jsonFile: values.json,
    timeoutSeconds: values.timeout,
    apiKey: values['api-key'] ?? (env.SMOKE_API_KEY || undefined),
    smokeModel: values['smoke-model'],
    smokeChatModel: values['smoke-chat-model'],
    registryOnly: values['registry-only'],
    image: values.image,
    modelRevision: values['model-revision'],
  });
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((issue) => issue.message).join('; '));
  const options = parsed.data;
  if (options.destroy && options.registryOnly) throw new UsageError('--destroy and --registry-only do not go together');
  if (options.registryOnly && options.target !== 'azure' && options.target !== 'gcp') {
    throw new UsageError('--registry-only is for the Pulumi targets (azure, gcp): the CDK app builds and pushes its own image');
  }
  if (options.modelRevision !== undefined && options.image === undefined) {
    throw new UsageError('--model-revision goes with --image: it says which model commit that image holds');
  }
  if (options.image !== undefined && options.target === 'local') {
    throw new UsageError('--image is not for the local target: compose.yaml builds the image from the Dockerfile');
  }
  if (options.environment !== undefined && options.target === 'local') {
    throw new UsageError('--environment is not for the local target: compose.yaml is the one local deployment');
  }
  if (options.stack !== undefined && options.target === 'local') {
    throw new UsageError('--stack is not for the local target: compose.yaml is the one local deployment');
  }
  return { help: false, options };
}
