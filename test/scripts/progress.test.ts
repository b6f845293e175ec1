// The shared progress module: the bar redrawn in place on a terminal, plain quarter lines elsewhere,
// and numbered, timed steps with a heartbeat. Time is a hand-moved clock, so nothing here waits.
import { formatDuration, progressBar, stepTimer } from '../../scripts/progress';

function clock() {
  let ms = 0;
  return { now: () => ms, advance: (by: number) => (ms += by) };
}

function capture(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, write: (text: string) => writes.push(text) } };
}

const ERASE = '\r\x1b[K';

describe('formatDuration', () => {
  it('reads as seconds, then minutes and seconds, then hours and minutes', () => {
    expect([0.42, 12.34, 59.94, 125, 3599, 3725].map(formatDuration)).toEqual(['0.4 s', '12.3 s', '59.9 s', '2m 05s', '59m 59s', '1h 02m']);
  });
});

describe('progressBar on a terminal', () => {
  it('redraws one line in place with percent, amounts, rate and ETA, and ends it with the time taken', () => {
    const { writes, stream } = capture(true);
    const time = clock();
    const bar = progressBar(stream, { label: 'onnx/model.onnx', total: 10_000_000, unit: 'bytes', now: time.now });
    bar.update(0);
    time.advance(1000);
    bar.update(2_000_000);
    time.advance(1000);
    bar.update(4_000_000);
    time.advance(3000);
    bar.update(10_000_000);
    bar.finish();
    expect(writes).toEqual([
      `${ERASE}onnx/model.onnx [${'.'.repeat(30)}]   0% 0.0/10.0 MB`,
      `${ERASE}onnx/model.onnx [${'#'.repeat(6)}${'.'.repeat(24)}]  20% 2.0/10.0 MB 2.0 MB/s ETA 4.0 s`,
      `${ERASE}onnx/model.onnx [${'#'.repeat(12)}${'.'.repeat(18)}]  40% 4.0/10.0 MB 2.0 MB/s ETA 3.0 s`,
      `${ERASE}onnx/model.onnx [${'#'.repeat(30)}] 100% 10.0/10.0 MB 2.0 MB/s ETA 0.0 s`,
      `${ERASE}onnx/model.onnx [${'#'.repeat(30)}] 100% 10.0/10.0 MB in 5.0 s`,
      '\n',
    ]);
  });

  it('redraws at most once per redraw interval however often it is updated', () => {
    const { writes, stream } = capture(true);
    const time = clock();
    const bar = progressBar(stream, { label: 'runs', total: 1000, now: time.now, redrawMs: 100 });
    for (let done = 1; done <= 1000; done += 1) {
      time.advance(1);
      bar.update(done);
    }
    // 1000 updates over 1 s of clock: one draw per 100 ms.
    expect(writes).toHaveLength(10);
  });

  it('counts the rate from the first update, so bytes already on disk do not inflate it', () => {
    const { writes, stream } = capture(true);
    const time = clock();
    const bar = progressBar(stream, { label: 'f', total: 100_000_000, unit: 'bytes', now: time.now });
    time.advance(5000);
    bar.update(50_000_000);
    time.advance(1000);
    bar.update(60_000_000);
    expect(writes.at(-1)).toBe(`${ERASE}f [${'#'.repeat(18)}${'.'.repeat(12)}]  60% 60.0/100.0 MB 10.0 MB/s ETA 4.0 s`);
  });

  it('writes a log line above the bar and redraws the bar below it', () => {
    const { writes, stream } = capture(true);
    const time = clock();
    const bar = progressBar(stream, { label: 'runs', total: 4, now: time.now });
    time.advance(1000);
    bar.update(1);
    bar.log('rep 1/4 raw loop: 27.5 tok/s');
    expect(writes.slice(-2)).toEqual([`${ERASE}rep 1/4 raw loop: 27.5 tok/s\n`, `${ERASE}runs [${'#'.repeat(8)}${'.'.repeat(22)}]  25% 1/4`]);
  });

  it('shows counts of a million and more in millions', () => {
    const { writes, stream } = capture(true);
    const time = clock();
    const bar = progressBar(stream, { label: 'weights', total: 124_320_000, now: time.now });
    bar.update(0);
    time.advance(2000);
    bar.update(12_432_000);
    expect(writes.at(-1)).toBe(`${ERASE}weights [${'#'.repeat(3)}${'.'.repeat(27)}]  10% 12.4M/124.3M 6.2M/s ETA 18.0 s`);
  });
});

