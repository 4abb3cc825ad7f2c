// "Your visits": what is coming up and what has been, each opening its own page.
import { html, nothing } from "lit";
import { customElement, state } from "lit/decorators.js";
import { type Appointment, PortalScreen } from "./screen.ts";
import { formatWhen } from "./time.ts";
import { appointmentStatusWords, codeWords } from "./words.ts";

@customElement("portal-visits")
export class VisitsScreen extends PortalScreen {
  @state() private appointments: Appointment[] | null = null;

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      const { appointments } = await this.ctx.api.get<{ appointments: Appointment[] }>("/v1/appointments");
      this.appointments = appointments;
    } catch (error) {
      void this.fail(error);
    }
  }

  override render() {
    const now = Date.now();
    const all = this.appointments ?? [];
    const upcoming = all
      .filter((a) => a.status === "booked" && Date.parse(a.end) > now)
      .sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
    const past = all.filter((a) => !upcoming.includes(a)).sort((a, b) => Date.parse(b.start) - Date.parse(a.start));
    return html`
      <h1 tabindex="-1">Your visits</h1>
      ${this.error ? html`<p role="alert">${this.error}</p>` : nothing}
      <div class="actions"><a class="button" href="#/book">Book a visit</a></div>
      ${this.appointments === null && !this.error
        ? html`<p role="status">Loading your visits…</p>`
        : html`
            <h2>Coming up</h2>
            ${upcoming.length ? this.list(upcoming) : html`<p>You have no visits booked.</p>`}
            <h2>Past and cancelled</h2>
            ${past.length ? this.list(past) : html`<p>None yet.</p>`}
          `}
    `;
  }

  private list(appointments: Appointment[]) {
    return html`<ul class="plain">
      ${appointments.map(
        (a) => html`<li class="card">
          <a class="target" href="#/visits/${a.appointment_id}">${formatWhen(a.start, this.ctx.zone)}</a>
          <p class="muted">${codeWords(a.service_type)} visit · ${appointmentStatusWords(a.status)}</p>
        </li>`,
      )}
    </ul>`;
  }
}
