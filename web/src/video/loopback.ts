// Video without Chime's media servers: the two browsers of a visit connect peer to peer, and the
// Chime stand-in's signalling relay (Meeting.MediaPlacement.SignalingUrl) carries their offer,
// answer and ICE candidates in order. The relay checks the attendee's join token, so only the
// meeting's own attendees meet; the token goes in the first frame, never in the URL.
//
// Who offers: the one who joins later, to the peer the relay lists as already there. A lost socket
// or a failed connection reconnects with the same token (the relay replaces the old socket) and
// negotiates afresh; should both sides offer at once, the one with the greater attendee id keeps its
// offer and the other answers it.
import type { ConnectionState, EndReason, JoinInfo, VideoSession, VideoStats } from "./index.ts";
import { devicesInWords, getUserMedia } from "./devices.ts";
import { SessionState } from "./session-state.ts";
import { NO_STATS, summarizeStats, type StatsReportLike } from "./stats.ts";

// The relay's close codes (see the contract): a bad token or a removed attendee, the same token
// connected elsewhere, a meeting that is over, a frame too big.
const CLOSE_REFUSED = 4403;
const CLOSE_REPLACED = 4409;
const CLOSE_MEETING_GONE = 4410;
const CLOSE_TOO_BIG = 1009;

/** Reconnect delays double from this up to the cap; after this many tries in a row the call fails. */
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 8000;
const MAX_RETRIES = 8;
/** A connection that has not come up this long after negotiating starts again. */
const CONNECT_TIMEOUT_MS = 10_000;
/** A connection that dropped and has not come back this long starts again. */
const DISCONNECTED_TIMEOUT_MS = 5_000;

export interface SocketLike {
  onopen: (() => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number }) => void) | null;
  onerror: (() => void) | null;
  readonly readyState: number;
  send(data: string): void;
  close(code?: number): void;
}

export interface PeerConnectionLike {
  readonly connectionState: string;
  readonly signalingState: string;
  readonly remoteDescription: unknown;
  onicecandidate: ((event: { candidate: { toJSON?(): unknown } | null }) => void) | null;
  ontrack: ((event: { track: MediaStreamTrack; streams: readonly MediaStream[] }) => void) | null;
  onconnectionstatechange: (() => void) | null;
  addTrack(track: MediaStreamTrack, stream: MediaStream): unknown;
  createOffer(): Promise<RTCSessionDescriptionInit>;
  createAnswer(): Promise<RTCSessionDescriptionInit>;
  setLocalDescription(description: RTCSessionDescriptionInit): Promise<void>;
  setRemoteDescription(description: RTCSessionDescriptionInit): Promise<void>;
  addIceCandidate(candidate: RTCIceCandidateInit): Promise<void>;
  getStats(): Promise<StatsReportLike>;
  close(): void;
}

/** What the session needs from the browser; the unit tests pass fakes. */
export interface LoopbackPorts {
  openSocket(url: string): SocketLike;
  createPeerConnection(configuration: RTCConfiguration): PeerConnectionLike;
  getUserMedia(constraints: MediaStreamConstraints): Promise<MediaStream>;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const browserPorts: LoopbackPorts = {
  openSocket: (url) => new WebSocket(url) as unknown as SocketLike,
  createPeerConnection: (configuration) => new RTCPeerConnection(configuration) as unknown as PeerConnectionLike,
  getUserMedia,
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
};

type Signal = { sdp?: RTCSessionDescriptionInit; candidate?: RTCIceCandidateInit };
type RelayMessage =
  | { type: "joined"; attendeeId: string; peers: string[] }
  | { type: "peer-joined" | "peer-left"; attendeeId: string }
  | { type: "signal"; from: string; data: Signal }
  | { type: "meeting-ended" | "removed" }
  | { type: "error"; message: string };

export class LoopbackVideoSession implements VideoSession {
  private readonly session = new SessionState();
  private signalingUrl = "";
  private joinToken = "";
  private socket: SocketLike | null = null;
  // The socket a reconnect after a failed connection leaves open: the relay closes it once the new
  // one joins with the same token. Closing it here would tell the clinic the attendee dropped.
  private abandoned: SocketLike | null = null;
  private ownId: string | null = null;
  private peerId: string | null = null;
  private peer: PeerConnectionLike | null = null;
  private pendingCandidates: RTCIceCandidateInit[] = [];
  private localStream: MediaStream | null = null;
  private remoteStream: MediaStream | null = null;
  private localElement: HTMLVideoElement | null = null;
  private remoteElement: HTMLVideoElement | null = null;
  private muted = false;
  private cameraEnabled = true;
  private retries = 0;
  private retryTimer: unknown = null;
  private watchdog: unknown = null;
  // The relay's frames are handled one after another: an answer is applied before the candidates
  // that follow it, though applying it takes a while.
  private inbox: Promise<void> = Promise.resolve();
  private joining: { resolve: () => void; reject: (error: Error) => void } | null = null;

