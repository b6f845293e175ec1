// The engine as the service uses it: an `Engine` on the main thread whose model and scheduler run
// in a worker process, so HTTP never waits on a model step. It checks limits synchronously (the
// same typed errors as in-process), forwards requests and cancels, routes each step's events to
// their requests, and restarts the worker when it crashes or hangs.
import type { Logger } from 'pino';
import { DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_QUEUE, DEFAULT_MAX_RESTARTS, DEFAULT_WATCHDOG_SECONDS } from '../defaults';
import type { EngineDescription, EngineSettings } from '../engine';
import { EngineClosedError, EngineUnavailableError } from '../errors';
import { EventChannel } from '../event-channel';
import { loadTokenizer } from '../load-tokenizer';
import { checkRequest, type Capacity } from '../scheduler/admission';
import type { Engine, EngineStats, GenerationEvent, GenerationRequest, HostDeviceTransfers, Tokenizer } from '../types';
import { CapacityMirror, type MirroredRequest } from './capacity-mirror';
import { rebuildError } from './error-codec';
import type { FromWorker } from './messages';
import { spawnEngineProcess, type EngineProcess } from './process';
import { Watchdog } from './watchdog';

export interface WorkerEngineOptions extends EngineSettings {
  /** pino level of the worker process's own log lines. @default 'info' */
  readonly logLevel?: string;
  /** Seconds without any step from the worker, while requests are in flight, before it counts as hung and is killed. @default DEFAULT_WATCHDOG_SECONDS */
  readonly watchdogSeconds?: number;
  /** Restarts allowed within 10 minutes; one more failure (or a restart that fails) calls `onFatal`. @default DEFAULT_MAX_RESTARTS */
  readonly maxRestarts?: number;
  /** Extra Node.js flags for the worker process (e.g. --max-old-space-size=4096). */
  readonly workerExecArgv?: readonly string[];
  /** Variables set for the worker process on top of the service's environment (e.g. CUDA_VISIBLE_DEVICES). */
  readonly workerEnv?: Readonly<Record<string, string>>;
  readonly log?: Logger;
  /** The engine cannot serve again: the service should exit non-zero so its orchestrator replaces it. */
  readonly onFatal?: (error: Error) => void;
}

const RESTART_WINDOW_MS = 10 * 60 * 1000;

type State = 'starting' | 'ready' | 'restarting' | 'closing' | 'closed' | 'failed';

interface RemoteRequest {
  readonly id: number;
  readonly channel: EventChannel<GenerationEvent>;
  readonly mirror: MirroredRequest;
  detach: (() => void) | undefined;
}

class WorkerEngine implements Engine {
  readonly modelId: string;
  readonly tokenizer: Tokenizer;
  contextLength = 0;
  private worker: EngineProcess | undefined;
  private state: State = 'starting';
  private readonly requests = new Map<number, RemoteRequest>();
  private nextId = 1;
  private readonly mirror: CapacityMirror;
  private readonly watchdog: Watchdog;
  /** Why the watchdog killed the current worker, for the error its requests get. */
  private killedBecause: string | undefined;
  /** The current worker's running totals as of its last step message (a fresh worker starts from 0). */
  private transfers: HostDeviceTransfers | undefined;
  /** What the workers before it moved: added on, so the engine's totals only ever grow. */
  private earlierTransfers: HostDeviceTransfers | undefined;
  private readonly restarts: number[] = [];
  private closed: Promise<void> | undefined;
  private resolveClosed: () => void = () => undefined;

  /** @param tokenizer the model's tokenizer, loaded here as the worker loads its own (HTTP encodes, renders chats and decodes with it) */
  constructor(
    private readonly options: WorkerEngineOptions,
    tokenizer: Tokenizer,
  ) {
    this.modelId = options.modelId ?? 'gpt2';
    this.tokenizer = tokenizer;
    this.mirror = new CapacityMirror(this.capacity());
    const timeoutMs = (options.watchdogSeconds ?? DEFAULT_WATCHDOG_SECONDS) * 1000;
    this.watchdog = new Watchdog(timeoutMs, () => this.requests.size > 0, (silentMs) => this.onHung(silentMs));
  }

  /** The worker process's id (logged at start; tests use it to crash or stop the worker). */
  get workerPid(): number | undefined {
    return this.worker?.child.pid;
  }

