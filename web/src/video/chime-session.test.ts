// The Chime session's own decisions against a FAKE meeting session: no network, no browser, no
// Chime. Whether the SDK really connects is for the runbook in docs/operations.md.
import { describe, expect, it } from "vitest";
import {
  ChimeVideoSession,
  type ChimeAudioVideo,
  type ChimeObserver,
  type ChimeStatusCodes,
  type ChimeTileState,
} from "./chime-session.ts";

// The SDK's values, so the fake speaks as the SDK does (MeetingSessionStatusCode in 3.32).
const CODES: ChimeStatusCodes = {
  Left: 1,
  AudioJoinedFromAnotherDevice: 2,
  AudioAuthenticationRejected: 3,
  MeetingEnded: 5,
  AudioAttendeeRemoved: 22,
};
const SIGNALING_CHANNEL_CLOSED = 14;

class FakeAudioVideo implements ChimeAudioVideo {
  calls: string[] = [];
  observers = new Set<ChimeObserver>();
  bound = new Map<number, HTMLVideoElement>();
  audioElement: HTMLAudioElement | null = null;
  microphones = [{ deviceId: "mic-1" }] as MediaDeviceInfo[];
  cameras = [{ deviceId: "cam-1" }] as MediaDeviceInfo[];
  refuseDevices: string | null = null;
  framesDecoded = 0;
  presence = new Set<(attendeeId: string, present: boolean) => void>();

  addObserver(observer: ChimeObserver): void {
    this.observers.add(observer);
  }
  removeObserver(observer: ChimeObserver): void {
    this.observers.delete(observer);
  }
  async listAudioInputDevices() {
    return this.microphones;
  }
  async listVideoInputDevices() {
    return this.cameras;
  }
  async startAudioInput(device: unknown) {
    if (this.refuseDevices) throw Object.assign(new Error("refused"), { name: this.refuseDevices });
    this.calls.push(`startAudioInput ${JSON.stringify(device)}`);
    return undefined;
  }
  async startVideoInput(device: unknown) {
    this.calls.push(`startVideoInput ${JSON.stringify(device)}`);
    return undefined;
  }
  async stopAudioInput() {
    this.calls.push("stopAudioInput");
  }
  async stopVideoInput() {
    this.calls.push("stopVideoInput");
  }
  async bindAudioElement(element: HTMLAudioElement) {
    this.audioElement = element;
    this.calls.push("bindAudioElement");
  }
  unbindAudioElement(): void {
    this.calls.push("unbindAudioElement");
  }
  bindVideoElement(tileId: number, element: HTMLVideoElement): void {
    this.bound.set(tileId, element);
  }
  start(): void {
    this.calls.push("start");
  }
  stop(): void {
    this.calls.push("stop");
  }
  realtimeMuteLocalAudio(): void {
    this.calls.push("realtimeMuteLocalAudio");
  }
  realtimeUnmuteLocalAudio(): boolean {
    this.calls.push("realtimeUnmuteLocalAudio");
    return true;
  }
  startLocalVideoTile(): number {
    this.calls.push("startLocalVideoTile");
    return 1;
  }
  stopLocalVideoTile(): void {
    this.calls.push("stopLocalVideoTile");
  }
  async getRTCPeerConnectionStats() {
    const entries = [
      { id: "in-v", type: "inbound-rtp", kind: "video", framesDecoded: this.framesDecoded, bytesReceived: 500 },
      { id: "in-a", type: "inbound-rtp", kind: "audio", bytesReceived: 100 },
      { id: "out", type: "outbound-rtp", kind: "video", framesSent: 30 },
      { id: "pair", type: "candidate-pair", state: "succeeded", nominated: true, currentRoundTripTime: 0.0425 },
    ];
    return { forEach: (callback: (entry: any) => void) => entries.forEach(callback) };
  }

  realtimeSubscribeToAttendeeIdPresence(callback: (attendeeId: string, present: boolean) => void): void {
    this.presence.add(callback);
  }
  realtimeUnsubscribeToAttendeeIdPresence(callback: (attendeeId: string, present: boolean) => void): void {
    this.presence.delete(callback);
  }