  constructor(private readonly ports: LoopbackPorts = browserPorts) {}

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
    const url = info.Meeting?.MediaPlacement?.SignalingUrl;
    const token = info.Attendee?.JoinToken;
    if (typeof url !== "string" || !url || typeof token !== "string" || !token) {
      this.session.set("failed");
      throw new Error("This visit cannot be joined from here. Please ask the clinic for a new link.");
    }
    this.signalingUrl = url;
    this.joinToken = token;
    this.session.set("connecting");
    try {
      this.localStream = await this.ports.getUserMedia({ video: true, audio: true });
    } catch (error) {
      this.session.set("failed");
      throw new Error(devicesInWords(error));
    }
    if (this.session.finished) {
      this.stopLocalTracks(); // left while the browser was asking for the camera
      return;
    }
    this.applyTrackSwitches();
    this.show(this.localElement, this.localStream);
    const joined = new Promise<void>((resolve, reject) => (this.joining = { resolve, reject }));
    this.connect();
    return joined;
  }

  bindLocalVideo(element: HTMLVideoElement): void {
    this.localElement = element;
    element.muted = true; // one's own microphone is never played back
    this.show(element, this.localStream);
  }

  bindRemoteVideo(element: HTMLVideoElement): void {
    this.remoteElement = element;
    this.show(element, this.remoteStream);
  }

  setMuted(muted: boolean): void {
    this.muted = muted;
    this.applyTrackSwitches();
  }

  setCameraEnabled(enabled: boolean): void {
    this.cameraEnabled = enabled;
    this.applyTrackSwitches();
  }

  async leave(): Promise<void> {
    if (this.session.finished) return;
    const socket = this.socket ?? this.abandoned;
    if (socket && socket.readyState === 1) socket.send(JSON.stringify({ type: "leave" }));
    this.finish("left");
  }

  async stats(): Promise<VideoStats> {
    if (!this.peer) return { ...NO_STATS };
    return summarizeStats(await this.peer.getStats());
  }

  // --- the relay ---

  private connect(): void {
    const socket = this.ports.openSocket(this.signalingUrl);
    this.socket = socket; // a socket this replaces is ignored from now on
    socket.onopen = () => {
      if (socket === this.socket) socket.send(JSON.stringify({ type: "join", joinToken: this.joinToken }));
    };
    socket.onmessage = (event) => {
      if (socket !== this.socket || typeof event.data !== "string") return;
      let message: RelayMessage;
      try {
        message = JSON.parse(event.data) as RelayMessage;
      } catch {
        return;
      }
      this.inbox = this.inbox
        .then(() => this.receive(message))
        // The error's name only: descriptions and candidates are not logged.
        .catch((error: unknown) => console.warn("video: a signalling step failed:", (error as Error)?.name));
    };
    socket.onerror = () => undefined; // onclose follows and decides
    socket.onclose = (event) => {
      if (socket === this.socket) this.socketClosed(event.code);
    };
  }

