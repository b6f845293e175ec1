// Progress of long command-line work, shared by model:fetch, model:make, deploy and the benchmarks:
// a bar redrawn in place on a terminal (plain lines when not a TTY, e.g. CI logs) and timed steps.

/** Where progress is written: process.stderr, or anything with the same shape (tests). */
export interface ProgressStream {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

export interface BarOptions {
  /** What is being counted, shown first: a file name, "weights", "runs". */
  readonly label: string;
  /** The amount at 100%. */
  readonly total: number;
  /** How an amount reads. @default whole numbers */
  readonly unit?: 'bytes' | 'count';
  /** Milliseconds since some fixed point. @default performance.now */
  readonly now?: () => number;
  /** Fewest milliseconds between two redraws on a terminal, so a hot loop does not flood it. @default 100 */
  readonly redrawMs?: number;
}

export interface ProgressBar {
  /** `done` is the absolute amount so far (not an increment). */
  update(done: number): void;
  /** A line of its own above the bar (on a terminal the bar is redrawn below it). */
  log(line: string): void;
  /** Shows the final state and ends the bar's line; later calls do nothing. */
  finish(): void;
}

const BAR_WIDTH = 30;
/** Carriage return, then erase to the end of the line (a shorter redraw leaves no tail). */
const REDRAW = '\r\x1b[K';

/** Seconds as a person reads them: "0.4 s", "12.3 s", "2m 05s", "1h 02m". */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const whole = Math.round(seconds);
  const pad = (value: number) => String(value).padStart(2, '0');
  if (whole < 3600) return `${Math.floor(whole / 60)}m ${pad(whole % 60)}s`;
  return `${Math.floor(whole / 3600)}h ${pad(Math.floor((whole % 3600) / 60))}m`;
}

/** Bytes in MB; counts as whole numbers, in millions from a million on (weights: "64.5M"). */
function amount(value: number, unit: 'bytes' | 'count'): string {
  if (unit === 'bytes') return (value / 1e6).toFixed(1);
  return value >= 1e6 ? `${(value / 1e6).toFixed(1)}M` : String(Math.round(value));
}

/**
 * On a terminal: one line redrawn in place, `label [####......] 40% 4.0/10.0 MB 2.1 MB/s ETA 3.0 s`.
 * Elsewhere: a plain line on reaching 0%, 25%, 50% and 75% (`label: 5.0/10.0 MB (50%), ETA 3.0 s`), so
 * a CI log shows progress without thousands of lines, and one at finish() saying how long it took.
 */
