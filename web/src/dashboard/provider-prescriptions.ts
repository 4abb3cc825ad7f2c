// The visit's prescriptions, for its clinician (or a case of photos', for the providers who review
// it): what was sent and where each stands (the network's news arrives by itself), and the form
// that writes one. The checks run as the form is checked,
// every finding beside the form: a refusal stops it; each warning and each of the network's alerts
// is read and ticked before "Send" does anything. Where the clinic has e-prescribing off, the
// routes answer 404 and nothing is shown.
import { LitElement, css, html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { ApiError, type Api, newActionKey } from "../shared/api.ts";
import { providerSelf } from "./provider-self.ts";
import { viewStyles } from "./ui.ts";
import { rxStatusWords, saidOf } from "./words.ts";
import "./prescriber-account.ts";
import type { Pharmacy, Prescription, PrescriptionStatus } from "../shared/prescriptions.ts";

/** A renewal being answered: what its checks found, to read before renewing. */
interface RenewalChecks {
  prescriptionId: string;
  requestId: string;
  findings: Finding[];
  unacknowledged: string[];
  refused: boolean;
}

interface VisitPrescriptions {
  prescriptions: Prescription[];
  patient_state: string;
  pharmacy: Pharmacy | null;
}

interface Finding {
  code: string;
  severity: "refusal" | "warning";
  message: string;
}

interface Checks {
  findings: Finding[];
  alerts: { code: string; kind: string; message: string }[];
  to_acknowledge: string[];
  refused: boolean;
}

interface Drug {
  rxcui: string;
  name: string;
}

const MOVING: PrescriptionStatus[] = ["sending", "submitted", "cancel-requested"];

@customElement("provider-prescriptions")
export class ProviderPrescriptions extends LitElement {
  static override styles = [viewStyles, css`
      textarea { font: inherit; width: 100%; min-height: 3rem; }
      label.block { display: flex; margin-right: 0; }
      .field { display: inline-flex; flex-direction: column; gap: 0.2rem; margin: 0 1rem 0.75rem 0; }
      .field label { margin: 0; }
      ul.findings { padding-left: 1.2rem; }
      h3 { font-size: 1.05rem; margin: 1rem 0 0.5rem; }
      h4 { font-size: 1rem; margin: 0 0 0.5rem; }
      h4:focus { outline: none; }
    `];

  @property({ attribute: false }) api!: Api;
  @property({ attribute: false }) appointmentId = "";
  /** A case of photos instead of a visit: the same form, the case's prescriptions. */
  @property({ attribute: false }) caseId = "";
  @state() private visit: VisitPrescriptions | null = null;
  @state() private switchedOff = false;
  @state() private drugs: Drug[] = [];
  @state() private pharmacies: Pharmacy[] = [];
  @state() private checks: Checks | null = null;
  @state() private acknowledged = new Set<string>();
  @state() private error = "";
  @state() private said = "";
  @state() private busy = false;
  @state() private renewing: RenewalChecks | null = null;
  // Who is signed in: a case's list holds colleagues' prescriptions too, which only they act on.
  @state() private me: string | null = null;
  private sendKey: string | null = null; // kept until the send is answered: a retry is the same send
  private polling: number | undefined;

  private get path(): string {
    return this.caseId
      ? `/v1/triage/cases/${this.caseId}/prescriptions`
      : `/v1/appointments/${this.appointmentId}/prescriptions`;
  }

  private get where(): string {
    return this.caseId ? "from this case" : "in this visit";
  }

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    window.clearTimeout(this.polling);
  }

  private async load(): Promise<void> {
    try {
      this.me ??= (await providerSelf(this.api))?.providerId ?? null;
      this.visit = await this.api.get<VisitPrescriptions>(this.path);
      if (this.pharmacies.length === 0 && this.visit.pharmacy) this.pharmacies = [this.visit.pharmacy];
      window.clearTimeout(this.polling);
      if (this.visit.prescriptions.some((rx) => MOVING.includes(rx.status))) {
        this.polling = window.setTimeout(() => void this.load(), 2000);
      }
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) this.switchedOff = true;
      else this.error = saidOf(error);
    }
  }

  private async findDrugs(query: string): Promise<void> {
    if (query.trim().length < 2) return;
    try {
      this.drugs = (await this.api.get<{ drugs: Drug[] }>("/v1/drugs", { q: query })).drugs;
      this.said = `${this.drugs.length} drugs found.`;
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  private async findPharmacies(name: string): Promise<void> {
    if (!this.visit) return;
    try {
      this.pharmacies = await this.api.get<Pharmacy[]>("/v1/pharmacies", { state: this.visit.patient_state, name });
      this.said = `${this.pharmacies.length} pharmacies found in ${this.visit.patient_state}.`;
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  private body(form: HTMLFormElement): Record<string, unknown> {
    const data = new FormData(form);
    const text = (name: string) => String(data.get(name) ?? "").trim();
    return {
      rxcui: text("rxcui"),
      dose: text("dose"),
      route: text("route"),
      frequency: text("frequency"),
      quantity: Number(text("quantity")),
      days_supply: Number(text("days_supply")),
      refills: Number(text("refills")),
      substitution_allowed: data.get("substitution_allowed") === "on",
      sig: text("sig"),
      pharmacy_id: text("pharmacy_id"),
      prior_in_person: data.get("prior_in_person") === "on",
      pdmp_checked_on: text("pdmp_checked_on") || null,
      acknowledged: [...this.acknowledged],
    };
  }

  private form(): HTMLFormElement {
    return this.shadowRoot!.getElementById("rx-form") as HTMLFormElement;
  }

  private changed(): void {
    // What was checked no longer stands for what the form says: check it again before sending.
    this.checks = null;
    this.acknowledged = new Set();
    this.sendKey = null;
  }

  private async check(event: Event): Promise<void> {
    event.preventDefault();
    const form = this.form();
    if (!form.reportValidity() || this.busy) return;
    this.busy = true;
    try {
      this.checks = await this.api.post<Checks>(`${this.path}/checks`, this.body(form));
      this.acknowledged = new Set();
      const { refused, to_acknowledge } = this.checks;
      this.said = refused
        ? "A check refused this prescription: see below."
        : to_acknowledge.length
          ? `${to_acknowledge.length} to read and acknowledge before sending.`
          : "Every check passed: it can be sent.";
      this.error = "";
      await this.updateComplete;
      (this.shadowRoot?.getElementById("checks-h") as HTMLElement | null)?.focus();
    } catch (error) {
      this.error = saidOf(error);
    } finally {
      this.busy = false;
    }
  }

  private get ready(): boolean {
    const c = this.checks;
    return c !== null && !c.refused && c.to_acknowledge.every((code) => this.acknowledged.has(code));
  }

  private async send(): Promise<void> {
    if (!this.ready || this.busy) {
      this.said = this.checks ? "Read and tick each warning and alert first." : "Check the prescription first.";
      return;
    }
    this.busy = true;
    this.sendKey ??= newActionKey();
    try {
      const sent = await this.api.post<Prescription>(this.path, this.body(this.form()), this.sendKey);
      this.sendKey = null;
      this.form().reset();
      this.checks = null;
      this.acknowledged = new Set();
      this.said = `${sent.drug}: sent to ${sent.pharmacy.name}.`;
      this.error = "";
      await this.load();
    } catch (error) {
      // No answer: the same key again is the same send. An answer: the next try is a new send.
      if (!(error instanceof ApiError && error.status === 0)) this.sendKey = null;
      this.error = saidOf(error);
    } finally {
      this.busy = false;
    }
  }

  private async cancel(rx: Prescription): Promise<void> {
    try {
      await this.api.post(`/v1/prescriptions/${rx.prescription_id}/cancel`);
      this.said = `Cancelling ${rx.drug} at ${rx.pharmacy.name}.`;
      await this.load();
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  private async answerRenewal(rx: Prescription, requestId: string, approve: boolean): Promise<void> {
    const acknowledged = this.renewing?.requestId === requestId ? this.renewing.unacknowledged : [];
    try {
      await this.api.post(`/v1/prescriptions/${rx.prescription_id}/renewals/${encodeURIComponent(requestId)}`, { approve, acknowledged });
      this.renewing = null;
      this.said = approve ? `${rx.drug}: renewed, sent to ${rx.pharmacy.name}.` : `${rx.drug}: renewal denied.`;
      this.error = "";
      await this.load();
    } catch (error) {
      const problem = error instanceof ApiError ? error.problem : null;
      if (problem && (error as ApiError).status === 422 && Array.isArray(problem.findings)) {
        // What the renewal's checks found, shown under its row: refused, or to read first.
        const kind = (error as ApiError).kind;
        this.renewing = {
          prescriptionId: rx.prescription_id,
          requestId,
          findings: problem.findings as Finding[],
          unacknowledged: (problem.unacknowledged as string[] | undefined) ?? [],
          refused: kind === "prescription-refused",
        };
        this.said = this.renewing.refused ? "A check refused the renewal: see below." : "Read what the checks found, then renew.";
      } else {
        this.error = saidOf(error);
      }
    }
  }

  private renewalRow(rx: Prescription) {
    const pending = rx.renewals.find((r) => r.status === "pending");
    if (!pending) return nothing;
    const checks = this.renewing?.requestId === pending.request_id ? this.renewing : null;
    return html`<tr>
      <td colspan="5">
        <p><span class="badge">The pharmacy asks to renew ${rx.drug}</span></p>
        ${checks
          ? html`<ul class="findings" role=${checks.refused ? "alert" : "list"}>${checks.findings.map((f) => html`<li class=${f.severity === "refusal" ? "alert" : ""}>${f.message}</li>`)}</ul>`
          : nothing}
        <div class="actions">
          ${checks?.refused
            ? nothing
            : html`<button @click=${() => this.answerRenewal(rx, pending.request_id, true)}>${checks ? "Renew, having read these" : "Renew"}<span class="visually-hidden"> ${rx.drug}</span></button>`}
          <button class="secondary" @click=${() => this.answerRenewal(rx, pending.request_id, false)}>Deny<span class="visually-hidden"> the renewal of ${rx.drug}</span></button>
        </div>
      </td>
    </tr>`;
  }

  override render() {
    if (this.switchedOff) return nothing;
    const v = this.visit;
    return html`<section aria-labelledby="rx-h">
      <h2 id="rx-h">Prescriptions</h2>
      ${this.error ? html`<p role="alert" class="alert">${this.error}</p>` : nothing}
      <p role="status" tabindex="-1" id="rx-said">${this.said}</p>
      ${v === null ? (this.error ? nothing : html`<p>Loading…</p>`) : html`${this.list(v.prescriptions)}${this.writer(v)}`}
    </section>
    <prescriber-account .api=${this.api} @prescriber-linked=${() => { this.checks = null; }}></prescriber-account>`;
  }

  private list(prescriptions: Prescription[]) {
    if (!prescriptions.length) return html`<p>No prescriptions ${this.where} yet.</p>`;
    return html`<table>
      <caption>Sent ${this.where}</caption>
      <thead><tr><th scope="col">Drug</th><th scope="col">Directions</th><th scope="col">Pharmacy</th><th scope="col">Status</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
      <tbody>
        ${prescriptions.map(
          (rx) => html`<tr>
            <th scope="row">${rx.drug}</th>
            <td>${rx.sig} (${rx.quantity} ${rx.quantity_unit}, ${rx.refills} refills)</td>
            <td>${rx.pharmacy.name}</td>
            <td>${rxStatusWords(rx)}${rx.renews ? html`<br><span class="muted">A renewal</span>` : nothing}</td>
            <td>${rx.provider_id !== this.me
              ? html`<span class="muted">Another clinician's</span>`
              : rx.status === "submitted" || rx.status === "transmitted"
                ? html`<button class="secondary" @click=${() => this.cancel(rx)}>Cancel<span class="visually-hidden"> ${rx.drug}</span></button>`
                : nothing}</td>
          </tr>${rx.provider_id === this.me ? this.renewalRow(rx) : nothing}`,
        )}
      </tbody>
    </table>`;
  }

  private writer(v: VisitPrescriptions) {
    const c = this.checks;
    return html`<form id="rx-form" aria-labelledby="rx-write-h" @submit=${(e: Event) => this.check(e)} @change=${() => this.changed()}>
      <h3 id="rx-write-h">Write a prescription</h3>
      <div class="actions">
        <label>Find the drug <input id="rx-drug-search" autocomplete="off" maxlength="60" @change=${(e: Event) => { e.stopPropagation(); void this.findDrugs((e.target as HTMLInputElement).value); }}></label>
        <span class="field"><label for="rx-drug">Drug</label>
          <select id="rx-drug" name="rxcui" required>
            <option value="">Search first</option>
            ${this.drugs.map((d, i) => html`<option value=${d.rxcui} ?selected=${i === 0}>${d.name}</option>`)}
          </select>
        </span>
      </div>
      <div class="actions">
        <label>Dose <input name="dose" required maxlength="60" placeholder="1 tablet"></label>
        <label>Route <input name="route" required maxlength="60" value="oral"></label>
        <label>How often <input name="frequency" required maxlength="60" placeholder="twice a day"></label>
        <label>Quantity <input name="quantity" type="number" min="1" max="10000" required></label>
        <label>Days' supply <input name="days_supply" type="number" min="1" max="365" required></label>
        <label>Refills <input name="refills" type="number" min="0" max="11" value="0" required></label>
        <label class="inline"><input name="substitution_allowed" type="checkbox" checked> Generic substitution allowed</label>
      </div>
      <label class="block">Directions for the patient, in plain words <textarea name="sig" required maxlength="500"></textarea></label>
      <div class="actions">
        <label>Find a pharmacy in ${v.patient_state} <input id="rx-pharmacy-search" autocomplete="off" maxlength="60" @change=${(e: Event) => { e.stopPropagation(); void this.findPharmacies((e.target as HTMLInputElement).value); }}></label>
        <span class="field"><label for="rx-pharmacy">Pharmacy</label>
          <select id="rx-pharmacy" name="pharmacy_id" required>
            ${this.pharmacies.length ? nothing : html`<option value="">Search first</option>`}
            ${this.pharmacies.map((p) => html`<option value=${p.pharmacy_id} ?selected=${p.pharmacy_id === v.pharmacy?.pharmacy_id}>${p.name}, ${p.address}, ${p.city}</option>`)}
          </select>
        </span>
      </div>
      ${this.caseId
        ? html`<p class="muted">A controlled substance is prescribed in a live visit, never from photos: offer the patient a visit for one.</p>`
        : html`<fieldset>
            <legend>For a controlled substance</legend>
            <label class="inline"><input name="prior_in_person" type="checkbox"> I have examined this patient in person before</label>
            <label>I checked the state's PDMP on <input name="pdmp_checked_on" type="date"></label>
          </fieldset>`}
      <div class="actions"><button type="submit" class="secondary" aria-disabled=${this.busy ? "true" : "false"}>Check the prescription</button></div>
      ${c === null ? nothing : this.findings(c)}
      <div class="actions">
        <button type="button" aria-disabled=${this.ready && !this.busy ? "false" : "true"} @click=${() => this.send()}>Send to the pharmacy</button>
      </div>
    </form>`;
  }

  private findings(c: Checks) {
    const refusals = c.findings.filter((f) => f.severity === "refusal");
    const warnings = [
      ...c.findings.filter((f) => f.severity === "warning").map((f) => ({ code: f.code, message: f.message })),
      ...c.alerts.map((a) => ({ code: a.code, message: `The network warns: ${a.message}` })),
    ];
    return html`<div class="card">
      <h4 id="checks-h" tabindex="-1">The checks</h4>
      ${refusals.length
        ? html`<ul class="findings" role="alert">${refusals.map((f) => html`<li class="alert">${f.message}</li>`)}</ul>`
        : nothing}
      ${warnings.length
        ? html`<fieldset><legend>Read and acknowledge</legend>
            ${warnings.map(
              (w) => html`<label class="inline"><input type="checkbox" .checked=${this.acknowledged.has(w.code)}
                @change=${(e: Event) => {
                  e.stopPropagation();
                  const next = new Set(this.acknowledged);
                  if ((e.target as HTMLInputElement).checked) next.add(w.code);
                  else next.delete(w.code);
                  this.acknowledged = next;
                }}> ${w.message}</label>`,
            )}
          </fieldset>`
        : nothing}
      ${!refusals.length && !warnings.length ? html`<p class="ok">Every check passed.</p>` : nothing}
    </div>`;
  }
}