  // the SDK's side
  present(attendeeId: string, present = true): void {
    for (const callback of this.presence) callback(attendeeId, present);
  }
  emit<K extends keyof ChimeObserver>(event: K, ...args: Parameters<NonNullable<ChimeObserver[K]>>): void {
    for (const observer of this.observers) (observer[event] as ((...a: unknown[]) => void) | undefined)?.(...args);
  }
  stopWith(code: number): void {
    this.emit("audioVideoDidStop", { statusCode: () => code });
  }
}

const INFO = {
  Meeting: { MeetingId: "m-1", MediaPlacement: { AudioHostUrl: "audio.example", SignalingUrl: "wss://signal.example" } },
  Attendee: { AttendeeId: "a-patient", JoinToken: "token" },
};

function harness() {
  const audioVideo = new FakeAudioVideo();
  const created: unknown[] = [];
  const session = new ChimeVideoSession({
    createMeetingSession: (info) => {
      created.push(info);
      return { audioVideo };
    },
    statusCodes: CODES,
    createAudioElement: () => ({ kind: "audio element" }) as unknown as HTMLAudioElement,
  });
  const states: string[] = [];
  session.onStateChange((state) => states.push(state));
  return { session, audioVideo, created, states };
}

const tile = (tileId: number, localTile: boolean, boundAttendeeId: string | null = "someone"): ChimeTileState => ({
  tileId,
  localTile,
  isContent: false,
  boundAttendeeId,
});
const element = (name: string) => ({ name, muted: false }) as unknown as HTMLVideoElement;
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

async function connected(h: ReturnType<typeof harness>) {
  const joining = h.session.join(INFO);
  await settle();
  h.audioVideo.emit("audioVideoDidStartConnecting", false);
  h.audioVideo.emit("audioVideoDidStart");
  h.audioVideo.present("a-patient"); // Chime reports this attendee too
  h.audioVideo.present("a-provider");
  await joining;
}

describe("joining a Chime meeting", () => {
  it("starts the microphone and camera, then the meeting and the local tile", async () => {
    const h = harness();
    await connected(h);
    expect(h.created).toEqual([INFO]);
    expect(h.audioVideo.calls).toEqual([
      'startAudioInput "mic-1"',
      'startVideoInput "cam-1"',
      "bindAudioElement",
      "start",
      "startLocalVideoTile",
    ]);
    expect(h.states).toEqual(["connecting", "connected"]);
    expect(h.session.state).toBe("connected");
  });

  it("binds the remote tile to the remote element and the local tile to the local one", async () => {
    const h = harness();
    const local = element("local");
    const remote = element("remote");
    h.session.bindLocalVideo(local);
    await connected(h);
    h.audioVideo.emit("videoTileDidUpdate", tile(1, true));
    h.audioVideo.emit("videoTileDidUpdate", tile(2, false, null)); // not yet anyone's: nothing
    expect(h.audioVideo.bound.has(2)).toBe(false);
    h.audioVideo.emit("videoTileDidUpdate", { ...tile(3, false), isContent: true }); // a shared screen
    h.audioVideo.emit("videoTileDidUpdate", tile(2, false));
    // The remote element may come after its tile: it is bound when it comes.
    h.session.bindRemoteVideo(remote);
    expect(h.audioVideo.bound.get(1)).toBe(local);
    expect(h.audioVideo.bound.get(2)).toBe(remote);
    expect(h.audioVideo.bound.has(3)).toBe(false);
    expect(local.muted).toBe(true);
  });

  it("says in words when the camera or microphone is refused, and starts no meeting", async () => {
    const h = harness();
    h.audioVideo.refuseDevices = "NotAllowedError";
    await expect(h.session.join(INFO)).rejects.toThrow(/not allowing this page to use your camera/);
    expect(h.session.state).toBe("failed");
    expect(h.audioVideo.calls).not.toContain("start");
  });

  it("with no camera at all says none was found", async () => {
    const h = harness();
    h.audioVideo.cameras = [];
    await expect(h.session.join(INFO)).rejects.toThrow(/No camera or microphone was found/);
  });

  it("is connected once the other person is in the meeting, not when Chime's servers answer", async () => {
    const h = harness();
    const joining = h.session.join(INFO);
    await settle();
    h.audioVideo.emit("audioVideoDidStartConnecting", false);
    h.audioVideo.emit("audioVideoDidStart");
    await joining;
    h.audioVideo.present("a-patient");
    h.audioVideo.present("a-provider#content"); // a shared screen is not a person
    expect(h.session.state).toBe("connecting");
    h.audioVideo.present("a-provider");
    expect(h.session.state).toBe("connected");
    h.audioVideo.present("a-provider", false);
    expect(h.session.state).toBe("connecting");
  });

  it("a reconnect is shown as reconnecting, then connected", async () => {
    const h = harness();
    await connected(h);
    h.audioVideo.emit("audioVideoDidStartConnecting", true);
    expect(h.session.state).toBe("reconnecting");
    h.audioVideo.emit("audioVideoDidStart");
    expect(h.session.state).toBe("connected");
  });
});

