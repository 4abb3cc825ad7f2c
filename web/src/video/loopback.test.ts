// The loopback session's signalling against a fake relay socket and a fake peer connection: who
// offers, frames applied in order, a reconnect with the same token, and the ends of a call. The real
// two-browser call is the browser tests' to show.
import { describe, expect, it } from "vitest";
import { LoopbackVideoSession, type LoopbackPorts, type PeerConnectionLike, type SocketLike } from "./loopback.ts";

class FakeSocket implements SocketLike {
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number }) => void) | null = null;
  onerror: (() => void) | null = null;
  readyState = 0;
  sent: any[] = [];
  closedWith: number | null = null;
  constructor(readonly url: string) {}
  send(data: string): void {
    this.sent.push(JSON.parse(data));
  }
  close(code?: number): void {
    this.closedWith = code ?? 1005;
    this.readyState = 3;
  }
  // the relay's side
  open(): void {
    this.readyState = 1;
    this.onopen?.();
  }
  deliver(message: object): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  drop(code: number): void {
    this.readyState = 3;
    this.onclose?.({ code });
  }
  signals(): any[] {
    return this.sent.filter((frame) => frame.type === "signal");
  }
}

class FakePeer implements PeerConnectionLike {
  connectionState = "new";
  signalingState = "stable";
  remoteDescription: RTCSessionDescriptionInit | null = null;
  onicecandidate: PeerConnectionLike["onicecandidate"] = null;
  ontrack: PeerConnectionLike["ontrack"] = null;
  onconnectionstatechange: (() => void) | null = null;
  tracks: MediaStreamTrack[] = [];
  log: string[] = [];
  closed = false;
  framesDecoded = 0;
  constructor(readonly configuration: RTCConfiguration) {}
  addTrack(track: MediaStreamTrack): void {
    this.tracks.push(track);
  }
  async createOffer(): Promise<RTCSessionDescriptionInit> {
    return { type: "offer", sdp: "offer-sdp" };
  }
  async createAnswer(): Promise<RTCSessionDescriptionInit> {
    return { type: "answer", sdp: "answer-sdp" };
  }
  async setLocalDescription(description: RTCSessionDescriptionInit): Promise<void> {
    this.signalingState = description.type === "offer" ? "have-local-offer" : "stable";
    this.log.push(`local ${description.type}`);
  }
  async setRemoteDescription(description: RTCSessionDescriptionInit): Promise<void> {
    // Applying a description takes a while: frames behind it must wait.
    await new Promise((resolve) => setTimeout(resolve, 5));
    this.remoteDescription = description;
    this.signalingState = description.type === "offer" ? "have-remote-offer" : "stable";
    this.log.push(`remote ${description.type}`);
  }
  async addIceCandidate(candidate: RTCIceCandidateInit): Promise<void> {
    if (!this.remoteDescription) throw new Error("InvalidStateError: no remote description");
    this.log.push(`candidate ${candidate.candidate}`);
  }
  async getStats() {
    const entries = [
      { id: "in", type: "inbound-rtp", kind: "video", framesDecoded: this.framesDecoded, bytesReceived: 9000 },
      { id: "out", type: "outbound-rtp", kind: "video", framesSent: 42 },
      { id: "t", type: "transport", selectedCandidatePairId: "p" },
      { id: "p", type: "candidate-pair", currentRoundTripTime: 0.004 },
    ];
    return { forEach: (callback: (entry: any) => void) => entries.forEach(callback) };
  }
  close(): void {
    this.closed = true;
  }
  // the network's side
  becomes(state: string): void {
    this.connectionState = state;
    this.onconnectionstatechange?.();
  }
}

class FakeTrack {
  enabled = true;
  stopped = false;
  constructor(readonly kind: "audio" | "video") {}
  stop(): void {
    this.stopped = true;
  }
}

function fakeStream(tracks: FakeTrack[]): MediaStream {
  return {
    getTracks: () => tracks,
    getAudioTracks: () => tracks.filter((track) => track.kind === "audio"),
    getVideoTracks: () => tracks.filter((track) => track.kind === "video"),
  } as unknown as MediaStream;
}

