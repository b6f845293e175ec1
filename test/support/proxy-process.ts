// A proxy in a child process of its own for the tests of shared state: the real backend and HTTP app
// on 127.0.0.1, on a clock that stands still unless the test moves it (an IPC message), so several
// processes sharing one Redis give the same answers however slowly a busy machine runs them.
// Run as a script by startProxyProcess; its stdout carries pino's lines, the first with the address.
import { fork, type ChildProcess } from 'node:child_process';
import pino from 'pino';
import { Registry } from 'prom-client';
import { buildApp } from '../../service/http/app';
import { createProxyBackend } from '../../service/proxy/backend';

interface ClockMessage {
  readonly advanceMs: number;
}

async function serve(): Promise<void> {
  let now = Number(process.env.TEST_CLOCK_START_MS ?? Date.now());
  process.on('message', (message: ClockMessage) => {
    now += message.advanceMs;
    process.send?.({ now });
  });
  const logger = pino({ level: 'info' });
  const registry = new Registry();
  const { backend, authenticator } = await createProxyBackend(process.env, { registry, logger, clock: () => now });
  const built = await buildApp({ backend, authenticator, registry, logger, logContent: false });
  const address = await built.app.listen({ host: '127.0.0.1', port: 0 });
  logger.info({ address }, `listening on ${address}`);
}

export interface ProxyProcess {
  readonly child: ChildProcess;
  readonly url: string;
  output(): string;
  /** Moves the process's clock forward; resolves once it has. */
  advance(ms: number): Promise<void>;
  /** Resolves with the first log line (already written or still to come) that `predicate` accepts. */
  waitForLog(predicate: (entry: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  /** SIGKILL: the process leaves without releasing anything. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a proxy process with `env` (plus PATH and HOME); resolves once it listens. */
export async function startProxyProcess(env: Record<string, string>): Promise<ProxyProcess> {
  const child = fork(__filename, [], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  const listeners = new Set<() => void>();
  const entries = () =>
    output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const onData = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const waitForLog = (predicate: (entry: Record<string, unknown>) => boolean) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const check = () => {
        const found = entries().find(predicate);
        if (found === undefined) return;
        listeners.delete(check);
        resolve(found);
      };
      listeners.add(check);
      void exited.then(() => {
        if (listeners.delete(check)) reject(new Error(`the proxy process exited before the log line awaited:\n${output}`));
      });
      check();
    });
  const listening = await waitForLog((entry) => typeof entry.address === 'string');
  const stopWith = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return {
    child,
    url: String(listening.address),
    output: () => output,
    advance: (ms) =>
      new Promise((resolve) => {
        child.once('message', () => resolve());
        child.send({ advanceMs: ms } satisfies ClockMessage);
      }),
    waitForLog,
    kill: () => stopWith('SIGKILL'),
    stop: () => stopWith('SIGTERM'),
  };
}

if (require.main === module) {
  serve().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
