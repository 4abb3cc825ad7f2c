// <telehealth-call>: the two videos of a visit, the microphone, camera and leave buttons, and the
// connection in words. Which VideoSession runs it comes from config.json (`implementation`), and
// that implementation is only fetched when this element starts a call.
//
// `data-frames-decoded` on #remote-video is the remote frames decoded so far, refreshed each
// second from the session's statistics: the browser tests (and a curious person in devtools) read
// it to know the other side's video is really arriving.
import { LitElement, css, html, nothing, type PropertyValues } from "lit";
import { customElement, property, query, state } from "lit/decorators.js";
import { createVideoSession, type ConnectionState, type EndReason, type JoinInfo, type VideoImplementation, type VideoSession } from "./index.ts";
import { connectionInWords } from "./words.ts";

export type CallEnded = CustomEvent<{ reason: EndReason }>;

const STATS_EVERY_MS = 1000;

@customElement("telehealth-call")
export class TelehealthCall extends LitElement {
  // No inline style attributes anywhere (the CSP has no 'unsafe-inline'): everything is here.
  static override styles = css`
    :host { display: block; }
    .stage { position: relative; background: #111; border-radius: 0.5rem; overflow: hidden; }
    #remote-video { display: block; width: 100%; aspect-ratio: 4 / 3; object-fit: cover; background: #111; }
    #local-video {
      position: absolute; right: 0.5rem; bottom: 0.5rem; width: 28%; max-width: 10rem; aspect-ratio: 3 / 4;
      object-fit: cover; border: 2px solid #fff; border-radius: 0.4rem; background: #333;
      transform: scaleX(-1); /* a mirror, as people expect to see themselves */
    }
    #local-video.off { visibility: hidden; }
    .tap { position: absolute; inset: 0; margin: auto; width: max-content; height: max-content; }
    .controls { display: flex; flex-wrap: wrap; gap: 0.5rem; margin-top: 0.75rem; }
    button {
      font: inherit; min-height: 2.75rem; padding: 0.5rem 1rem; border-radius: 0.4rem;
      border: 1px solid var(--accent, #0b5cad); background: #fff; color: var(--accent, #0b5cad); cursor: pointer;
    }
    button.leave { background: var(--danger, #a4262c); border-color: var(--danger, #a4262c); color: #fff; margin-left: auto; }
    [role="status"] { margin: 0.5rem 0 0; }
    [role="alert"] { color: var(--danger, #a4262c); }
    @media (max-width: 30rem) {
      .controls button { flex: 1 1 auto; }
      button.leave { margin-left: 0; }
    }
  `;

  /** POST /v1/join's answer: the meeting and this person's own attendee. Setting it starts the call. */
  @property({ attribute: false }) joinInfo: JoinInfo | null = null;
  @property() implementation: VideoImplementation = "loopback";

  @state() private connection: ConnectionState = "idle";
  @state() private endReason: EndReason | null = null;
  @state() private muted = false;
  @state() private cameraOn = true;
  @state() private problem = "";
  @state() private needsTap = false;
  @state() private wasConnected = false;

  @query("#remote-video") private remoteVideo!: HTMLVideoElement;
  @query("#local-video") private localVideo!: HTMLVideoElement;

  private session: VideoSession | null = null;
  private starting = false;
  private statsTimer: ReturnType<typeof setInterval> | null = null;
  private stopListening: (() => void) | null = null;
  private announcedEnd = false;