  async start(): Promise<void> {
    try {
      await this.launch();
      this.state = 'ready';
    } catch (error) {
      this.state = 'failed';
      this.watchdog.stop();
      throw error;
    }
  }

  generate(request: GenerationRequest): AsyncIterable<GenerationEvent> {
    if (this.state === 'closing' || this.state === 'closed') throw new EngineClosedError('The engine is shutting down and takes no new requests.');
    if (this.state !== 'ready') throw new EngineUnavailableError('The inference engine is restarting after a failure.');
    const { rowsNeeded } = checkRequest(request, this.capacity());
    const mirror = this.mirror.admit(rowsNeeded, request.params.maxTokens);
    const id = this.nextId++;
    if (this.requests.size === 0) this.watchdog.progress();
    const remote: RemoteRequest = { id, mirror, channel: new EventChannel<GenerationEvent>(() => this.cancel(id)), detach: undefined };
    this.requests.set(id, remote);
    this.worker?.send({ type: 'submit', id, promptIds: request.promptIds, params: request.params });
    const { signal } = request;
    if (signal) {
      const onAbort = (): void => this.cancel(id);
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        remote.detach = () => signal.removeEventListener('abort', onAbort);
      }
    }
    return remote.channel;
  }

  stats(): EngineStats {
    const transfers = addTransfers(this.earlierTransfers, this.transfers);
    return { ...this.mirror.stats(), ...(transfers ? { transfers } : {}) };
  }

  isReady(): boolean {
    return this.state === 'ready';
  }

  /** Lets the worker finish running and queued requests, then resolves once its process exited. */
  close(): Promise<void> {
    if (this.closed) return this.closed;
    const previous = this.state;
    this.state = 'closing';
    this.closed = new Promise<void>((resolve) => {
      this.resolveClosed = resolve;
    });
    const child = this.worker?.child;
    if (previous === 'failed' || !child || child.exitCode !== null || child.signalCode !== null) this.finishClosing();
    // A worker still loading has no requests, and takes no messages before it is ready.
    else if (previous === 'restarting') child.kill('SIGKILL');
    else this.worker?.send({ type: 'close' });
    return this.closed;
  }

  private capacity(): Capacity {
    return {
      maxBatchSize: this.options.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE,
      maxQueue: this.options.maxQueue ?? DEFAULT_MAX_QUEUE,
      contextLength: this.contextLength,
      eosTokenId: this.tokenizer.eosTokenId,
    };
  }

  /** Starts a worker process and resolves once it loaded and warmed the model. */
  private launch(): Promise<void> {
    const worker = spawnEngineProcess({
      ...(this.options.workerExecArgv ? { execArgv: this.options.workerExecArgv } : {}),
      ...(this.options.workerEnv ? { env: this.options.workerEnv } : {}),
    });
    this.worker = worker;
    this.killedBecause = undefined;
    this.earlierTransfers = addTransfers(this.earlierTransfers, this.transfers);
    this.transfers = undefined;
    const { log, workerExecArgv, workerEnv, watchdogSeconds, maxRestarts, onFatal, logLevel, ...settings } = this.options;
    return new Promise<void>((resolve, reject) => {
      let loaded = false;
      worker.onMessage((message) => {
        if (this.worker !== worker) return;
        this.watchdog.progress();
        this.onMessage(message, (description) => {
          loaded = true;
          log?.info({ workerPid: worker.child.pid, ...description }, 'engine worker ready');
          resolve();
        }, reject);
      });
      worker.child.on('error', (error) => {
        log?.error({ err: error }, 'engine worker process error');
        if (!loaded) reject(error);
      });
      worker.child.on('exit', (code, signal) => {
        if (this.worker !== worker) return;
        const how = this.killedBecause ?? (signal ? `its process was killed by ${signal}` : `its process exited with code ${code}`);
        if (loaded) this.onExit(how);
        else reject(new Error(`The engine worker stopped while loading the model (${how}); its log lines above say why.`));
      });
      worker.send({ type: 'start', settings, logLevel: logLevel ?? 'info' });
      log?.info({ workerPid: worker.child.pid }, 'engine worker started');
    });
  }

  private onMessage(message: FromWorker, ready: (description: EngineDescription) => void, startFailed: (error: Error) => void): void {
    switch (message.type) {
      case 'ready':
        this.contextLength = message.contextLength;
        ready(message.description);
        return;
      case 'start-failed':
        startFailed(rebuildError(message.error));
        return;
      case 'step':
        if (message.decodeStepSeconds > 0) this.mirror.stepSeconds = message.decodeStepSeconds;
        if (message.transfers) this.transfers = message.transfers;
        for (const update of message.updates) {
          const remote = this.requests.get(update.id);
          if (!remote) continue;
          for (const event of update.events) {
            if (event.type === 'delta') this.mirror.tokens(remote.mirror, event.choice, event.tokens.length);
            remote.channel.push(event);
          }
          if (update.rowsHeld !== undefined) this.mirror.setRows(remote.mirror, update.rowsHeld);
          if (update.ended) this.endRequest(remote, update.error ? rebuildError(update.error) : undefined);
        }
        return;
      case 'closed':
        return;
    }
  }

  private cancel(id: number): void {
    if (this.requests.has(id)) this.worker?.send({ type: 'cancel', id });
  }

  private endRequest(remote: RemoteRequest, error?: Error): void {
    this.requests.delete(remote.id);
    this.mirror.end(remote.mirror);
    remote.detach?.();
    if (error) remote.channel.fail(error);
    else remote.channel.end();
  }

  private onHung(silentMs: number): void {
    const child = this.worker?.child;
    if (!child) return;
    this.killedBecause = `it made no progress for ${(silentMs / 1000).toFixed(1)} s with requests in flight, so the watchdog killed it`;
    this.options.log?.error({ workerPid: child.pid, silentMs: Math.round(silentMs) }, 'engine worker hung; killing it');
    child.kill('SIGKILL');
  }

  /** The worker is gone: its requests fail, then it restarts (or the service is told to give up). */
  private onExit(how: string): void {
    const error = new EngineUnavailableError(`The inference engine failed (${how}).`);
    for (const remote of [...this.requests.values()]) this.endRequest(remote, error);
    this.mirror.clear();
    if (this.state === 'closing') return this.finishClosing();
    this.options.log?.error({ reason: how, inFlightFailed: true }, 'engine worker failed');
    if (!this.mayRestart()) return this.giveUp(new EngineUnavailableError(`The inference engine failed ${this.restarts.length + 1} times in 10 minutes (last: ${how}); not restarting it.`));
    this.state = 'restarting';
    this.launch().then(
      () => {
        if (this.state !== 'restarting') return;
        this.state = 'ready';
        this.options.log?.warn({ workerPid: this.workerPid }, 'engine worker restarted');
      },
      (launchError: unknown) => {
        if (this.state === 'closing') return this.finishClosing();
        this.giveUp(launchError instanceof Error ? launchError : new Error(String(launchError)));
      },
    );
  }

  private mayRestart(): boolean {
    const now = performance.now();
    while (this.restarts.length > 0 && now - this.restarts[0]! > RESTART_WINDOW_MS) this.restarts.shift();
    if (this.restarts.length >= (this.options.maxRestarts ?? DEFAULT_MAX_RESTARTS)) return false;
    this.restarts.push(now);
    return true;
  }

  private giveUp(error: Error): void {
    this.state = 'failed';
    this.watchdog.stop();
    // An owner told of it reports it (main.ts logs the fatal line and exits); else it is logged here.
    if (this.options.onFatal) this.options.onFatal(error);
    else this.options.log?.fatal({ err: error }, 'engine worker cannot be restarted');
  }

  private finishClosing(): void {
    this.state = 'closed';
    this.watchdog.stop();
    this.resolveClosed();
  }
}

/**
 * Loads the model's tokenizer here, starts the engine in a worker process and resolves once the
 * model is loaded and warmed up there. A tokenizer the folder cannot give fails before any process starts.
 */
export async function createWorkerEngine(options: WorkerEngineOptions): Promise<Engine & { readonly workerPid: number | undefined }> {
  const engine = new WorkerEngine(options, await loadTokenizer(options.modelDir));
  await engine.start();
  return engine;
}

function addTransfers(a: HostDeviceTransfers | undefined, b: HostDeviceTransfers | undefined): HostDeviceTransfers | undefined {
  if (a === undefined || b === undefined) return a ?? b;
  return { toDevice: a.toDevice + b.toDevice, toHost: a.toHost + b.toHost, passes: a.passes + b.passes };
}
