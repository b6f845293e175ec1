// Pins the model to a commit at synth: a branch or tag in the spec becomes the commit it points at now (the hub's
// GET /api/models/{repo}/revision/{rev}), so the image bakes, the service loads and promotion carries that commit.
import { listRepoFiles, resolveRepoId, type HubOptions } from '../../service/models/hub-client';
import { SpecError } from '../spec';

/** A full git commit id, as the hub reports `sha`. */
export const COMMIT_ID = /^[0-9a-f]{40}$/;

/** The commit `revision` of `modelId` points at; a commit id is returned as it is, without asking the hub. */
export async function resolveModelCommit(modelId: string, revision: string, hub: HubOptions): Promise<string> {
  if (COMMIT_ID.test(revision)) return revision;
  let commit: string;
  try {
    ({ commit } = await listRepoFiles(hub, resolveRepoId(modelId), revision));
  } catch (error) {
    throw new SpecError(
      `model.revision: cannot resolve "${revision}" of ${modelId} to a commit: ${(error as Error).message}. ` +
        'Put a 40-character commit id in model.revision, or synthesize without pinning: -c pinModelRevision=false',
    );
  }
  if (!COMMIT_ID.test(commit)) {
    throw new SpecError(`model.revision: the hub answered "${commit}" for "${revision}" of ${modelId}, which is not a commit id`);
  }
  return commit;
}