  private socketClosed(code: number): void {
    if (this.session.finished) return;
    this.socket = null;
    if (code === CLOSE_MEETING_GONE) return this.finish("meeting-ended");
    if (code === CLOSE_REFUSED) {
      // Refused after having been in the call: the attendee was removed from the meeting.
      if (this.ownId) return this.finish("removed");
      return this.fail("This visit link is no longer valid. Please ask the clinic for a new one.");
    }
    // The same attendee connected from another window or device, which now has the call.
    if (code === CLOSE_REPLACED) return this.finish("left");
    if (code === CLOSE_TOO_BIG) return this.fail("The call could not be set up. Please try again.");
    this.reconnect();
  }

  private reconnect(): void {
    if (this.session.finished || this.retryTimer !== null) return;
    if (this.retries >= MAX_RETRIES) {
      return this.fail("The connection was lost. Please check your internet connection and join again.");
    }
    this.session.set("reconnecting");
    this.closePeer();
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = null;
      this.abandoned = socket;
    }
    const delay = Math.min(FIRST_RETRY_MS * 2 ** this.retries, MAX_RETRY_MS);
    this.retries += 1;
    this.retryTimer = this.ports.setTimeout(() => {
      this.retryTimer = null;
      if (!this.session.finished) this.connect();
    }, delay);
  }

  private send(to: string, data: Signal): void {
    const socket = this.socket;
    if (socket && socket.readyState === 1) socket.send(JSON.stringify({ type: "signal", to, data }));
  }

  private async receive(message: RelayMessage): Promise<void> {
    if (this.session.finished) return;
    switch (message.type) {
      case "joined":
        this.ownId = message.attendeeId;
        this.abandoned = null;
        this.joining?.resolve();
        this.joining = null;
        if (message.peers.length > 0) {
          await this.offer(message.peers[0]!);
        } else {
          // Alone in the meeting: waiting is a healthy state, not a failed try.
          this.retries = 0;
          this.closePeer();
          this.session.set("connecting");
        }
        return;
      case "peer-joined":
        // The newcomer offers; until then there is nothing to do but know who it is.
        this.peerId ??= message.attendeeId;
        return;
      case "peer-left":
        if (message.attendeeId === this.peerId) {
          this.closePeer();
          this.peerId = null;
          this.session.set("connecting");
        }
        return;
      case "signal":
        if (message.data?.sdp) return this.described(message.from, message.data.sdp);
        if (message.data?.candidate) return this.candidate(message.from, message.data.candidate);
        return;
      case "meeting-ended":
        return this.finish("meeting-ended");
      case "removed":
        return this.finish("removed");
      case "error":
        console.warn("video: the relay refused a frame");
        return;
    }
  }

  // --- the peer connection ---

  private async offer(peerId: string): Promise<void> {
    const peer = this.newPeer(peerId);
    const offer = await peer.createOffer();
    if (peer !== this.peer) return;
    await peer.setLocalDescription(offer);
    if (peer !== this.peer) return;
    this.send(peerId, { sdp: { type: offer.type, sdp: offer.sdp } });
  }

  private async described(from: string, description: RTCSessionDescriptionInit): Promise<void> {
    if (description.type === "offer") {
      const offering = this.peer?.signalingState === "have-local-offer";
      // Both offered at once: the greater attendee id keeps its own offer, which the other answers.
      if (offering && this.ownId !== null && this.ownId > from) return;
      const peer = this.newPeer(from);
      await peer.setRemoteDescription(description);
      await this.flushCandidates(peer);
      const answer = await peer.createAnswer();
      if (peer !== this.peer) return;
      await peer.setLocalDescription(answer);
      if (peer !== this.peer) return;
      this.send(from, { sdp: { type: answer.type, sdp: answer.sdp } });
    } else if (description.type === "answer") {
      const peer = this.peer;
      // An answer to an offer this side has since replaced is of no use.
      if (!peer || from !== this.peerId || peer.signalingState !== "have-local-offer") return;
      await peer.setRemoteDescription(description);
      await this.flushCandidates(peer);
    }
  }

  private async candidate(from: string, candidate: RTCIceCandidateInit): Promise<void> {
    const peer = this.peer;
    if (from !== this.peerId) return;
    if (!peer || !peer.remoteDescription) {
      this.pendingCandidates.push(candidate);
      return;
    }
    // A candidate of a connection the peer has already replaced does not match; that is harmless.
    await peer.addIceCandidate(candidate).catch(() => undefined);
  }

  private async flushCandidates(peer: PeerConnectionLike): Promise<void> {
    const candidates = this.pendingCandidates;
    this.pendingCandidates = [];
    for (const candidate of candidates) await peer.addIceCandidate(candidate).catch(() => undefined);
  }

  private newPeer(peerId: string): PeerConnectionLike {
    this.closePeer();
    this.peerId = peerId;
    // Both browsers are on this machine: host candidates reach, so no STUN or TURN server.
    const peer = this.ports.createPeerConnection({ iceServers: [] });
    this.peer = peer;
    for (const track of this.localStream?.getTracks() ?? []) peer.addTrack(track, this.localStream!);
    peer.onicecandidate = (event) => {
      if (peer !== this.peer || !event.candidate) return;
      const candidate = (event.candidate.toJSON?.() ?? event.candidate) as RTCIceCandidateInit;
      this.send(peerId, { candidate });
    };
    peer.ontrack = (event) => {
      if (peer !== this.peer) return;
      this.remoteStream = event.streams[0] ?? this.remoteStream ?? new MediaStream();
      if (!event.streams[0]) this.remoteStream.addTrack(event.track);
      this.show(this.remoteElement, this.remoteStream);
    };
    peer.onconnectionstatechange = () => {
      if (peer === this.peer) this.peerStateChanged(peer.connectionState);
    };
    if (this.session.state !== "reconnecting") this.session.set("connecting");
    this.arm(CONNECT_TIMEOUT_MS);
    return peer;
  }

  private peerStateChanged(state: string): void {
    if (this.session.finished) return;
    if (state === "connected") {
      this.disarm();
      this.retries = 0;
      this.session.set("connected");
    } else if (state === "disconnected") {
      // Often comes back by itself (a moment of packet loss); if it does not, start again.
      this.session.set("reconnecting");
      this.arm(DISCONNECTED_TIMEOUT_MS);
    } else if (state === "failed") {
      this.disarm();
      this.reconnect();
    }
  }

  private arm(ms: number): void {
    this.disarm();
    this.watchdog = this.ports.setTimeout(() => {
      this.watchdog = null;
      if (this.peer?.connectionState !== "connected") this.reconnect();
    }, ms);
  }

  private disarm(): void {
    if (this.watchdog !== null) this.ports.clearTimeout(this.watchdog);
    this.watchdog = null;
  }

  private closePeer(): void {
    this.disarm();
    this.pendingCandidates = [];
    const peer = this.peer;
    this.peer = null;
    if (!peer) return;
    peer.onicecandidate = peer.ontrack = peer.onconnectionstatechange = null;
    peer.close();
    this.remoteStream = null;
    this.show(this.remoteElement, null);
  }

  // --- the local camera and microphone ---

  private applyTrackSwitches(): void {
    for (const track of this.localStream?.getAudioTracks() ?? []) track.enabled = !this.muted;
    for (const track of this.localStream?.getVideoTracks() ?? []) track.enabled = this.cameraEnabled;
  }

  private show(element: HTMLVideoElement | null, stream: MediaStream | null): void {
    if (element && element.srcObject !== stream) element.srcObject = stream;
  }

  private stopLocalTracks(): void {
    for (const track of this.localStream?.getTracks() ?? []) track.stop();
  }

  // --- the end ---

  private teardown(): void {
    if (this.retryTimer !== null) this.ports.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.closePeer();
    for (const socket of [this.socket, this.abandoned]) {
      if (socket) socket.onopen = socket.onmessage = socket.onclose = null;
      if (socket && socket.readyState <= 1) socket.close(1000);
    }
    this.socket = this.abandoned = null;
    this.stopLocalTracks();
    this.show(this.localElement, null);
  }

  private finish(reason: EndReason): void {
    if (this.session.finished) return;
    this.teardown();
    this.joining?.resolve(); // the state says how it ended
    this.joining = null;
    this.session.end(reason);
  }

  private fail(words: string): void {
    if (this.session.finished) return;
    this.teardown();
    this.session.set("failed");
    this.joining?.reject(new Error(words));
    this.joining = null;
  }
}
