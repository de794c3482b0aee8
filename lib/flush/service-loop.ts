/**
 * The skeleton shared by the flush services: run `step` every `intervalMs`,
 * or right away on `wakeup()`, one step at a time, until stopped. An error
 * from a step stops the loop and goes, as it was thrown, to `onError` (the
 * store poisons itself); it is never retried silently.
 */
export class ServiceLoop {
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private running: Promise<void> | undefined;
  private wakeRequested = false;
  private stopped = false;

  constructor(
    private readonly intervalMs: number,
    private readonly step: () => Promise<void>,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    this.scheduleTimer();
  }

  /** Runs a step as soon as possible: now, or right after the one in flight. */
  wakeup(): void {
    if (this.stopped) return;
    if (this.running !== undefined) {
      this.wakeRequested = true;
    } else if (this.immediate === undefined) {
      // setImmediate, not setTimeout(0): the next turn of the loop, not ≥ 1 ms later.
      this.immediate = setImmediate(() => {
        this.immediate = undefined;
        this.runStep();
      });
    }
  }

  /** Stops the loop; resolves when the step in flight (if any) has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clearScheduled();
    await this.running;
  }

  /** Resolves when the step in flight (if any) has ended. */
  async idle(): Promise<void> {
    await this.running;
  }

  private clearScheduled(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }

  private scheduleTimer(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.runStep();
    }, this.intervalMs);
    this.timer.unref(); // a store left open does not keep the process alive
  }

  private runStep(): void {
    if (this.stopped || this.running !== undefined) return;
    this.clearScheduled();
    this.wakeRequested = false;
    this.running = this.step().then(
      () => {
        this.running = undefined;
        if (this.wakeRequested) this.wakeup();
        else this.scheduleTimer();
      },
      (err: unknown) => {
        this.running = undefined;
        this.stopped = true;
        this.onError(err);
      },
    );
  }
}