describe("during the call", () => {
  it("mute and unmute go through Chime's realtime mute", async () => {
    const h = harness();
    await connected(h);
    h.session.setMuted(true);
    h.session.setMuted(false);
    expect(h.audioVideo.calls.slice(-2)).toEqual(["realtimeMuteLocalAudio", "realtimeUnmuteLocalAudio"]);
  });

  it("a mute set before joining holds once the meeting starts", async () => {
    const h = harness();
    h.session.setMuted(true);
    await connected(h);
    expect(h.audioVideo.calls).toContain("realtimeMuteLocalAudio");
  });

  it("turning the camera off stops the tile and the camera; on starts both again", async () => {
    const h = harness();
    await connected(h);
    h.session.setCameraEnabled(false);
    h.session.setCameraEnabled(true);
    await settle();
    await settle();
    expect(h.audioVideo.calls.slice(-4)).toEqual([
      "stopLocalVideoTile",
      "stopVideoInput",
      'startVideoInput "cam-1"',
      "startLocalVideoTile",
    ]);
  });

  it("reads the statistics of Chime's peer connection", async () => {
    const h = harness();
    await connected(h);
    h.audioVideo.framesDecoded = 77;
    expect(await h.session.stats()).toEqual({ framesDecoded: 77, framesSent: 30, bytesReceived: 600, roundTripMs: 43 });
  });
});

describe("the end of a Chime call", () => {
  it("a stop with MeetingEnded ends the call as ended by the clinic and releases the devices", async () => {
    const h = harness();
    await connected(h);
    h.audioVideo.stopWith(CODES.MeetingEnded);
    await settle();
    expect(h.session.state).toBe("ended");
    expect(h.session.endReason).toBe("meeting-ended");
    expect(h.audioVideo.calls).toEqual(expect.arrayContaining(["stopVideoInput", "stopAudioInput", "unbindAudioElement"]));
  });

  it("a stop because the attendee was removed ends the call as removed", async () => {
    const h = harness();
    await connected(h);
    h.audioVideo.stopWith(CODES.AudioAttendeeRemoved);
    await settle();
    expect(h.session.endReason).toBe("removed");
  });

  it("a stop for a lost connection the SDK gave up on is a failure, not an end", async () => {
    const h = harness();
    await connected(h);
    h.audioVideo.stopWith(SIGNALING_CHANNEL_CLOSED);
    await settle();
    expect(h.session.state).toBe("failed");
    expect(h.session.endReason).toBeNull();
  });

  it("a join token Chime rejects fails the join in words", async () => {
    const h = harness();
    const joining = h.session.join(INFO);
    await settle();
    h.audioVideo.stopWith(CODES.AudioAuthenticationRejected);
    await expect(joining).rejects.toThrow(/no longer valid/);
  });

  it("leave stops the meeting and the devices, and the SDK's own stop after it changes nothing", async () => {
    const h = harness();
    await connected(h);
    await h.session.leave();
    expect(h.audioVideo.calls.slice(-4)).toEqual(["stop", "stopVideoInput", "stopAudioInput", "unbindAudioElement"]);
    expect(h.session.state).toBe("ended");
    expect(h.session.endReason).toBe("left");
    h.audioVideo.stopWith(CODES.Left);
    await settle();
    expect(h.states).toEqual(["connecting", "connected", "ended"]);
  });
});
