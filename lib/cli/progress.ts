/**
 * A one-line progress bar on stderr, drawn only when stderr is a terminal
 * (never in pipes, logs or tests), redrawn at most every REDRAW_MS.
 */
const REDRAW_MS = 100;
const BAR_WIDTH = 30;

export class ProgressBar {
  private readonly enabled: boolean;
  private lastDrawMs = 0;
  private drawn = false;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.enabled = stream.isTTY === true && total > 0;
  }

  /** Records `done` of `total`; redraws if enough time has passed. */
  update(done: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDrawMs < REDRAW_MS) return;
    this.lastDrawMs = now;
    const fraction = Math.max(0, Math.min(1, done / this.total));
    const filled = Math.round(fraction * BAR_WIDTH);
    const bar = '#'.repeat(filled) + '-'.repeat(BAR_WIDTH - filled);
    this.stream.write(`\r${this.label} [${bar}] ${(fraction * 100).toFixed(1).padStart(5)} %  ${humanBytes(done)} / ${humanBytes(this.total)}\u001b[K`);
    this.drawn = true;
  }

  /** Erases the bar. */
  finish(): void {
    if (this.enabled && this.drawn) this.stream.write('\r\u001b[K');
    this.drawn = false;
  }
}

/** 1536 → "1.5 KiB". */
export function humanBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}
