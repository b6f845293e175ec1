/** @jest-environment ./test/support/onnx-environment.js */
// The benchmark's quality measure: a graph compared with itself is at KL 0 and full agreement, a
// quantized one is not, and fp32's spread is a proper entropy between 0 and uniform.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nextTokenQuality } from '../../../scripts/bench/next-token-quality';
import { quantizeModelDir } from '../../../scripts/onnx-quantize/quantize-model-dir';
import { tinyModelDir } from '../../support/models';

const PROMPTS = [
  [464, 2068, 7586, 21831],
  [15496, 995, 11, 314, 716],
];
const NEW_TOKENS = 6;

let work: string;
let fp32: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'next-token-quality-'));
  fp32 = join(await tinyModelDir(), 'onnx', 'model.onnx');
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

it('puts the fp32 graph at KL 0 and full agreement with itself, over every teacher-forced position', async () => {
  const report = await nextTokenQuality(fp32, { same: fp32 }, PROMPTS, NEW_TOKENS, 1);
  expect(report.graphs.same).toEqual({ meanKl: expect.any(Number), maxKl: expect.any(Number), agreement: 1, positions: PROMPTS.length * NEW_TOKENS });
  expect(Math.abs(report.graphs.same!.maxKl)).toBeLessThan(1e-9);
  expect(report.reference.uniformEntropy).toBeCloseTo(Math.log(50257), 6);
  expect(report.reference.meanEntropy).toBeGreaterThan(0);
  expect(report.reference.meanEntropy).toBeLessThan(report.reference.uniformEntropy);
  expect(report.reference.meanTop1).toBeGreaterThan(1 / 50257);
  expect(report.reference.meanTop2Gap).toBeGreaterThanOrEqual(0);
});

it('measures a quantized graph as further from fp32 than fp32 is from itself', async () => {
  const record = await quantizeModelDir(join(fp32, '..', '..'), join(work, 'int4'), { scheme: 'int4' });
  const report = await nextTokenQuality(fp32, { int4: join(work, 'int4', record.output.graph) }, PROMPTS, NEW_TOKENS, 1);
  const int4 = report.graphs.int4!;
  expect(int4.meanKl).toBeGreaterThan(1e-4);
  expect(int4.maxKl).toBeGreaterThanOrEqual(int4.meanKl);
  expect(int4.agreement).toBeGreaterThanOrEqual(0);
  expect(int4.agreement).toBeLessThanOrEqual(1);
  expect(int4.positions).toBe(PROMPTS.length * NEW_TOKENS);
});
