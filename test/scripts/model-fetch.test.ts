// model:fetch's progress output: a bar redrawn in place on a terminal, a few plain lines elsewhere.
import { progressReporter } from '../../scripts/model-fetch';

function capture(isTTY: boolean) {
  const writes: string[] = [];
  const report = progressReporter({ isTTY, write: (text: string | Uint8Array) => writes.push(String(text)) > 0 });
  return { writes, report };
}

describe('model:fetch progress', () => {
  it('redraws one bar per file in place on a terminal and ends it with a newline', () => {
    const { writes, report } = capture(true);
    for (const received of [0, 5_000_000, 10_000_000]) report({ file: 'onnx/model.onnx', received, total: 10_000_000 });
    expect(writes).toEqual([
      `\ronnx/model.onnx [${'.'.repeat(30)}] 0.0/10.0 MB`,
      `\ronnx/model.onnx [${'#'.repeat(15)}${'.'.repeat(15)}] 5.0/10.0 MB`,
      `\ronnx/model.onnx [${'#'.repeat(30)}] 10.0/10.0 MB`,
      '\n',
    ]);
  });

  it('writes a plain line per quarter per file when not on a terminal', () => {
    const { writes, report } = capture(false);
    for (let received = 0; received <= 100; received += 5) report({ file: 'onnx/model.onnx', received: received * 1e5, total: 1e7 });
    report({ file: 'config.json', received: 600, total: 600 });
    expect(writes).toEqual([
      'onnx/model.onnx: 0.0/10.0 MB (0%)\n',
      'onnx/model.onnx: 2.5/10.0 MB (25%)\n',
      'onnx/model.onnx: 5.0/10.0 MB (50%)\n',
      'onnx/model.onnx: 7.5/10.0 MB (75%)\n',
      'onnx/model.onnx: 10.0/10.0 MB (100%)\n',
      'config.json: 0.0/0.0 MB (100%)\n',
    ]);
  });
});
