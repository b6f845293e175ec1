// TEST DOUBLE: preloaded into the engine's worker process (`workerExecArgv: ['--import', path]`) to
// make onnxruntime's prefill passes of at least SLOW_ONNX_MIN_TOKENS new tokens block the worker's
// thread for SLOW_ONNX_RUN_MS first, as a long prompt on a big model does. The outputs stay real.
import * as ort from 'onnxruntime-node';

const blockMs = Number(process.env.SLOW_ONNX_RUN_MS ?? '0');
const minTokens = Number(process.env.SLOW_ONNX_MIN_TOKENS ?? '2');
type Run = (this: ort.InferenceSession, feeds: ort.InferenceSession.FeedsType, ...rest: unknown[]) => Promise<ort.InferenceSession.ReturnType>;
const prototype = (ort.InferenceSession as unknown as { prototype: { run: Run } }).prototype;
const run = prototype.run;

prototype.run = function (feeds, ...rest) {
  const seq = (feeds as Record<string, ort.Tensor>).input_ids?.dims[1] ?? 0;
  if (seq >= minTokens) {
    const until = Date.now() + blockMs;
    while (Date.now() < until);
  }
  return run.call(this, feeds, ...rest);
};
