// Placeholder until the chime implementation lands: it refuses to join rather than pretend.
import type { ConnectionState, JoinInfo, VideoSession, VideoStats } from "./index.ts";

export class ChimeVideoSession implements VideoSession {
  readonly state: ConnectionState = "failed";
  onStateChange(): () => void {
    return () => undefined;
  }
  async join(_info: JoinInfo): Promise<void> {
    throw new Error("Video is not available yet.");
  }
  bindLocalVideo(): void {}
  bindRemoteVideo(): void {}
  setMuted(): void {}
  setCameraEnabled(): void {}
  async leave(): Promise<void> {}
  async stats(): Promise<VideoStats> {
    return { framesDecoded: 0, framesSent: 0, bytesReceived: 0, roundTripMs: null };
  }
}