function harness(options: { denied?: string } = {}) {
  const sockets: FakeSocket[] = [];
  const peers: FakePeer[] = [];
  const timers: { callback: () => void; ms: number; cleared: boolean }[] = [];
  const tracks = [new FakeTrack("audio"), new FakeTrack("video")];
  const ports: LoopbackPorts = {
    openSocket: (url) => {
      const socket = new FakeSocket(url);
      sockets.push(socket);
      return socket;
    },
    createPeerConnection: (configuration) => {
      const peer = new FakePeer(configuration);
      peers.push(peer);
      return peer;
    },
    getUserMedia: async () => {
      if (options.denied) throw Object.assign(new Error("denied"), { name: options.denied });
      return fakeStream(tracks);
    },
    setTimeout: (callback, ms) => {
      const timer = { callback, ms, cleared: false };
      timers.push(timer);
      return timer;
    },
    clearTimeout: (handle) => {
      (handle as { cleared: boolean }).cleared = true;
    },
  };
  const session = new LoopbackVideoSession(ports);
  const states: string[] = [];
  session.onStateChange((state) => states.push(state));
  /** Runs the timers set so far that nobody cleared, as if their time had come. */
  const elapse = (ms: number) => {
    for (const timer of timers.splice(0)) if (!timer.cleared && timer.ms <= ms) timer.callback();
  };
  return { session, sockets, peers, timers, tracks, states, elapse };
}

const INFO = {
  Meeting: { MeetingId: "m-1", MediaPlacement: { SignalingUrl: "ws://127.0.0.1:9999/control/m-1" } },
  Attendee: { AttendeeId: "a-patient", JoinToken: "token-of-the-patient" },
};

const settle = () => new Promise((resolve) => setTimeout(resolve, 30));

/** Joins, with the relay answering `joined` with these peers already there. */
async function joined(h: ReturnType<typeof harness>, peers: string[], ownId = "a-patient") {
  const joining = h.session.join(INFO);
  await settle();
  const socket = h.sockets.at(-1)!;
  socket.open();
  socket.deliver({ type: "joined", attendeeId: ownId, peers });
  await joining;
  await settle();
  return socket;
}

