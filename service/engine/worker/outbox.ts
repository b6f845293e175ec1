// The worker's side of the event stream: collects every request's events during a forward pass and
// sends them as one step message, on the next turn of the event loop (before the next pass runs).
import type { RequestOutput } from '../scheduler/request';
import type { StepReport } from '../scheduler/scheduler';
import type { HostDeviceTransfers } from '../types';
import { serializeError } from './error-codec';
import type { FromWorker, RequestUpdate } from './messages';

export class StepOutbox {
  private updates = new Map<number, RequestUpdate>();
  private flushScheduled = false;
  private decodeStepSeconds = 0;
  private transfers: HostDeviceTransfers | undefined;

  constructor(private readonly send: (message: FromWorker) => void) {}

  /** Where the scheduler writes request `id`'s events; `onEnd` runs when it is over. */
  outputFor(id: number, onEnd: () => void): RequestOutput {
    return {
      push: (event) => {
        this.update(id).events.push(event);
      },
      rowsHeld: (rows) => {
        this.update(id).rowsHeld = rows;
      },
      end: () => {
        this.update(id).ended = true;
        onEnd();
      },
      fail: (error) => this.fail(id, error, onEnd),
    };
  }

  fail(id: number, error: unknown, onEnd: () => void = () => undefined): void {
    const update = this.update(id);
    update.ended = true;
    update.error = serializeError(error);
    onEnd();
  }

  /** A forward pass ran: a step message goes out even without events (the watchdog's heartbeat). */
  step(report: StepReport): void {
    this.decodeStepSeconds = report.decodeStepSeconds;
    this.transfers = report.transfers;
    this.scheduleFlush();
  }

  /**
   * Sends what was collected now. Otherwise it goes at the next event-loop turn: onnxruntime runs a
   * pass inside a setImmediate callback, and this one was queued first, so a decode step's tokens
   * leave before the prefill chunk that follows it runs.
   */
  flush(): void {
    this.flushScheduled = false;
    const updates = [...this.updates.values()];
    this.updates = new Map();
    this.send({ type: 'step', updates, decodeStepSeconds: this.decodeStepSeconds, ...(this.transfers ? { transfers: this.transfers } : {}) });
  }

  private update(id: number): RequestUpdate {
    let update = this.updates.get(id);
    if (!update) {
      update = { id, events: [] };
      this.updates.set(id, update);
    }
    this.scheduleFlush();
    return update;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      if (this.flushScheduled) this.flush();
    });
  }
}
