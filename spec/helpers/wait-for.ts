/** Polls `check` every `everyMs` until it holds; throws when it still does not after `timeoutMs`. */
export async function waitFor(check: () => boolean, timeoutMs = 5_000, everyMs = 10): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`still not so after ${timeoutMs} ms: ${check.toString()}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
