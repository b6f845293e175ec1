import { ModelFetchError } from '../../../service/models/errors';
import { resolveCommit } from '../../../service/models/hub-client';
import { tinyModelDir } from '../../support/models';
import { startFakeHub, type FakeHub } from './fake-hub';

let hub: FakeHub;
beforeAll(async () => {
  hub = await startFakeHub('onnx-community/gpt2-ONNX', await tinyModelDir());
});
afterAll(async () => {
  await hub.close();
});

describe('resolveCommit', () => {
  it('resolves a branch to the commit the hub lists for it, through the short name', async () => {
    expect(await resolveCommit({ endpoint: hub.endpoint }, 'gpt2', 'main')).toEqual({ repo: 'onnx-community/gpt2-ONNX', commit: hub.commit });
    expect(hub.requests.at(-1)?.path).toBe('/api/models/onnx-community/gpt2-ONNX/revision/main');
  });

  it('keeps a commit id as it is, without asking the hub', async () => {
    const before = hub.requests.length;
    const commit = 'a'.repeat(40);
    expect(await resolveCommit({ endpoint: hub.endpoint }, 'onnx-community/gpt2-ONNX', commit)).toEqual({ repo: 'onnx-community/gpt2-ONNX', commit });
    expect(hub.requests.length).toBe(before);
  });

  it('says which revision the hub does not know', async () => {
    const attempt = resolveCommit({ endpoint: hub.endpoint }, 'gpt2', 'no-such-branch');
    await expect(attempt).rejects.toThrow(ModelFetchError);
    await expect(attempt).rejects.toThrow(/404.*revision\/no-such-branch.*check the model id and revision/);
  });
});
