// The connection state both implementations keep, and the listeners the call view registers.
import type { ConnectionState, EndReason } from "./index.ts";

export class SessionState {
  state: ConnectionState = "idle";
  endReason: EndReason | null = null;
  private readonly listeners = new Set<(state: ConnectionState) => void>();

  listen(listener: (state: ConnectionState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Whether the session is over for good: nothing it does after this is seen. */
  get finished(): boolean {
    return this.state === "ended" || this.state === "failed";
  }

  set(state: ConnectionState): void {
    if (state === this.state) return;
    this.state = state;
    for (const listener of [...this.listeners]) listener(state);
  }

  end(reason: EndReason): void {
    if (this.finished) return;
    this.endReason = reason;
    this.set("ended");
  }
}
