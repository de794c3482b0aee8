/**
 * Measures how long the event loop was kept from running while `work` ran:
 * a histogram from perf_hooks (resolution 1 ms) plus our own 1 ms ticker,
 * whose worst lateness is the figure we report (it also catches a single
 * long stall the histogram's sampling could blur).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface EventLoopDelay {
  /** Worst lateness of a 1 ms timer, in ms. */
  maxMs: number;
  /** perf_hooks histogram p99, in ms. */
  p99Ms: number;
}

export async function measureEventLoopDelay<T>(work: () => Promise<T>): Promise<{ result: T; delay: EventLoopDelay }> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  let worstMs = 0;
  let last = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    worstMs = Math.max(worstMs, now - last - 1);
    last = now;
  }, 1);
  histogram.enable();
  try {
    const result = await work();
    return { result, delay: { maxMs: Math.max(0, worstMs), p99Ms: histogram.percentile(99) / 1e6 } };
  } finally {
    clearInterval(ticker);
    histogram.disable();
  }
}
