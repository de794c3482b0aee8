/**
 * Counts event-loop turns while code runs: a setImmediate re-armed each
 * turn counts them whatever the clock does, so a spec can tell code that
 * lets the loop turn from code that holds it (no timing thresholds).
 */
export function countEventLoopTurns(): { readonly turns: number; stop(): number } {
  let turns = 0;
  let counting = true;
  const count = () => {
    turns += 1;
    if (counting) setImmediate(count);
  };
  setImmediate(count);
  return {
    get turns() {
      return turns;
    },
    stop() {
      counting = false;
      return turns;
    },
  };
}
