// The VideoSession on Amazon Chime's SDK, written against the few parts of the SDK it uses (the
// ports below) so that a unit test drives it with a fake meeting session. `chime.ts` plugs in the
// SDK itself; only that module imports it, so the SDK is loaded by the call view alone.
//
// UNTESTED AGAINST CHIME ITSELF: Chime's media servers cannot run here. The unit test covers this
// module's own decisions; docs/operations.md ("Verifying the Chime video in an AWS account") says
// how to see a real call work.
import type { ConnectionState, EndReason, JoinInfo, VideoSession, VideoStats } from "./index.ts";
import { devicesInWords } from "./devices.ts";
import { SessionState } from "./session-state.ts";
import { NO_STATS, summarizeStats, type StatsReportLike } from "./stats.ts";

/** The parts of the SDK's `MeetingSessionStatus`, `VideoTileState` and observer used here. */
export interface ChimeStatus {
  statusCode(): number;
}

export interface ChimeTileState {
  tileId: number | null;
  localTile: boolean;
  isContent: boolean;
  boundAttendeeId: string | null;
}

export interface ChimeObserver {
  audioVideoDidStartConnecting?(reconnecting: boolean): void;
  audioVideoDidStart?(): void;
  audioVideoDidStop?(status: ChimeStatus): void;
  videoTileDidUpdate?(tile: ChimeTileState): void;
  videoTileWasRemoved?(tileId: number): void;
}

/** The parts of the SDK's `AudioVideoFacade` used here. */
export interface ChimeAudioVideo {
  addObserver(observer: ChimeObserver): void;
  removeObserver(observer: ChimeObserver): void;
  listAudioInputDevices(): Promise<MediaDeviceInfo[]>;
  listVideoInputDevices(): Promise<MediaDeviceInfo[]>;
  startAudioInput(device: string | MediaTrackConstraints): Promise<unknown>;
  startVideoInput(device: string | MediaTrackConstraints): Promise<unknown>;
  stopAudioInput(): Promise<void>;
  stopVideoInput(): Promise<void>;
  bindAudioElement(element: HTMLAudioElement): Promise<void>;
  unbindAudioElement(): void;
  bindVideoElement(tileId: number, element: HTMLVideoElement): void;
  start(): void;
  stop(): void;
  realtimeMuteLocalAudio(): void;
  realtimeUnmuteLocalAudio(): unknown;
  startLocalVideoTile(): number;
  stopLocalVideoTile(): void;
  getRTCPeerConnectionStats(): Promise<StatsReportLike | null | undefined>;
  realtimeSubscribeToAttendeeIdPresence(callback: (attendeeId: string, present: boolean) => void): void;
  realtimeUnsubscribeToAttendeeIdPresence(callback: (attendeeId: string, present: boolean) => void): void;
}

export interface ChimeMeetingSession {
  readonly audioVideo: ChimeAudioVideo;
}

/** The status codes this module tells apart (the SDK's `MeetingSessionStatusCode`). */
export interface ChimeStatusCodes {
  Left: number;
  MeetingEnded: number;
  AudioAttendeeRemoved: number;
  AudioJoinedFromAnotherDevice: number;
  AudioAuthenticationRejected: number;
}

export interface ChimePorts {
  /** `new DefaultMeetingSession(new MeetingSessionConfiguration(Meeting, Attendee), logger, devices)`. */
  createMeetingSession(info: JoinInfo): ChimeMeetingSession;
  statusCodes: ChimeStatusCodes;
  /** Chime plays the other side's audio through an element of its own. */
  createAudioElement(): HTMLAudioElement;
}

