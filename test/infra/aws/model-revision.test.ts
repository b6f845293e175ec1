import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { COMMIT_ID, resolveModelCommit } from '../../../infra/aws/model-revision';
import { SpecError } from '../../../infra/spec';
import { startFakeHub, type FakeHub } from '../../service/models/fake-hub';

let hub: FakeHub;

beforeAll(async () => {
  const modelDir = mkdtempSync(path.join(tmpdir(), 'hub-model-'));
  writeFileSync(path.join(modelDir, 'config.json'), '{}');
  hub = await startFakeHub('onnx-community/gpt2-ONNX', modelDir);
});
afterAll(() => hub.close());
beforeEach(() => hub.requests.splice(0));

describe('resolveModelCommit', () => {
  it("asks the hub's revision API for a branch and returns the commit it points at", async () => {
    const commit = await resolveModelCommit('onnx-community/gpt2-ONNX', 'main', { endpoint: hub.endpoint });
    expect(commit).toBe(hub.commit);
    expect(commit).toMatch(COMMIT_ID);
    expect(hub.requests.map((request) => request.path)).toEqual(['/api/models/onnx-community/gpt2-ONNX/revision/main']);
  });

  it('resolves the short names the service knows (gpt2 is onnx-community/gpt2-ONNX)', async () => {
    expect(await resolveModelCommit('gpt2', 'main', { endpoint: hub.endpoint })).toBe(hub.commit);
  });

  it('returns a commit id as it is, without asking the hub', async () => {
    const pinned = 'a'.repeat(40);
    expect(await resolveModelCommit('onnx-community/gpt2-ONNX', pinned, { endpoint: hub.endpoint })).toBe(pinned);
    expect(hub.requests).toEqual([]);
  });

  it('says which field to change, and how to synthesize without the hub, when the revision does not resolve', async () => {
    const failure: unknown = await resolveModelCommit('onnx-community/gpt2-ONNX', 'no-such-branch', { endpoint: hub.endpoint }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(SpecError);
    expect((failure as Error).message).toMatch(/model\.revision: cannot resolve "no-such-branch" of onnx-community\/gpt2-ONNX to a commit: .*404.*-c pinModelRevision=false/);
    await expect(resolveModelCommit('onnx-community/gpt2-ONNX', 'main', { endpoint: 'http://127.0.0.1:9', timeoutMs: 2000 })).rejects.toThrow(
      /cannot resolve "main".*Could not reach the model hub/,
    );
  });
});
