/**
 * Progress for a long run: a redrawn bar on a terminal, plain lines
 * otherwise (CI logs, pipes). Always on stderr, so stdout stays the report.
 */
export class Progress {
  private readonly tty = Boolean(process.stderr.isTTY);
  private step = 0;

  constructor(private readonly totalSteps: number) {}

  /** Starts the next step. */
  start(label: string): void {
    this.step += 1;
    const prefix = `[${this.step}/${this.totalSteps}]`;
    if (this.tty) {
      const width = 24;
      const filled = Math.round((width * (this.step - 1)) / this.totalSteps);
      process.stderr.write(`\r\x1b[2K${prefix} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${label}`);
    } else {
      process.stderr.write(`${prefix} ${label}\n`);
    }
  }

  done(): void {
    if (this.tty) process.stderr.write('\r\x1b[2K');
  }
}
