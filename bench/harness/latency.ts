/** Latency samples with a bounded memory: a reservoir of at most `capacity` samples (Vitter's algorithm R). */
export class LatencyRecorder {
  private readonly samples: Float64Array;
  private count = 0;
  private maxValue = 0;
  private seed = 0x9e3779b9;

  constructor(capacity = 200_000) {
    this.samples = new Float64Array(capacity);
  }

  record(ms: number): void {
    if (ms > this.maxValue) this.maxValue = ms;
    if (this.count < this.samples.length) {
      this.samples[this.count] = ms;
    } else {
      // xorshift32: cheap, deterministic, good enough to pick a slot.
      this.seed ^= this.seed << 13;
      this.seed ^= this.seed >>> 17;
      this.seed ^= this.seed << 5;
      const slot = (this.seed >>> 0) % (this.count + 1);
      if (slot < this.samples.length) this.samples[slot] = ms;
    }
    this.count += 1;
  }

  get size(): number {
    return this.count;
  }

  /** Percentiles (0–100) and the true max, in ms. */
  summary(percentiles: readonly number[] = [50, 90, 99, 99.9]): { count: number; max: number; percentiles: Record<string, number> } {
    const kept = Math.min(this.count, this.samples.length);
    const sorted = Float64Array.from(this.samples.subarray(0, kept)).sort();
    const result: Record<string, number> = {};
    for (const p of percentiles) result[`p${p}`] = kept === 0 ? 0 : sorted[Math.min(kept - 1, Math.floor((p / 100) * kept))]!;
    return { count: this.count, max: this.maxValue, percentiles: result };
  }
}
