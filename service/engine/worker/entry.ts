// The engine's worker process: receives its settings from the service, loads and warms the model,
// then serves submits and cancels and sends each forward pass's events back in one step message.
// Started by worker/process.ts; it never runs on its own.
import pino from 'pino';
import { startEngineCore, type EngineCore } from '../engine';
import { serializeError } from './error-codec';
import type { FromWorker, ToWorker } from './messages';
import { StepOutbox } from './outbox';
import type { SubmittedRequest } from '../scheduler/scheduler';

function send(message: FromWorker): void {
  process.send?.(message);
}

async function serve(start: Extract<ToWorker, { type: 'start' }>): Promise<void> {
  const log = pino({ level: start.logLevel, base: { component: 'engine-worker', pid: process.pid } });
  const outbox = new StepOutbox(send);
  let core: EngineCore;
  try {
    core = await startEngineCore({ ...start.settings, log, onStep: (step) => outbox.step(step) });
  } catch (error) {
    send({ type: 'start-failed', error: serializeError(error) });
    process.disconnect?.();
    return;
  }
  const requests = new Map<number, SubmittedRequest>();
  process.on('message', (message: ToWorker) => {
    switch (message.type) {
      case 'submit': {
        const onEnd = (): void => void requests.delete(message.id);
        try {
          requests.set(message.id, core.scheduler.submit({ promptIds: message.promptIds, params: message.params }, outbox.outputFor(message.id, onEnd)));
        } catch (error) {
          // The main thread checks the same limits first; this is a race with close, or a bug.
          outbox.fail(message.id, error);
        }
        return;
      }
      case 'cancel':
        requests.get(message.id)?.cancel();
        return;
      case 'close':
        void core.close().then(() => {
          outbox.flush();
          send({ type: 'closed' });
          process.disconnect?.();
        });
        return;
      case 'start':
        return;
    }
  });
  send({ type: 'ready', contextLength: core.contextLength, description: core.description });
}

if (!process.send) {
  process.stderr.write('service/engine/worker/entry is the engine worker process: the service starts it (worker/process.ts); run npm start instead.\n');
  process.exit(2);
}
// The main process handles signals (it drains, then sends `close`); a terminal's Ctrl-C reaches the
// whole process group, and must not kill the engine under requests still draining.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => undefined);
// Without the main process there is nobody to answer: stop.
process.on('disconnect', () => process.exit(0));
process.once('message', (message: ToWorker) => {
  if (message.type === 'start') void serve(message);
});
