// Notices a worker that stopped making progress: no message from it for `timeoutMs` while requests
// are in flight (a hung onnxruntime call, a stopped process). Idle time never counts.
export class Watchdog {
  private lastProgress = performance.now();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly timeoutMs: number,
    private readonly busy: () => boolean,
    private readonly onHung: (silentMs: number) => void,
  ) {
    this.timer = setInterval(() => this.check(), Math.max(50, Math.min(1000, timeoutMs / 4)));
    this.timer.unref();
  }

  /** The worker did something (any message), or work just became pending. */
  progress(): void {
    this.lastProgress = performance.now();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private check(): void {
    const silentMs = performance.now() - this.lastProgress;
    if (this.busy() && silentMs > this.timeoutMs) {
      this.lastProgress = performance.now();
      this.onHung(silentMs);
    }
  }
}