  override render() {
    const over = this.connection === "ended" || this.connection === "failed";
    return html`
      <div class="stage">
        <video id="remote-video" playsinline autoplay aria-label="The other person's video"></video>
        <video
          id="local-video"
          class=${this.cameraOn ? "" : "off"}
          playsinline
          autoplay
          muted
          aria-label="Your camera"
        ></video>
        ${this.needsTap ? html`<button class="tap" @click=${this.play}>Start the video and sound</button>` : nothing}
      </div>
      <p role="status">${connectionInWords(this.connection, this.endReason, this.wasConnected)}</p>
      ${this.problem ? html`<p role="alert">${this.problem}</p>` : nothing}
      <div class="controls">
        <button ?disabled=${over} @click=${this.toggleMute}>${this.muted ? "Unmute" : "Mute"}</button>
        <button ?disabled=${over} @click=${this.toggleCamera}>
          ${this.cameraOn ? "Turn camera off" : "Turn camera on"}
        </button>
        <button class="leave" @click=${this.leave}>Leave</button>
      </div>
    `;
  }

  protected override updated(changed: PropertyValues<this>): void {
    if (changed.has("joinInfo") && this.joinInfo && !this.session && !this.starting) void this.start(this.joinInfo);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    // Navigating away hangs up: a call must not go on in a page the person no longer sees.
    this.stopSampling();
    void this.session?.leave();
  }

  private async start(info: JoinInfo): Promise<void> {
    this.starting = true;
    let session: VideoSession;
    try {
      session = await createVideoSession(this.implementation);
    } catch {
      this.connection = "failed";
      this.problem = "The video could not be loaded. Please check your internet connection and reload the page.";
      return;
    }
    if (!this.isConnected) return;
    this.session = session;
    this.stopListening = session.onStateChange((state) => this.stateChanged(state));
    session.bindLocalVideo(this.localVideo);
    session.bindRemoteVideo(this.remoteVideo);
    session.setMuted(this.muted);
    session.setCameraEnabled(this.cameraOn);
    this.statsTimer = setInterval(() => void this.sample(), STATS_EVERY_MS);
    try {
      await session.join(info);
    } catch (error) {
      this.problem = error instanceof Error ? error.message : "The call could not connect.";
      this.stateChanged(session.state);
    }
  }

  private stateChanged(state: ConnectionState): void {
    const session = this.session;
    this.connection = state;
    this.endReason = session?.endReason ?? null;
    if (state === "connected") {
      this.wasConnected = true;
      void this.play();
    }
    if (state === "ended" || state === "failed") this.stopSampling();
    if (state === "ended") this.announceEnd(session?.endReason ?? "left");
  }

  private announceEnd(reason: EndReason): void {
    if (this.announcedEnd) return;
    this.announcedEnd = true;
    this.stopListening?.();
    this.dispatchEvent(new CustomEvent("call-ended", { detail: { reason }, bubbles: true, composed: true }));
  }

  private async sample(): Promise<void> {
    const session = this.session;
    if (!session) return;
    try {
      const stats = await session.stats();
      this.remoteVideo?.setAttribute("data-frames-decoded", String(stats.framesDecoded));
    } catch {
      // A report missed while the connection is being replaced; the next second brings one.
    }
  }

  private stopSampling(): void {
    if (this.statsTimer !== null) clearInterval(this.statsTimer);
    this.statsTimer = null;
  }

  // A browser that will not start sound without a tap (Safari on a phone, mostly) gets a button.
  private play = async (): Promise<void> => {
    const video = this.remoteVideo;
    if (!video?.srcObject) return;
    try {
      await video.play();
      this.needsTap = false;
    } catch (error) {
      if ((error as Error)?.name === "NotAllowedError") this.needsTap = true;
    }
  };

  private toggleMute = (): void => {
    this.muted = !this.muted;
    this.session?.setMuted(this.muted);
  };

  private toggleCamera = (): void => {
    this.cameraOn = !this.cameraOn;
    this.session?.setCameraEnabled(this.cameraOn);
  };

  private leave = async (): Promise<void> => {
    const session = this.session;
    if (session && session.state !== "ended" && session.state !== "failed") {
      await session.leave();
    } else {
      // Nothing to hang up (it failed, or never started): the person still wants out.
      this.stopSampling();
      this.announceEnd("left");
    }
  };
}

declare global {
  interface HTMLElementTagNameMap {
    "telehealth-call": TelehealthCall;
  }
}
