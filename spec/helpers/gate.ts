/** A gate specs hold calls behind: pass() waits until open(); once open, it stays open. */
export class Gate {
  private opened = false;
  private waiters: Array<() => void> = [];
  pass(): Promise<void> {
    return this.opened ? Promise.resolve() : new Promise<void>((resolve) => this.waiters.push(resolve));
  }
  open(): void {
    this.opened = true;
    for (const resume of this.waiters.splice(0)) resume();
  }
}