describe("joining through the relay", () => {
  it("sends the join token in the first frame, never in the URL", async () => {
    const h = harness();
    const socket = await joined(h, []);
    expect(socket.url).toBe(INFO.Meeting.MediaPlacement.SignalingUrl);
    expect(socket.url).not.toContain("token");
    expect(socket.sent[0]).toEqual({ type: "join", joinToken: "token-of-the-patient" });
    expect(h.session.state).toBe("connecting");
  });

  it("the later joiner offers to the peer already there, with no STUN or TURN server", async () => {
    const h = harness();
    const socket = await joined(h, ["a-provider"]);
    expect(h.peers).toHaveLength(1);
    expect(h.peers[0]!.configuration).toEqual({ iceServers: [] });
    expect(h.peers[0]!.tracks.map((track) => track.kind).sort()).toEqual(["audio", "video"]);
    expect(socket.signals()).toEqual([
      { type: "signal", to: "a-provider", data: { sdp: { type: "offer", sdp: "offer-sdp" } } },
    ]);
  });

  it("the first joiner does not offer; it answers the newcomer's offer", async () => {
    const h = harness();
    const socket = await joined(h, [], "a-provider");
    socket.deliver({ type: "peer-joined", attendeeId: "a-patient" });
    await settle();
    expect(socket.signals()).toEqual([]);
    socket.deliver({ type: "signal", from: "a-patient", data: { sdp: { type: "offer", sdp: "x" } } });
    await settle();
    expect(socket.signals()).toEqual([
      { type: "signal", to: "a-patient", data: { sdp: { type: "answer", sdp: "answer-sdp" } } },
    ]);
  });

  it("candidates that come while the answer is being applied are added after it", async () => {
    const h = harness();
    const socket = await joined(h, ["a-provider"]);
    socket.deliver({ type: "signal", from: "a-provider", data: { sdp: { type: "answer", sdp: "y" } } });
    socket.deliver({ type: "signal", from: "a-provider", data: { candidate: { candidate: "c1" } } });
    socket.deliver({ type: "signal", from: "a-provider", data: { candidate: { candidate: "c2" } } });
    await settle();
    expect(h.peers[0]!.log).toEqual(["local offer", "remote answer", "candidate c1", "candidate c2"]);
  });

  it("relays its own ICE candidates to the peer", async () => {
    const h = harness();
    const socket = await joined(h, ["a-provider"]);
    h.peers[0]!.onicecandidate?.({ candidate: { toJSON: () => ({ candidate: "mine", sdpMid: "0" }) } });
    h.peers[0]!.onicecandidate?.({ candidate: null }); // the end of gathering is not sent
    expect(socket.signals().at(-1)).toEqual({
      type: "signal",
      to: "a-provider",
      data: { candidate: { candidate: "mine", sdpMid: "0" } },
    });
    expect(socket.signals()).toHaveLength(2);
  });

  it("is connected when the peer connection is, and shows the remote stream", async () => {
    const h = harness();
    await joined(h, ["a-provider"]);
    const remote = { srcObject: null } as unknown as HTMLVideoElement;
    h.session.bindRemoteVideo(remote);
    const stream = fakeStream([]);
    h.peers[0]!.ontrack?.({ track: {} as MediaStreamTrack, streams: [stream] });
    h.peers[0]!.becomes("connected");
    expect(h.session.state).toBe("connected");
    expect(remote.srcObject).toBe(stream);
  });

  it("when both offer at once, the greater attendee id keeps its offer", async () => {
    const polite = harness();
    const politeSocket = await joined(polite, ["a-z"], "a-a");
    politeSocket.deliver({ type: "signal", from: "a-z", data: { sdp: { type: "offer", sdp: "theirs" } } });
    await settle();
    expect(politeSocket.signals().at(-1).data.sdp.type).toBe("answer");

    const impolite = harness();
    const impoliteSocket = await joined(impolite, ["a-a"], "a-z");
    impoliteSocket.deliver({ type: "signal", from: "a-a", data: { sdp: { type: "offer", sdp: "theirs" } } });
    await settle();
    expect(impoliteSocket.signals().map((frame) => frame.data.sdp.type)).toEqual(["offer"]);
    expect(impolite.peers).toHaveLength(1);
  });

  it("refuses to start without the camera and microphone, in words", async () => {
    const h = harness({ denied: "NotAllowedError" });
    await expect(h.session.join(INFO)).rejects.toThrow(/not allowing this page to use your camera/);
    expect(h.session.state).toBe("failed");
    expect(h.sockets).toHaveLength(0);
  });

  it("a join token the relay refuses fails the join", async () => {
    const h = harness();
    const joining = h.session.join(INFO);
    await settle();
    h.sockets[0]!.open();
    h.sockets[0]!.drop(4403);
    await expect(joining).rejects.toThrow(/no longer valid/);
    expect(h.session.state).toBe("failed");
    expect(h.tracks.every((track) => track.stopped)).toBe(true);
  });
});

describe("a lost connection", () => {
  it("reconnects with the same token after a growing delay and offers again", async () => {
    const h = harness();
    await joined(h, ["a-provider"]);
    h.peers[0]!.becomes("connected");
    h.sockets[0]!.drop(1006);
    expect(h.session.state).toBe("reconnecting");
    expect(h.peers[0]!.closed).toBe(true);
    expect(h.timers.at(-1)!.ms).toBe(500);
    h.elapse(500);
    expect(h.sockets).toHaveLength(2);
    h.sockets[1]!.open();
    h.sockets[1]!.drop(1006); // the relay is not back yet
    expect(h.timers.at(-1)!.ms).toBe(1000);
    h.elapse(1000);
    const socket = h.sockets[2]!;
    socket.open();
    expect(socket.sent[0]).toEqual({ type: "join", joinToken: "token-of-the-patient" });
    socket.deliver({ type: "joined", attendeeId: "a-patient", peers: ["a-provider"] });
    await settle();
    expect(h.peers).toHaveLength(2);
    expect(socket.signals()[0].data.sdp.type).toBe("offer");
    h.peers[1]!.becomes("connected");
    expect(h.session.state).toBe("connected");
  });

  it("a failed connection reconnects over a new socket that replaces the old one", async () => {
    const h = harness();
    await joined(h, ["a-provider"]);
    h.peers[0]!.becomes("failed");
    expect(h.session.state).toBe("reconnecting");
    h.elapse(500);
    expect(h.sockets).toHaveLength(2);
    // The relay closes the replaced socket with 4409: that is not the end of this call.
    h.sockets[0]!.drop(4409);
    expect(h.sockets[0]!.closedWith).toBeNull();
    h.sockets[1]!.open();
    h.sockets[1]!.deliver({ type: "joined", attendeeId: "a-patient", peers: ["a-provider"] });
    await settle();
    expect(h.session.state).toBe("reconnecting");
    expect(h.sockets[1]!.signals()[0].data.sdp.type).toBe("offer");
  });

  it("a connection that never comes up starts again", async () => {
    const h = harness();
    await joined(h, ["a-provider"]);
    h.elapse(10_000);
    expect(h.session.state).toBe("reconnecting");
    expect(h.peers[0]!.closed).toBe(true);
  });

  it("the same attendee joining from another window ends this one", async () => {
    const h = harness();
    await joined(h, ["a-provider"]);
    h.sockets[0]!.drop(4409);
    expect(h.session.state).toBe("ended");
    expect(h.session.endReason).toBe("left");
  });

  it("gives up after repeated failures and says so", async () => {
    const h = harness();
    await joined(h, []);
    for (let attempt = 0; attempt < 20 && h.session.state !== "failed"; attempt++) {
      h.sockets.at(-1)!.drop(1006);
      h.elapse(60_000);
    }
    expect(h.session.state).toBe("failed");
    expect(h.sockets.length).toBe(9); // the first and eight more tries
  });
});