export class ChimeVideoSession implements VideoSession {
  private readonly session = new SessionState();
  private audioVideo: ChimeAudioVideo | null = null;
  private localElement: HTMLVideoElement | null = null;
  private remoteElement: HTMLVideoElement | null = null;
  private localTileId: number | null = null;
  private remoteTileId: number | null = null;
  private videoDevice: string | MediaTrackConstraints = {};
  private muted = false;
  private cameraEnabled = true;
  // Camera switches take a moment each (the camera starts or stops); one at a time, in order.
  private camera: Promise<void> = Promise.resolve();
  private joining: { resolve: () => void; reject: (error: Error) => void } | null = null;
  // "Connected" means what it means in the loopback session: the other person is in the call, not
  // only this browser connected to Chime's media servers.
  private mediaUp = false;
  private ownAttendeeId = "";
  private readonly others = new Set<string>();
  private readonly presence = (attendeeId: string, present: boolean): void => {
    // A shared screen is an attendee of its own ("<id>#content"); it is not the other person.
    if (attendeeId === this.ownAttendeeId || attendeeId.includes("#content")) return;
    if (present) this.others.add(attendeeId);
    else this.others.delete(attendeeId);
    this.showConnection();
  };

  private readonly observer: ChimeObserver = {
    audioVideoDidStartConnecting: (reconnecting) => {
      this.mediaUp = false;
      if (!this.session.finished) this.session.set(reconnecting ? "reconnecting" : "connecting");
    },
    audioVideoDidStart: () => {
      if (this.session.finished) return;
      this.mediaUp = true;
      this.showConnection();
      this.joining?.resolve();
      this.joining = null;
    },
    audioVideoDidStop: (status) => void this.stopped(status.statusCode()),
    videoTileDidUpdate: (tile) => {
      // A tile without an attendee yet, or someone's shared screen, is not a face to show.
      if (tile.tileId === null || !tile.boundAttendeeId || tile.isContent) return;
      if (tile.localTile) {
        this.localTileId = tile.tileId;
        if (this.localElement) this.audioVideo?.bindVideoElement(tile.tileId, this.localElement);
      } else {
        this.remoteTileId = tile.tileId;
        if (this.remoteElement) this.audioVideo?.bindVideoElement(tile.tileId, this.remoteElement);
      }
    },
    videoTileWasRemoved: (tileId) => {
      if (tileId === this.remoteTileId) this.remoteTileId = null;
      if (tileId === this.localTileId) this.localTileId = null;
    },
  };

  constructor(private readonly ports: ChimePorts) {}

  get state(): ConnectionState {
    return this.session.state;
  }

  get endReason(): EndReason | null {
    return this.session.endReason;
  }

  onStateChange(listener: (state: ConnectionState) => void): () => void {
    return this.session.listen(listener);
  }

  async join(info: JoinInfo): Promise<void> {
    if (this.session.state !== "idle") throw new Error("This call has already been joined.");
    this.session.set("connecting");
    let audioVideo: ChimeAudioVideo;
    try {
      audioVideo = this.ports.createMeetingSession(info).audioVideo;
    } catch {
      this.session.set("failed");
      throw new Error("This visit cannot be joined from here. Please ask the clinic for a new link.");
    }
    this.audioVideo = audioVideo;
    this.ownAttendeeId = String(info.Attendee?.AttendeeId ?? "");
    audioVideo.addObserver(this.observer);
    audioVideo.realtimeSubscribeToAttendeeIdPresence(this.presence);
    try {
      const microphones = await audioVideo.listAudioInputDevices();
      const cameras = await audioVideo.listVideoInputDevices();
      if (microphones.length === 0 || cameras.length === 0) {
        throw Object.assign(new Error("no camera or microphone"), { name: "NotFoundError" });
      }
      // Before the browser has been allowed the devices it lists them without ids; then the
      // browser's default device it is.
      this.videoDevice = cameras[0]!.deviceId || {};
      await audioVideo.startAudioInput(microphones[0]!.deviceId || {});
      if (this.cameraEnabled) await audioVideo.startVideoInput(this.videoDevice);
      await audioVideo.bindAudioElement(this.ports.createAudioElement());
    } catch (error) {
      await this.releaseDevices();
      this.session.set("failed");
      throw new Error(devicesInWords(error));
    }
    if (this.session.finished) return; // left while the devices were starting
    const joined = new Promise<void>((resolve, reject) => (this.joining = { resolve, reject }));
    audioVideo.start();
    if (this.muted) audioVideo.realtimeMuteLocalAudio();
    if (this.cameraEnabled) audioVideo.startLocalVideoTile();
    return joined;
  }

