// Remote monitoring's billing ledger on a patient's page: the patient's consent, who bills, the
// time the care team logs, and what each 30-day period and calendar month bills (CMS's codes),
// with why where nothing is. The numbers are the API's; the page only shows and records them.
import { LitElement, html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import type { Api } from "../shared/api.ts";
import { directoryOf, everyProvider, fullName, type ListedProvider } from "./directory.ts";
import { type Ledger, codesWords } from "./monitoring.ts";
import { viewStyles } from "./ui.ts";
import { saidOf } from "./words.ts";

const today = (): string => new Date().toISOString().slice(0, 10);

@customElement("care-ledger")
export class CareLedger extends LitElement {
  static override styles = viewStyles;

  @property({ attribute: false }) api!: Api;
  @property() patientId = "";
  @state() private ledger: Ledger | null = null;
  @state() private providers: ListedProvider[] | null = null;
  @state() private error = "";
  @state() private said = "";

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private path(rest: string): string {
    return `/v1/monitoring/patients/${encodeURIComponent(this.patientId)}/${rest}`;
  }

  private async load(): Promise<void> {
    try {
      this.ledger = await this.api.get<Ledger>(this.path("ledger"));
    } catch (error) {
      this.error = saidOf(error);
      return;
    }
    // The directory is the desk's (staff): a provider's page names who bills without choosing.
    try {
      this.providers = await everyProvider(directoryOf(this.api));
    } catch {
      this.providers = null;
    }
  }

  private async change(event: Event, send: (form: HTMLFormElement) => Promise<Ledger>, said: string): Promise<void> {
    event.preventDefault();
    this.error = "";
    try {
      this.ledger = await send(event.target as HTMLFormElement);
      this.said = said;
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  private value(form: HTMLFormElement, name: string): string {
    return (form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement).value;
  }

  override render() {
    const l = this.ledger;
    return html`<section aria-labelledby="ledger">
      <h2 id="ledger">Billing (remote monitoring)</h2>
      ${this.error ? html`<p role="alert" class="alert">${this.error}</p>` : nothing}
      <p role="status">${this.said}</p>
      ${l === null ? (this.error ? nothing : html`<p>Loading the ledger…</p>`) : this.renderLedger(l)}
    </section>`;
  }

  private renderLedger(l: Ledger) {
    const current = l.billing_practitioners.at(-1);
    const names = new Map(l.billing_practitioners.map((b) => [b.provider_id, b.name ?? b.provider_id]));
    const biller = (id: string | null): string => (id ? names.get(id) ?? id : "Nobody");
    return html`
      <p>${l.consent
        ? html`Consent: ${l.consent.method}, obtained ${l.consent.obtained_on}.`
        : html`<strong>No consent on file:</strong> nothing is billed until it is recorded.`}</p>
      <form class="card" aria-label="Record consent" @submit=${(e: Event) =>
        this.change(e, (f) => this.api.put<Ledger>(this.path("consent"), {
          obtained_on: this.value(f, "obtained_on"), method: this.value(f, "method"),
        }), "Consent recorded.")}>
        <label>Consent obtained on <input type="date" name="obtained_on" required max=${today()} .value=${l.consent?.obtained_on ?? today()}></label>
        <label>How <select name="method"><option value="verbal">Verbally</option><option value="written">In writing</option></select></label>
        <div class="actions"><button type="submit">Record consent</button></div>
      </form>
      <p>${current
        ? html`Billed by ${current.name ?? current.provider_id} from ${current.starting}.`
        : html`<strong>No billing practitioner named.</strong>`}</p>
      ${this.providers
        ? html`<form class="card" aria-label="Name the billing practitioner" @submit=${(e: Event) =>
            this.change(e, (f) => this.api.put<Ledger>(this.path("billing-practitioner"), {
              provider_id: this.value(f, "provider_id"),
            }), "The billing practitioner is named from today.")}>
            <label>Billing practitioner from today <select name="provider_id" required>
              ${this.providers.map((p) => html`<option value=${p.provider_id} ?selected=${p.provider_id === current?.provider_id}>${fullName(p)}</option>`)}
            </select></label>
            <div class="actions"><button type="submit">Name</button></div>
          </form>`
        : html`<p class="muted">The front desk names who bills.</p>`}
      <form class="card" aria-label="Log time" @submit=${(e: Event) =>
        this.change(e, (f) => this.api.post<Ledger>(this.path("time"), {
          on: this.value(f, "on"),
          minutes: Number(this.value(f, "minutes")),
          interactive: (f.elements.namedItem("interactive") as HTMLInputElement).checked,
        }), "Time logged.")}>
        <label>Day <input type="date" name="on" required max=${today()} .value=${today()}></label>
        <label>Minutes spent on the patient's monitoring <input type="number" name="minutes" min="1" max="240" required></label>
        <label class="check"><input type="checkbox" name="interactive"> It included a live conversation with the patient</label>
        <div class="actions"><button type="submit">Log time</button></div>
      </form>
      <table>
        <caption>Device supply, by 30-day period</caption>
        <thead><tr><th scope="col">Period</th><th scope="col">Days with device readings</th><th scope="col">Codes</th><th scope="col">Billed by</th><th scope="col">Not billed because</th></tr></thead>
        <tbody>${l.periods.map((p) => html`<tr><td>${p.start} to ${p.end}</td><td>${p.device_days}</td><td>${codesWords(p.codes)}</td><td>${biller(p.billing_practitioner)}</td><td>${p.not_billed ?? ""}</td></tr>`)}</tbody>
      </table>
      <table>
        <caption>Treatment management, by calendar month</caption>
        <thead><tr><th scope="col">Month</th><th scope="col">Minutes</th><th scope="col">Live conversation</th><th scope="col">Codes</th><th scope="col">Billed by</th><th scope="col">Not billed because</th></tr></thead>
        <tbody>${l.months.map((m) => html`<tr><td>${m.month}</td><td>${m.minutes}</td><td>${m.interactive ? "Yes" : "No"}</td><td>${codesWords(m.codes)}</td><td>${biller(m.billing_practitioner)}</td><td>${m.not_billed ?? ""}</td></tr>`)}</tbody>
      </table>`;
  }
}
