// What the call view says about the connection, for a patient on a phone as much as a clinician.
import type { ConnectionState, EndReason } from "./index.ts";

/** `wasConnected`: the call has been connected before, so connecting again means the other person
 * dropped out (or left) and this side waits for them, not that the call has yet to start. */
export function connectionInWords(state: ConnectionState, endReason: EndReason | null, wasConnected = false): string {
  switch (state) {
    case "idle":
      return "Getting the call ready…";
    case "connecting":
      if (wasConnected) return "The other person is no longer connected. Waiting for them to come back…";
      return "Connecting… The call starts when the other person joins.";
    case "connected":
      return "Connected.";
    case "reconnecting":
      return "The connection was lost. Reconnecting…";
    case "failed":
      return "The call could not connect.";
    case "ended":
      if (endReason === "meeting-ended") return "The visit has ended.";
      if (endReason === "removed") return "You were removed from the call.";
      return "You left the call.";
  }
}