  bindLocalVideo(element: HTMLVideoElement): void {
    this.localElement = element;
    element.muted = true;
    if (this.localTileId !== null) this.audioVideo?.bindVideoElement(this.localTileId, element);
  }

  bindRemoteVideo(element: HTMLVideoElement): void {
    this.remoteElement = element;
    if (this.remoteTileId !== null) this.audioVideo?.bindVideoElement(this.remoteTileId, element);
  }

  setMuted(muted: boolean): void {
    this.muted = muted;
    const audioVideo = this.audioVideo;
    if (!audioVideo || this.session.finished) return;
    if (muted) audioVideo.realtimeMuteLocalAudio();
    else audioVideo.realtimeUnmuteLocalAudio();
  }

  setCameraEnabled(enabled: boolean): void {
    this.cameraEnabled = enabled;
    const audioVideo = this.audioVideo;
    if (!audioVideo || this.session.finished) return;
    // Stopping the tile only stops sending; stopping the input too turns the camera's light off,
    // which is what a patient who turns the camera off expects.
    this.camera = this.camera
      .then(async () => {
        if (this.session.finished) return;
        if (enabled) {
          await audioVideo.startVideoInput(this.videoDevice);
          audioVideo.startLocalVideoTile();
        } else {
          audioVideo.stopLocalVideoTile();
          await audioVideo.stopVideoInput();
        }
      })
      .catch((error: unknown) => console.warn("video: the camera could not be switched:", (error as Error)?.name));
  }

  async leave(): Promise<void> {
    if (this.session.finished) return;
    const audioVideo = this.audioVideo;
    this.session.end("left");
    this.joining?.resolve();
    this.joining = null;
    audioVideo?.stop();
    await this.releaseDevices();
  }

  async stats(): Promise<VideoStats> {
    if (!this.audioVideo || this.session.finished) return { ...NO_STATS };
    return summarizeStats(await this.audioVideo.getRTCPeerConnectionStats());
  }

  private async stopped(code: number): Promise<void> {
    if (this.session.finished) return;
    const codes = this.ports.statusCodes;
    await this.releaseDevices();
    if (code === codes.Left) return this.finish("left");
    if (code === codes.MeetingEnded) return this.finish("meeting-ended");
    if (code === codes.AudioAttendeeRemoved) return this.finish("removed");
    // The same attendee joined from another window or device, which now has the call.
    if (code === codes.AudioJoinedFromAnotherDevice) return this.finish("left");
    // The SDK's MeetingSessionStatusCode (a number, nothing about the person): what the runbook asks for.
    console.warn("video: Chime stopped the session with status code", code);
    this.session.set("failed");
    const words =
      code === codes.AudioAuthenticationRejected
        ? "This visit link is no longer valid. Please ask the clinic for a new one."
        : "The call could not continue. Please check your internet connection and join again.";
    this.joining?.reject(new Error(words));
    this.joining = null;
  }

  private showConnection(): void {
    if (this.session.finished || !this.mediaUp) return;
    this.session.set(this.others.size > 0 ? "connected" : "connecting");
  }

  private finish(reason: EndReason): void {
    this.session.end(reason);
    this.joining?.resolve(); // the state says how it ended
    this.joining = null;
  }

  /** Turns the camera and microphone off: in v3 of the SDK stopping the meeting leaves them on. */
  private async releaseDevices(): Promise<void> {
    const audioVideo = this.audioVideo;
    if (!audioVideo) return;
    audioVideo.realtimeUnsubscribeToAttendeeIdPresence(this.presence);
    await Promise.allSettled([audioVideo.stopVideoInput(), audioVideo.stopAudioInput()]);
    audioVideo.unbindAudioElement();
  }
}
