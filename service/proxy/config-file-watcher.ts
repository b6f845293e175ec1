// Says when PROXY_CONFIG_FILE's content has changed: a watch on its folder (editors and secret mounts
// replace the file by a rename or a symlink swap, which a watch on the file itself would lose), and a
// re-read every PROXY_CONFIG_POLL_MS for mounts that change without any file event (Cloud Run's secret
// volumes fetch the new version when read; some bind mounts raise no inotify event). Compares content,
// not modification times: a new secret version can keep the old time.
import { createHash } from 'node:crypto';
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';

/** File events come in bursts (truncate, write, rename): one look after the burst. */
const SETTLE_MS = 50;

export interface ConfigFileWatcherOptions {
  readonly pollMs: number;
  /** Called once per change of content (a file that became unreadable counts: the reload then says why). */
  readonly onChange: () => void;
  readonly log: Logger;
}

function digestOf(path: string): string {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('hex');
  } catch (error) {
    return `unreadable: ${(error as NodeJS.ErrnoException).code ?? 'error'}`;
  }
}

export class ConfigFileWatcher {
  private digest: string;
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private settle: NodeJS.Timeout | undefined;

  constructor(
    private readonly path: string,
    private readonly options: ConfigFileWatcherOptions,
  ) {
    this.digest = digestOf(path);
  }

  start(): void {
    try {
      this.watcher = watch(dirname(this.path), (_event, name) => {
        // Other files of the folder are ignored, but a mount's swap of its data folder names no file.
        if (name !== null && name !== basename(this.path) && !name.startsWith('..')) return;
        clearTimeout(this.settle);
        this.settle = setTimeout(() => this.check(), SETTLE_MS);
      });
      this.watcher.on('error', (error) => this.stopWatching(error));
      this.watcher.unref();
    } catch (error) {
      this.stopWatching(error);
    }
    this.poll = setInterval(() => this.check(), this.options.pollMs).unref();
  }

  stop(): void {
    this.watcher?.close();
    clearInterval(this.poll);
    clearTimeout(this.settle);
  }

  private stopWatching(error: unknown): void {
    this.watcher?.close();
    this.watcher = undefined;
    this.options.log.info(
      { path: this.path, error: (error as Error).message, pollMs: this.options.pollMs },
      'PROXY_CONFIG_FILE: no file events for its folder; changes are found by re-reading it',
    );
  }

  private check(): void {
    const digest = digestOf(this.path);
    if (digest === this.digest) return;
    this.digest = digest;
    this.options.onChange();
  }
}