describe('progressBar without a terminal', () => {
  it('writes a plain line at each quarter with the ETA and a last one with the time taken, never a control character', () => {
    const { writes, stream } = capture(false);
    const time = clock();
    const bar = progressBar(stream, { label: 'onnx/model.onnx', total: 1e7, unit: 'bytes', now: time.now });
    for (let received = 0; received <= 100; received += 5) {
      bar.update(received * 1e5);
      time.advance(100);
    }
    bar.finish();
    expect(writes).toEqual([
      'onnx/model.onnx: 0.0/10.0 MB (0%)\n',
      // 5 MB/s from the first update on.
      'onnx/model.onnx: 2.5/10.0 MB (25%), ETA 1.5 s\n',
      'onnx/model.onnx: 5.0/10.0 MB (50%), ETA 1.0 s\n',
      'onnx/model.onnx: 7.5/10.0 MB (75%), ETA 0.5 s\n',
      'onnx/model.onnx: 10.0/10.0 MB (100%) in 2.1 s\n',
    ]);
  });

  it('says where a bar stopped when it is finished short, and ignores updates after finish', () => {
    const { writes, stream } = capture(false);
    const time = clock();
    const bar = progressBar(stream, { label: 'memory run', total: 50_000, now: time.now });
    bar.update(30_000);
    time.advance(1500);
    bar.finish();
    bar.update(50_000);
    bar.finish();
    expect(writes).toEqual(['memory run: 30000/50000 (60%)\n', 'memory run: 30000/50000 (60%) in 1.5 s\n']);
  });

  it('writes log lines as they are', () => {
    const { writes, stream } = capture(false);
    progressBar(stream, { label: 'runs', total: 2 }).log('rep 1/2 done');
    expect(writes.at(-1)).toBe('rep 1/2 done\n');
  });

  it('treats an empty total as complete', () => {
    const { writes, stream } = capture(false);
    const bar = progressBar(stream, { label: 'config.json', total: 0, unit: 'bytes', now: () => 0 });
    bar.finish();
    expect(writes).toEqual(['config.json: 0.0/0.0 MB (100%) in 0.0 s\n']);
  });
});

describe('stepTimer', () => {
  function timer(total?: number) {
    const lines: string[] = [];
    const time = clock();
    const ticks: Array<() => void> = [];
    const timed = stepTimer((line) => lines.push(line), {
      ...(total === undefined ? {} : { total }),
      now: time.now,
      heartbeatMs: 30_000,
      every: (_ms, tick) => {
        ticks.push(tick);
        return () => ticks.splice(ticks.indexOf(tick), 1);
      },
    });
    // Moves the clock by one heartbeat and fires the heartbeats still registered.
    const beat = () => {
      time.advance(30_000);
      for (const tick of [...ticks]) tick();
    };
    return { lines, time, timed, beat, ticks };
  }

  it('numbers the steps, says how long each took, and how it ended', () => {
    const { lines, time, timed } = timer(2);
    const build = timed.start('build the image');
    time.advance(72_000);
    expect(build.end('done')).toBe(72);
    const smoke = timed.start('smoke test');
    time.advance(3_200);
    smoke.end('failed');
    expect(lines).toEqual([
      '==> [1/2] build the image',
      '<== [1/2] build the image: done in 1m 12s',
      '==> [2/2] smoke test',
      '<== [2/2] smoke test: failed after 3.2 s',
    ]);
  });

  it('says a long step is still running at every heartbeat, and stops once it ends', () => {
    const { lines, timed, beat, ticks } = timer();
    const step = timed.start('wait for /ready');
    beat();
    beat();
    step.end('done');
    step.end('done');
    expect(ticks).toHaveLength(0);
    expect(lines).toEqual([
      '==> [1] wait for /ready',
      '... [1] wait for /ready: still running (30.0 s)',
      '... [1] wait for /ready: still running (1m 00s)',
      '<== [1] wait for /ready: done in 1m 00s',
    ]);
  });
});
