// `npm run image -- build|promote`: the deploy pipeline's image steps. build makes (or finds) the one image of a
// commit for a spec in a registry and prints it by digest; promote copies that digest into another registry.
// See --help and README "Continuous deployment".
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadDeploymentSpec, SpecError } from '../infra/spec';
import { ModelFetchError } from '../service/models/errors';
import { hubOptionsFromEnv } from '../service/models/hub-client';
import { DeployError, UsageError } from './deploy/errors';
import { createRunner } from './deploy/runner';
import { REPO_ROOT } from './deploy/tools';
import { buildImage } from './image/build';
import { promoteImage } from './image/promote';

const USAGE = `Build a commit's image once, or promote it by digest.

Usage: npm run image -- build --spec FILE --registry REGISTRY [--commit SHA] [--existing-only] [--json FILE]
       npm run image -- promote --from REPOSITORY[:TAG]@sha256:DIGEST --registry REGISTRY [--json FILE]

build    the Dockerfile target the spec runs (gpu for inference on a GPU, else cpu) with MODEL_ID and
         MODEL_REVISION = the commit the hub resolves the spec's model.revision to (HF_ENDPOINT, HF_TOKEN),
         tagged REGISTRY/gpt2-openai-toolkit:TARGET-COMMIT-ARGS and pushed; prints the image by digest. A tag
         already in the registry is not built again. --existing-only only looks it up (promotion).
  --commit SHA   the source commit (default $GITHUB_SHA)
promote  copies the image into REGISTRY with docker buildx imagetools create (same digest) unless it is there.
  --json FILE    also write the result as JSON (image, digest, tag, model revision)
Docker logs in to *.azurecr.io with az, *.pkg.dev / gcr.io with gcloud, ECR with aws.
Exit status: 0 done, 1 a step failed, 2 wrong options or spec, 3 a tool missing or not logged in.`;

function parseCommandLine(argv: readonly string[]) {
  try {
    return parseArgs({
      args: [...argv],
      options: {
        spec: { type: 'string' },
        registry: { type: 'string' },
        commit: { type: 'string' },
        'existing-only': { type: 'boolean', default: false },
        from: { type: 'string' },
        json: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(`${(error as Error).message} (see --help)`);
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv);
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [action] = positionals;
  if (positionals.length !== 1 || (action !== 'build' && action !== 'promote')) throw new UsageError('say build or promote (see --help)');
  if (values.registry === undefined) throw new UsageError('--registry is required, e.g. --registry gpt2registry.azurecr.io (see --help)');
  const output = (line: string): void => void process.stdout.write(`${line}\n`);
  const runner = createRunner({ cwd: REPO_ROOT, env: process.env, output });
  let result: object;
  if (action === 'build') {
    if (values.spec === undefined) throw new UsageError('build needs --spec FILE (see --help)');
    const commit = values.commit ?? process.env.GITHUB_SHA;
    if (commit === undefined) throw new UsageError('build needs --commit SHA (or GITHUB_SHA), e.g. --commit "$(git rev-parse HEAD)"');
    const spec = loadDeploymentSpec(resolve(values.spec));
    result = await buildImage({ spec, registry: values.registry, commit, hub: hubOptionsFromEnv(process.env), existingOnly: values['existing-only'] }, runner, output, process.env);
  } else {
    if (values.from === undefined) throw new UsageError('promote needs --from REPOSITORY[:TAG]@sha256:DIGEST (see --help)');
    result = await promoteImage(values.from, values.registry, runner, output);
  }
  output(JSON.stringify(result, null, 2));
  if (values.json !== undefined) await writeFile(resolve(values.json), `${JSON.stringify(result, null, 2)}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const known = error instanceof SpecError || error instanceof ModelFetchError ? new UsageError(error.message) : error;
    const expected = known instanceof DeployError;
    process.stderr.write(`image: ${expected ? known.message : ((known as Error).stack ?? String(known))}\n`);
    process.exitCode = expected ? known.exitCode : 1;
  },
);