describe("the end of a call", () => {
  it("the clinic ending the visit ends the call and releases the camera", async () => {
    const h = harness();
    const socket = await joined(h, ["a-provider"]);
    socket.deliver({ type: "meeting-ended" });
    await settle();
    expect(h.session.state).toBe("ended");
    expect(h.session.endReason).toBe("meeting-ended");
    expect(h.peers[0]!.closed).toBe(true);
    expect(h.tracks.every((track) => track.stopped)).toBe(true);
    socket.drop(4410); // the relay's close after it changes nothing
    expect(h.session.endReason).toBe("meeting-ended");
  });

  it("a meeting already gone when joining ends the call as ended by the clinic", async () => {
    const h = harness();
    const joining = h.session.join(INFO);
    await settle();
    h.sockets[0]!.drop(4410);
    await joining;
    expect(h.session.state).toBe("ended");
    expect(h.session.endReason).toBe("meeting-ended");
  });

  it("removal from the meeting ends the call as removed", async () => {
    const h = harness();
    const socket = await joined(h, ["a-provider"]);
    socket.deliver({ type: "removed" });
    await settle();
    expect(h.session.endReason).toBe("removed");
  });

  it("leaving says so to the relay, closes the socket and does not reconnect", async () => {
    const h = harness();
    const socket = await joined(h, ["a-provider"]);
    await h.session.leave();
    expect(socket.sent.at(-1)).toEqual({ type: "leave" });
    expect(socket.closedWith).toBe(1000);
    expect(h.session.state).toBe("ended");
    expect(h.session.endReason).toBe("left");
    expect(h.states).toEqual(["connecting", "ended"]);
    expect(h.timers.filter((timer) => !timer.cleared)).toHaveLength(0);
  });

  it("the peer leaving closes its connection and waits for the next", async () => {
    const h = harness();
    const socket = await joined(h, ["a-provider"]);
    h.peers[0]!.becomes("connected");
    socket.deliver({ type: "peer-left", attendeeId: "a-provider" });
    await settle();
    expect(h.peers[0]!.closed).toBe(true);
    expect(h.session.state).toBe("connecting");
  });
});

describe("mute, camera and statistics", () => {
  it("mute and camera switch the local tracks, also when set before joining", async () => {
    const h = harness();
    h.session.setMuted(true);
    await joined(h, []);
    expect(h.tracks.find((track) => track.kind === "audio")!.enabled).toBe(false);
    h.session.setMuted(false);
    h.session.setCameraEnabled(false);
    expect(h.tracks.find((track) => track.kind === "audio")!.enabled).toBe(true);
    expect(h.tracks.find((track) => track.kind === "video")!.enabled).toBe(false);
  });

  it("reads frames decoded and sent, bytes and round trip from the peer connection", async () => {
    const h = harness();
    await joined(h, ["a-provider"]);
    expect((await h.session.stats()).framesDecoded).toBe(0);
    h.peers[0]!.framesDecoded = 120;
    expect(await h.session.stats()).toEqual({ framesDecoded: 120, framesSent: 42, bytesReceived: 9000, roundTripMs: 4 });
  });
});
