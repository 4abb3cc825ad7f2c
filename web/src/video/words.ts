// What the call view says about the connection, for a patient on a phone as much as a clinician.
import type { ConnectionState, EndReason } from "./index.ts";

export function connectionInWords(state: ConnectionState, endReason: EndReason | null): string {
  switch (state) {
    case "idle":
      return "Getting the call ready…";
    case "connecting":
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
