// A real redis-server (Debian's package) for the tests and bench:proxy: started on 127.0.0.1 on a
// free port without persistence, stopped (or killed, paused and resumed, to play an outage), and
// restarted on the same port.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

function requireBinary(otherwise: string): void {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error(`redis-server is not installed: apt-get install -y redis-server${otherwise}`);
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface RedisServerOptions {
  /** Extra redis-server arguments (TLS files, ACL users, cluster mode). */
  readonly args?: readonly string[];
  /** `rediss`: TLS only, on the port (give the TLS files in `args`). */
  readonly scheme?: 'redis' | 'rediss';
  /** Appended to the "not installed" message: what else the caller can do. @default .ci/run's note */
  readonly whenMissing?: string;
}

export class RedisServer {
  private process: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly options: RedisServerOptions,
  ) {}

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    requireBinary(options.whenMissing ?? ' (.ci/run installs it before npm test)');
    const server = new RedisServer(await freePort(), options);
    await server.restart();
    return server;
  }

  get url(): string {
    return `${this.options.scheme ?? 'redis'}://127.0.0.1:${this.port}`;
  }

  /** Starts it (again) on its port; resolves once it accepts connections. */
  async restart(): Promise<void> {
    const portArgs = this.options.scheme === 'rediss' ? ['--port', '0', '--tls-port', String(this.port)] : ['--port', String(this.port)];
    const child = spawn('redis-server', [...portArgs, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...(this.options.args ?? [])], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.process = child;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString('utf8');
        if (output.includes('Ready to accept connections')) resolve();
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => reject(new Error(`redis-server on port ${this.port} exited (${code}) before it was ready:\n${output}`)));
    });
  }

  /** Kills it (SIGKILL: no goodbye to its clients) and waits until it is gone. */
  async stop(): Promise<void> {
    const child = this.process;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** Stops it answering while its connections stay open (a hung server), until `resume`. */
  pause(): void {
    this.process?.kill('SIGSTOP');
  }

  resume(): void {
    this.process?.kill('SIGCONT');
  }
}
