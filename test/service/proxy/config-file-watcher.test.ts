// ConfigFileWatcher: change calls from a folder watch (a file replaced by a rename, or rewritten in
// place; a burst of writes is one look) or, where no file events come, from the poll.
import { mkdirSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigFileWatcher } from '../../../service/proxy/config-file-watcher';
import { capturedLogger } from './support/harness';

const watchers: ConfigFileWatcher[] = [];
afterEach(() => {
  for (const watcher of watchers.splice(0)) watcher.stop();
});

/** A watcher on `path` whose changes resolve, one after another, the promises `nextChange` hands out. */
function watch(path: string, pollMs: number) {
  const log = capturedLogger();
  const waiting: (() => void)[] = [];
  let changes = 0;
  const watcher = new ConfigFileWatcher(path, {
    pollMs,
    log: log.logger,
    onChange: () => {
      changes += 1;
      waiting.shift()?.();
    },
  });
  watchers.push(watcher);
  watcher.start();
  return { log, changes: () => changes, nextChange: () => new Promise<void>((resolve) => waiting.push(resolve)) };
}

it('reports a file replaced by a rename, then a burst of writes in place as one change', async () => {
  const folder = mkdtempSync(join(tmpdir(), 'watch-'));
  const path = join(folder, 'proxy.json');
  writeFileSync(path, '{"keys":[]}');
  // The poll is far off: only the watch can report within the test.
  const watched = watch(path, 3_600_000);
  const first = watched.nextChange();
  writeFileSync(`${path}.next`, '{"keys":[1]}');
  renameSync(`${path}.next`, path);
  await first;
  const second = watched.nextChange();
  writeFileSync(path, '{"keys":[1]}');
  writeFileSync(path, '{"keys":[2]}');
  await second;
  expect(watched.changes()).toBe(2);
});

it('falls back to the poll where its folder cannot be watched, and finds the file once it appears', async () => {
  const folder = join(mkdtempSync(join(tmpdir(), 'watch-')), 'not-mounted-yet');
  const path = join(folder, 'proxy.json');
  const watched = watch(path, 100);
  await watched.log.waitFor((entry) => entry.msg === 'PROXY_CONFIG_FILE: no file events for its folder; changes are found by re-reading it');
  const appeared = watched.nextChange();
  mkdirSync(folder);
  writeFileSync(path, '{"keys":[]}');
  await appeared;
  expect(watched.changes()).toBe(1);
});
