/** Peak RSS and JS heap while a piece of work runs, sampled every 50 ms. */
import { getHeapStatistics } from 'node:v8';

export interface MemoryFigures {
  peakRssBytes: number;
  peakHeapUsedBytes: number;
  /** Heap in use after the work, after a full GC when node runs with --expose-gc. */
  heapUsedAfterBytes: number;
}

function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) gc();
}

export async function measureMemory<T>(work: () => Promise<T>): Promise<{ result: T; memory: MemoryFigures }> {
  let peakRss = process.memoryUsage.rss();
  let peakHeap = getHeapStatistics().used_heap_size;
  const timer = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    peakHeap = Math.max(peakHeap, getHeapStatistics().used_heap_size);
  }, 50);
  try {
    const result = await work();
    collectGarbage();
    return { result, memory: { peakRssBytes: peakRss, peakHeapUsedBytes: peakHeap, heapUsedAfterBytes: getHeapStatistics().used_heap_size } };
  } finally {
    clearInterval(timer);
  }
}
