// Video behind one interface. In AWS the Chime SDK runs it; locally peers connect over loopback
// through the signalling relay, since Chime's media servers cannot be stood in for. Which one runs
// comes from config.json; each implementation is loaded only when a call view needs it.

export type ConnectionState = "idle" | "connecting" | "connected" | "reconnecting" | "ended" | "failed";

/** Why a call ended: the caller left, the clinic ended the visit, or this attendee was removed. */
export type EndReason = "left" | "meeting-ended" | "removed";

/** POST /v1/join's answer: the Meeting and this caller's own Attendee, as CreateMeeting returns them. */
export interface JoinInfo {
  Meeting: Record<string, any>;
  Attendee: Record<string, any>;
}

export interface VideoStats {
  framesDecoded: number;
  framesSent: number;
  bytesReceived: number;
  roundTripMs: number | null;
}

export interface VideoSession {
  readonly state: ConnectionState;
  /** Set when `state` becomes "ended"; the call view tells the person why. */
  readonly endReason: EndReason | null;
  onStateChange(listener: (state: ConnectionState) => void): () => void;
  join(info: JoinInfo): Promise<void>;
  bindLocalVideo(element: HTMLVideoElement): void;
  bindRemoteVideo(element: HTMLVideoElement): void;
  /** The microphone. */
  setMuted(muted: boolean): void;
  setCameraEnabled(enabled: boolean): void;
  leave(): Promise<void>;
  stats(): Promise<VideoStats>;
}

export type VideoImplementation = "loopback" | "chime";

export async function createVideoSession(implementation: VideoImplementation): Promise<VideoSession> {
  if (implementation === "chime") {
    const { createChimeVideoSession } = await import("./chime.ts");
    return createChimeVideoSession();
  }
  const { LoopbackVideoSession } = await import("./loopback.ts");
  return new LoopbackVideoSession();
}
