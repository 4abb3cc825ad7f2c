// <telehealth-device-check>: before joining, a person sees their camera and watches a meter move
// when they speak, or learns in plain words why the browser will not give the page either. "Looks
// good" fires `devices-ready`; the camera and microphone are released then, and when the element
// leaves the page, so the call can take them.
import { LitElement, css, html, nothing } from "lit";
import { customElement, query, state } from "lit/decorators.js";
import { levelOf } from "./device-check-level.ts";
import { devicesInWords, getUserMedia } from "./devices.ts";

/** The meter's segments: lit by class, since the CSP allows no inline style for a bar's width. */
const SEGMENTS = 10;
const METER_EVERY_MS = 100;

type Check = "starting" | "running" | "problem" | "done";

@customElement("telehealth-device-check")
export class TelehealthDeviceCheck extends LitElement {
  static override styles = css`
    :host { display: block; }
    video {
      display: block; width: 100%; max-width: 24rem; aspect-ratio: 4 / 3; object-fit: cover;
      background: #111; border-radius: 0.5rem; transform: scaleX(-1);
    }
    .meter { display: flex; gap: 3px; height: 1rem; max-width: 24rem; margin: 0.5rem 0; }
    .meter span { flex: 1; background: #d5dbe2; border-radius: 2px; }
    .meter span.on { background: var(--ok, #17653a); }
    [role="alert"] { color: var(--danger, #a4262c); }
    button {
      font: inherit; min-height: 2.75rem; padding: 0.5rem 1rem; border-radius: 0.4rem; cursor: pointer;
      border: 1px solid var(--accent, #0b5cad); background: var(--accent, #0b5cad); color: #fff;
    }
    button:disabled { opacity: 0.6; cursor: default; }
    .actions { display: flex; flex-wrap: wrap; gap: 0.5rem; }
  `;

  @state() private check: Check = "starting";
  @state() private level = 0;
  @state() private problem = "";
  @query("video") private preview!: HTMLVideoElement | null;

  private stream: MediaStream | null = null;
  private audio: AudioContext | null = null;
  private meterTimer: ReturnType<typeof setInterval> | null = null;

  override connectedCallback(): void {
    super.connectedCallback();
    void this.start();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.release();
  }

  override render() {
    if (this.check === "done") return html`<p role="status">Your camera and microphone work.</p>`;
    if (this.check === "problem") {
      return html`
        <p role="alert">${this.problem}</p>
        <div class="actions"><button @click=${this.start}>Try again</button></div>
      `;
    }
    const lit = Math.round((this.level / 100) * SEGMENTS);
    return html`
      <video playsinline autoplay muted aria-label="Your camera"></video>
      <p id="level-label">Microphone level: say something and watch the bar move.</p>
      <div
        class="meter"
        role="meter"
        aria-labelledby="level-label"
        aria-valuemin="0"
        aria-valuemax="100"
        aria-valuenow=${this.level}
      >
        ${Array.from({ length: SEGMENTS }, (_, index) => html`<span class=${index < lit ? "on" : ""}></span>`)}
      </div>
      ${this.check === "starting" ? html`<p role="status">Asking your browser for the camera and microphone…</p>` : nothing}
      <div class="actions">
        <button ?disabled=${this.check !== "running"} @click=${this.ready}>Looks good</button>
      </div>
    `;
  }

  private start = async (): Promise<void> => {
    this.release();
    this.check = "starting";
    this.problem = "";
    let stream: MediaStream;
    try {
      stream = await getUserMedia({ video: true, audio: true });
    } catch (error) {
      this.problem = devicesInWords(error);
      this.check = "problem";
      return;
    }
    if (!this.isConnected) {
      for (const track of stream.getTracks()) track.stop();
      return;
    }
    this.stream = stream;
    this.check = "running";
    await this.updateComplete;
    if (this.preview) this.preview.srcObject = stream;
    this.listen(stream);
  };

  /** The level meter; a browser without Web Audio still gets the preview and the button. */
  private listen(stream: MediaStream): void {
    try {
      const audio = new AudioContext();
      const analyser = audio.createAnalyser();
      analyser.fftSize = 1024;
      audio.createMediaStreamSource(stream).connect(analyser);
      this.audio = audio;
      void audio.resume().catch(() => undefined);
      const samples = new Uint8Array(analyser.fftSize);
      // Ten readings a second is lively enough to watch, and quiet for a screen reader.
      this.meterTimer = setInterval(() => {
        analyser.getByteTimeDomainData(samples);
        this.level = levelOf(samples);
      }, METER_EVERY_MS);
    } catch {
      this.level = 0;
    }
  }

  private ready = (): void => {
    this.release();
    this.check = "done";
    this.dispatchEvent(new CustomEvent("devices-ready", { bubbles: true, composed: true }));
  };

  private release(): void {
    if (this.meterTimer !== null) clearInterval(this.meterTimer);
    this.meterTimer = null;
    void this.audio?.close().catch(() => undefined);
    this.audio = null;
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.stream = null;
    if (this.preview) this.preview.srcObject = null;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    "telehealth-device-check": TelehealthDeviceCheck;
  }
}
