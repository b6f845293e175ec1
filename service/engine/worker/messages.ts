// The messages between the service's main thread and the engine's worker process. They travel over
// Node's IPC channel with the structured-clone serializer (SamplingParams' Map survives); a request's
// events cross in batches, one message per forward pass carrying every request's new events.
import type { EngineDescription, EngineSettings } from '../engine';
import type { GenerationEvent, HostDeviceTransfers, SamplingParams } from '../types';
import type { SerializedError } from './error-codec';

export type ToWorker =
  | { readonly type: 'start'; readonly settings: EngineSettings; readonly logLevel: string }
  | { readonly type: 'submit'; readonly id: number; readonly promptIds: readonly number[]; readonly params: SamplingParams }
  | { readonly type: 'cancel'; readonly id: number }
  /** Let running and queued requests finish, release the session, exit. */
  | { readonly type: 'close' };

/** What happened to one request during a step. */
export interface RequestUpdate {
  readonly id: number;
  readonly events: GenerationEvent[];
  /** Batch rows it holds now (set when they changed: admitted, choices finished). */
  rowsHeld?: number;
  /** The request is over: its output ended, or failed with `error`. */
  ended?: true;
  error?: SerializedError;
}

export type FromWorker =
  /** The model is loaded and warmed up: what the worker serves (the service logs it). */
  | { readonly type: 'ready'; readonly contextLength: number; readonly description: EngineDescription }
  | { readonly type: 'start-failed'; readonly error: SerializedError }
  /** Sent after every forward pass, with or without updates: it is also the watchdog's heartbeat. */
  | { readonly type: 'step'; readonly updates: readonly RequestUpdate[]; readonly decodeStepSeconds: number; readonly transfers?: HostDeviceTransfers }
  | { readonly type: 'closed' };