export function progressBar(stream: ProgressStream, options: BarOptions): ProgressBar {
  const { label, total } = options;
  const unit = options.unit ?? 'count';
  const now = options.now ?? (() => performance.now());
  const redrawMs = options.redrawMs ?? 100;
  const suffix = unit === 'bytes' ? ' MB' : '';
  const started = now();
  let done = 0;
  // The rate counts from the first update on: what it reports (a resumed download's bytes already on
  // disk, work done before the first report) was not done at this rate.
  let base: { amount: number; at: number } | undefined;
  let finished = false;
  let lastDraw = Number.NEGATIVE_INFINITY;
  let lastQuarter = -1;
  let drawn = false;

  const fraction = (): number => (total <= 0 ? 1 : Math.min(1, Math.max(0, done / total)));
  const counts = (): string => `${amount(done, unit)}/${amount(total, unit)}${suffix}`;

  /** Rate and ETA from the first update on, once there is something to count from. */
  const pace = (): { rate: number; eta: number } | undefined => {
    if (base === undefined || done <= base.amount || now() <= base.at) return undefined;
    const rate = (done - base.amount) / ((now() - base.at) / 1000);
    return { rate, eta: Math.max(0, total - done) / rate };
  };

  const terminalLine = (): string => {
    const filled = Math.round(fraction() * BAR_WIDTH);
    const percent = `${Math.floor(fraction() * 100)}%`.padStart(4);
    const parts = [`${label} [${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${percent} ${counts()}`];
    const current = pace();
    if (finished) parts.push(`in ${formatDuration((now() - started) / 1000)}`);
    else if (current !== undefined) {
      const { rate, eta } = current;
      parts.push(unit === 'bytes' ? `${(rate / 1e6).toFixed(1)} MB/s` : rate >= 1e6 ? `${amount(rate, unit)}/s` : `${rate.toFixed(rate < 10 ? 2 : 0)}/s`);
      parts.push(`ETA ${formatDuration(eta)}`);
    }
    return parts.join(' ');
  };

  const plainLine = (): string => {
    const current = pace();
    const tail = finished ? ` in ${formatDuration((now() - started) / 1000)}` : current === undefined ? '' : `, ETA ${formatDuration(current.eta)}`;
    return `${label}: ${counts()} (${Math.floor(fraction() * 100)}%)${tail}\n`;
  };

  const draw = (force: boolean): void => {
    if (stream.isTTY) {
      const at = now();
      if (!force && at - lastDraw < redrawMs) return;
      lastDraw = at;
      stream.write(`${REDRAW}${terminalLine()}`);
      drawn = true;
      return;
    }
    // Quarters 0-3 while running; the 100% line is finish()'s, with the time it took.
    const quarter = Math.floor(fraction() * 4);
    if (quarter === lastQuarter || quarter === 4) return;
    lastQuarter = quarter;
    stream.write(plainLine());
  };

  return {
    update(value) {
      if (finished) return;
      base ??= { amount: value, at: now() };
      done = value;
      draw(false);
    },
    log(line) {
      if (stream.isTTY && drawn && !finished) {
        stream.write(`${REDRAW}${line}\n`);
        draw(true);
        return;
      }
      stream.write(`${line}\n`);
    },
    finish() {
      if (finished) return;
      finished = true;
      if (stream.isTTY) {
        draw(true);
        stream.write('\n');
        return;
      }
      stream.write(plainLine());
    },
  };
}

export interface StepTimerOptions {
  /** Steps in all, for "[2/5]"; @default unknown (then just the step's number) */
  readonly total?: number;
  /** @default performance.now */
  readonly now?: () => number;
  /** A "still running" line this often while a step runs (a silent wait shows it is alive). @default 30000 */
  readonly heartbeatMs?: number;
  /** Calls `tick` every `ms` until the returned function is called. @default setInterval, unref'd */
  readonly every?: (ms: number, tick: () => void) => () => void;
}

export interface TimedStep {
  /** Prints how the step ended and how long it took; returns the seconds. */
  end(outcome: 'done' | 'failed'): number;
}

export interface StepTimer {
  start(title: string): TimedStep;
}

function everyInterval(ms: number, tick: () => void): () => void {
  const timer = setInterval(tick, ms);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Numbered, timed steps as lines (they interleave with the tools' own output, so nothing is redrawn):
 *   ==> [2/5] deploy the stack
 *   ... [2/5] deploy the stack: still running (1m 00s)
 *   <== [2/5] deploy the stack: done in 1m 12s
 */
export function stepTimer(output: (line: string) => void, options: StepTimerOptions = {}): StepTimer {
  const now = options.now ?? (() => performance.now());
  const heartbeatMs = options.heartbeatMs ?? 30_000;
  const every = options.every ?? everyInterval;
  let count = 0;
  return {
    start(title) {
      count += 1;
      const tag = options.total === undefined ? `[${count}]` : `[${count}/${options.total}]`;
      const started = now();
      const elapsed = (): number => (now() - started) / 1000;
      output(`==> ${tag} ${title}`);
      const stop = every(heartbeatMs, () => output(`... ${tag} ${title}: still running (${formatDuration(elapsed())})`));
      let ended = false;
      return {
        end(outcome) {
          const seconds = elapsed();
          if (ended) return seconds;
          ended = true;
          stop();
          output(`<== ${tag} ${title}: ${outcome === 'done' ? 'done in' : 'failed after'} ${formatDuration(seconds)}`);
          return seconds;
        },
      };
    },
  };
}
