// model:fetch's progress output: one bar per file (scripts/progress.ts), ended when the file is complete.
import { progressReporter } from '../../scripts/model-fetch';

function capture(isTTY: boolean) {
  const writes: string[] = [];
  let ms = 0;
  const report = progressReporter({ isTTY, write: (text: string) => writes.push(text) }, () => (ms += 500));
  return { writes, report };
}

describe('model:fetch progress', () => {
  it('redraws one bar per file in place on a terminal and ends each with a newline', () => {
    const { writes, report } = capture(true);
    for (const received of [0, 5_000_000, 10_000_000]) report({ file: 'onnx/model.onnx', received, total: 10_000_000 });
    report({ file: 'config.json', received: 600, total: 600 });
    const lines = writes.join('').split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/onnx\/model\.onnx \[#{30}\] 100% 10\.0\/10\.0 MB in \d+\.\d s$/);
    expect(lines[0]).toContain(`onnx/model.onnx [${'#'.repeat(15)}${'.'.repeat(15)}]  50% 5.0/10.0 MB`);
    expect(lines[1]).toMatch(/config\.json \[#{30}\] 100% 0\.0\/0\.0 MB in \d+\.\d s$/);
    expect(lines[2]).toBe('');
  });

  it('writes plain lines per quarter per file when not on a terminal', () => {
    const { writes, report } = capture(false);
    for (let received = 0; received <= 100; received += 5) report({ file: 'onnx/model.onnx', received: received * 1e5, total: 1e7 });
    report({ file: 'config.json', received: 600, total: 600 });
    expect(writes.map((line) => line.replace(/ in [\d.]+ s/, ' in T').replace(/, ETA [\d.]+ s/, ', ETA T'))).toEqual([
      'onnx/model.onnx: 0.0/10.0 MB (0%)\n',
      'onnx/model.onnx: 2.5/10.0 MB (25%), ETA T\n',
      'onnx/model.onnx: 5.0/10.0 MB (50%), ETA T\n',
      'onnx/model.onnx: 7.5/10.0 MB (75%), ETA T\n',
      'onnx/model.onnx: 10.0/10.0 MB (100%) in T\n',
      'config.json: 0.0/0.0 MB (100%) in T\n',
    ]);
  });
});
