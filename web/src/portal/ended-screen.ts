// After the call: how the visit ended and what happens next. The visit's end reaches the API by
// Chime's events, a moment after the call view saw the meeting end, so the screen asks again for a
// short while until the API says it is over.
import { html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { PortalScreen } from "./screen.ts";
import { OVER, type WaitingRoom, afterVisitWords, outcomeWords } from "./words.ts";

const TRIES = 15;
const EVERY_MS = 2000;

@customElement("portal-ended")
export class EndedScreen extends PortalScreen {
  @property() appointmentId = "";
  @state() private room: WaitingRoom | null = null;
  private timer: number | undefined;
  private tries = 0;

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    window.clearTimeout(this.timer);
    this.tries = TRIES;
  }

  private async load(): Promise<void> {
    try {
      this.room = await this.ctx.api.get<WaitingRoom>(`/v1/appointments/${this.appointmentId}/waiting-room`);
      this.error = "";
    } catch (error) {
      void this.fail(error);
    }
    if ((!this.room || !OVER.has(this.room.state)) && ++this.tries < TRIES) {
      this.timer = window.setTimeout(() => void this.load(), EVERY_MS);
    }
  }

  override render() {
    const room = this.room;
    const over = room && OVER.has(room.state);
    return html`
      <h1 tabindex="-1">Your visit has ended</h1>
      ${this.error ? html`<p role="alert">${this.error}</p>` : nothing}
      <div role="status">
        ${over
          ? html`<p>${outcomeWords(room.outcome, room.state)}</p>
              <h2>What happens next</h2>
              ${afterVisitWords(room).map((line) => html`<p>${line}</p>`)}`
          : html`<p>Closing your visit…</p>`}
      </div>
      ${room && !over && this.tries >= TRIES
        ? html`<p>Your visit is still open. If you left by mistake, you can
            <a href="#/visits/${this.appointmentId}/waiting">go back to the waiting room</a>.</p>`
        : nothing}
      <div class="actions">
        <a class="button" href="#/book">Book a visit</a>
        <a class="button secondary" href="#/">Your visits</a>
      </div>
    `;
  }
}
