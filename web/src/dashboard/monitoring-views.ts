// Remote monitoring for the care team (tenants with it on): the panel of enrolled patients, the
// most pressing first, and a patient's page: their open alerts (a provider acknowledges each,
// saying what they did), their blood pressure, weight and glucose over the last fortnight as
// charts a clinician reads (each with its numbers as a table beside it), their devices and their
// program. Staff enrol patients (found by last name and birth date) and register their devices.
import { LitElement, css, html, nothing, svg } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import type { Api } from "../shared/api.ts";
import {
  type Alert,
  type Enrolment,
  type HourProfile,
  type PanelRow,
  type PatientReadings,
  type Point,
  DEVICE_KINDS,
  PROGRAMS,
  WEIGHT,
  bloodPressures,
  glucoseProfile,
  measureWords,
  ruleWords,
  scaled,
  series,
  tierWords,
  unitWords,
} from "./monitoring.ts";
import { type FoundPatient, patientWords } from "./patients.ts";
import "./monitoring-ledger.ts";
import { viewStyles } from "./ui.ts";
import { saidOf } from "./words.ts";

const chartStyles = css`
  .tier-urgent { background: #fde7e9; color: #8a1c22; }
  .tier-review { background: #fff4ce; color: #5c4400; }
  .tier-information { background: #e6f0fa; color: #0b4a8a; }
  svg.chart { width: 100%; max-width: 42rem; height: auto; background: #fafbfc; border: 1px solid #c9d2dc; border-radius: 6px; }
  .chart-line { fill: none; stroke-width: 2; }
  .systolic { stroke: #a4262c; }
  .diastolic { stroke: #0b5cad; }
  .weight { stroke: #17653a; }
  .median { stroke: #0b5cad; fill: none; stroke-width: 2; }
  .band-outer { fill: #cfe0f3; }
  .band-inner { fill: #8fb6e0; }
  .target { fill: #e3f4e8; }
  .threshold { stroke: #a4262c; stroke-dasharray: 4 3; stroke-width: 1; }
  .axis { font-size: 11px; fill: #4a5868; }
  details { margin: 0.5rem 0 1rem; }
`;

const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;
const PANEL_POLL_MS = 10_000;

function when(instant: string): string {
  return new Date(instant).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function tierBadge(tier: Alert["tier"] | null) {
  return tier ? html`<span class="badge tier-${tier}">${tierWords(tier)}</span>` : html`<span class="muted">${tierWords(null)}</span>`;
}

function nameOf(patient: FoundPatient | null, patientId: string): string {
  return patient ? patientWords(patient) : `Patient ${patientId}`;
}

@customElement("care-panel")
export class CarePanel extends LitElement {
  static override styles = [viewStyles, chartStyles];

  @property({ attribute: false }) api!: Api;
  @property({ type: Boolean }) staff = false;
  @state() private rows: PanelRow[] | null = null;
  @state() private error = "";
  @state() private said = "";
  @state() private lookup = { family: "", born: "" };
  @state() private found: FoundPatient[] | null = null;
  @state() private chosen = "";
  @state() private program = "hypertension";

  private timer = 0;

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
    // Readings are kept and judged moments after they are sent: an alert raised while the panel
    // is open moves its patient up without a reload.
    this.timer = window.setInterval(() => void this.load(), PANEL_POLL_MS);
  }

  override disconnectedCallback(): void {
    window.clearInterval(this.timer);
    super.disconnectedCallback();
  }

  private async load(): Promise<void> {
    try {
      this.rows = (await this.api.get<{ patients: PanelRow[] }>("/v1/monitoring/panel")).patients;
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  private async search(event: Event): Promise<void> {
    event.preventDefault();
    this.error = "";
    try {
      const answer = await this.api.post<{ patients: FoundPatient[] }>("/v1/patients/search", {
        family_name: this.lookup.family.trim(),
        birth_date: this.lookup.born,
        given_name: null,
      });
      this.found = answer.patients;
      this.chosen = answer.patients.length === 1 ? answer.patients[0].patient_id : "";
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  private async enrol(event: Event): Promise<void> {
    event.preventDefault();
    const patient = this.found?.find((p) => p.patient_id === this.chosen);
    if (!patient) return;
    this.error = "";
    try {
      await this.api.put(`/v1/monitoring/patients/${encodeURIComponent(patient.patient_id)}/enrolment`, {
        program: this.program,
      });
      this.said = `${patientWords(patient)} is enrolled in the ${PROGRAMS[this.program as keyof typeof PROGRAMS]} program.`;
      this.found = null;
      await this.load();
      await this.updateComplete;
      (this.shadowRoot?.getElementById("said") as HTMLElement | null)?.focus();
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  override render() {
    return html`
      <h1>Remote monitoring</h1>
      <p class="muted">Patients in a monitoring program, the most pressing first: urgent alerts, then review, then information; the oldest alert first within each.</p>
      ${this.error ? html`<p role="alert" class="alert">${this.error}</p>` : nothing}
      ${this.said ? html`<p id="said" role="status" tabindex="-1">${this.said}</p>` : nothing}
      ${this.rows === null
        ? html`<p role="status">Loading the panel…</p>`
        : this.rows.length === 0
          ? html`<p>No patient is enrolled yet.</p>`
          : html`<table>
              <caption>Enrolled patients</caption>
              <thead><tr><th scope="col">Patient</th><th scope="col">Program</th><th scope="col">Alerts</th><th scope="col">Last reading</th><th scope="col"><span class="visually-hidden">Open</span></th></tr></thead>
              <tbody>
                ${this.rows.map(
                  (row) => html`<tr>
                    <th scope="row">${nameOf(row.patient, row.enrolment.patient_id)}</th>
                    <td>${PROGRAMS[row.enrolment.program]}</td>
                    <td>${tierBadge(row.tier)}${row.open_alerts.length
                      ? html`<ul>${row.open_alerts.map((a) => html`<li>${ruleWords(a.rule)}</li>`)}</ul>`
                      : nothing}</td>
                    <td>${row.last_reading_at ? when(row.last_reading_at) : html`<span class="muted">None in 15 days</span>`}</td>
                    <td><a href="#/monitoring/${encodeURIComponent(row.enrolment.patient_id)}"
                      aria-label=${`Open ${nameOf(row.patient, row.enrolment.patient_id)}`}>Open</a></td>
                  </tr>`,
                )}
              </tbody>
            </table>`}
      ${this.staff ? this.renderEnrol() : nothing}
    `;
  }

  private renderEnrol() {
    return html`<form class="card" @submit=${this.search}>
        <h2>Enrol a patient</h2>
        <label>Patient's last name<input required .value=${this.lookup.family}
          @input=${(e: Event) => (this.lookup = { ...this.lookup, family: (e.target as HTMLInputElement).value })} /></label>
        <label>Date of birth<input type="date" required .value=${this.lookup.born}
          @input=${(e: Event) => (this.lookup = { ...this.lookup, born: (e.target as HTMLInputElement).value })} /></label>
        <div class="actions"><button type="submit">Find patient</button></div>
      </form>
      ${this.found === null
        ? nothing
        : this.found.length === 0
          ? html`<p role="status">No patient has that last name and date of birth.</p>`
          : html`<form class="card" @submit=${this.enrol}>
              <fieldset>
                <legend>Which patient?</legend>
                ${this.found.map(
                  (p) => html`<label class="inline"><input type="radio" name="patient" .checked=${this.chosen === p.patient_id}
                    @change=${() => (this.chosen = p.patient_id)} />${patientWords(p)}</label>`,
                )}
              </fieldset>
              <label>Program<select .value=${this.program} @change=${(e: Event) => (this.program = (e.target as HTMLSelectElement).value)}>
                ${Object.entries(PROGRAMS).map(([id, words]) => html`<option value=${id} ?selected=${id === this.program}>${words}</option>`)}
              </select></label>
              <div class="actions"><button type="submit" ?disabled=${!this.chosen}>Enrol</button></div>
            </form>`}`;
  }
}

@customElement("care-patient")
export class CarePatient extends LitElement {
  static override styles = [viewStyles, chartStyles];

  @property({ attribute: false }) api!: Api;
  @property() patientId = "";
  @property({ type: Boolean }) provider = false;
  @state() private found: PatientReadings | null = null;
  @state() private error = "";
  @state() private said = "";
  @state() private notes: Record<string, string> = {};
  @state() private device = { serial: "", kind: "blood-pressure-cuff" };

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private path(rest: string): string {
    return `/v1/monitoring/patients/${encodeURIComponent(this.patientId)}/${rest}`;
  }

  private async load(): Promise<void> {
    try {
      this.found = await this.api.get<PatientReadings>(this.path("readings"));
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  private async acknowledge(event: Event, alert: Alert): Promise<void> {
    event.preventDefault();
    this.error = "";
    try {
      await this.api.post(this.path(`alerts/${encodeURIComponent(alert.alert_id)}/acknowledgement`), {
        note: (this.notes[alert.alert_id] ?? "").trim(),
      });
      this.said = `Acknowledged: ${ruleWords(alert.rule)}.`;
      await this.load();
      await this.updateComplete;
      (this.shadowRoot?.getElementById("said") as HTMLElement | null)?.focus();
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  /** A provider changes the program and its clinical settings; the rules apply them from the next reading. */
  private async reenrol(event: Event): Promise<void> {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const value = (name: string): string => (form.elements.namedItem(name) as HTMLSelectElement).value;
    this.error = "";
    try {
      await this.api.put(this.path("enrolment"), {
        program: value("program"),
        spo2_scale: value("spo2_scale"),
        on_oxygen: value("on_oxygen") === "" ? null : value("on_oxygen") === "yes",
        glucose_targets: value("glucose_targets"),
      });
      this.said = "The program's settings are saved: they apply from the next reading.";
      await this.load();
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  private renderProgram(enrolment: Enrolment) {
    if (!this.provider) return nothing;
    return html`<form class="card" aria-label="Program settings" @submit=${this.reenrol}>
      <label>Program <select name="program">
        ${Object.entries(PROGRAMS).map(([id, words]) => html`<option value=${id} ?selected=${id === enrolment.program}>${words}</option>`)}
      </select></label>
      <label>NEWS2 oxygen saturation scale <select name="spo2_scale">
        <option value="1" ?selected=${enrolment.spo2_scale === "1"}>Scale 1 (most patients)</option>
        <option value="2" ?selected=${enrolment.spo2_scale === "2"}>Scale 2: hypercapnic respiratory failure, target 88 to 92%</option>
      </select></label>
      <label>On supplemental oxygen at home (NEWS2's air or oxygen) <select name="on_oxygen">
        <option value="" ?selected=${enrolment.on_oxygen === null}>Not known (NEWS2 is partial)</option>
        <option value="no" ?selected=${enrolment.on_oxygen === false}>No: breathes air</option>
        <option value="yes" ?selected=${enrolment.on_oxygen === true}>Yes: supplemental oxygen</option>
      </select></label>
      <label>Glucose targets <select name="glucose_targets">
        <option value="most-adults" ?selected=${enrolment.glucose_targets === "most-adults"}>Most adults (70 to 180 mg/dL over 70% of the time)</option>
        <option value="older-or-high-risk" ?selected=${enrolment.glucose_targets === "older-or-high-risk"}>Older or high-risk (over 50% of the time, under 70 less than 1%)</option>
      </select></label>
      <div class="actions"><button type="submit">Save the program's settings</button></div>
    </form>`;
  }

  private async register(event: Event): Promise<void> {
    event.preventDefault();
    this.error = "";
    try {
      await this.api.post(this.path("devices"), { serial: this.device.serial.trim(), kind: this.device.kind });
      this.said = `The ${DEVICE_KINDS[this.device.kind].toLowerCase()} ${this.device.serial.trim()} is registered: its readings are this patient's from now.`;
      this.device = { ...this.device, serial: "" };
      await this.load();
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  override render() {
    const found = this.found;
    const name = found ? nameOf(found.patient, this.patientId) : "A patient";
    return html`
      <h1>${name}</h1>
      <p><a href="#/monitoring">Back to the panel</a></p>
      ${this.error ? html`<p role="alert" class="alert">${this.error}</p>` : nothing}
      ${this.said ? html`<p id="said" role="status" tabindex="-1">${this.said}</p>` : nothing}
      ${found === null
        ? html`<p role="status">Loading readings…</p>`
        : html`${found.enrolment
              ? html`<p>${PROGRAMS[found.enrolment.program]} program since ${when(found.enrolment.enrolled_at)}${found.enrolment.spo2_scale === "2" ? html`; SpO2 scale 2` : nothing}.</p>
                  ${this.renderProgram(found.enrolment)}`
              : nothing}
            ${this.renderAlerts(found.alerts)}
            ${this.renderBloodPressure(found)} ${this.renderWeight(found)} ${this.renderGlucose(found)}
            ${this.renderDevices(found)}
            ${found.enrolment ? html`<care-ledger .api=${this.api} .patientId=${this.patientId}></care-ledger>` : nothing}`}
    `;
  }

  private renderAlerts(alerts: Alert[]) {
    const open = alerts.filter((a) => !a.acknowledged_at);
    return html`<section aria-labelledby="alerts">
      <h2 id="alerts">Alerts</h2>
      ${open.length === 0 ? html`<p>No open alerts.</p>` : nothing}
      ${open.map(
        (a) => html`<form class="card" @submit=${(e: Event) => this.acknowledge(e, a)} aria-label=${`Alert: ${ruleWords(a.rule)} (${tierWords(a.tier)})`}>
          <p>${tierBadge(a.tier)} <strong>${ruleWords(a.rule)}</strong>${a.escalated ? " (raised to a higher tier)" : ""}, ${when(a.raised_at)}</p>
          <p>${a.note}</p>
          ${a.handed_on.length
            ? html`<p><strong>Not acknowledged in time:</strong> handed on to ${a.handed_on
                .map((h) => `${h.name ?? h.provider_id} (${when(h.at)})`)
                .join(", then ")}.</p>`
            : nothing}
          ${this.provider
            ? html`<label>What did you do?<textarea required rows="2" .value=${this.notes[a.alert_id] ?? ""}
                  @input=${(e: Event) => (this.notes = { ...this.notes, [a.alert_id]: (e.target as HTMLTextAreaElement).value })}></textarea></label>
                <div class="actions"><button type="submit">Acknowledge</button></div>`
            : html`<p class="muted">A provider acknowledges it.</p>`}
        </form>`,
      )}
      ${alerts.some((a) => a.acknowledged_at)
        ? html`<details><summary>Acknowledged alerts</summary><ul>
            ${alerts.filter((a) => a.acknowledged_at).map(
              (a) => html`<li>${ruleWords(a.rule)} (${tierWords(a.tier)}), ${when(a.raised_at)}: ${a.acknowledgement}</li>`,
            )}</ul></details>`
        : nothing}
    </section>`;
  }

  private renderBloodPressure(found: PatientReadings) {
    const pressures = bloodPressures(found.readings);
    if (pressures.length === 0) return nothing;
    const times = pressures.map((p) => Date.parse(p.at));
    const line = (values: number[]) =>
      values.map((v, i) => `${x(times[i], times)},${scaled(v, 40, 220, 160) + 10}`).join(" ");
    return html`<section aria-labelledby="bp">
      <h2 id="bp">Blood pressure</h2>
      <svg class="chart" viewBox="0 0 600 180" role="img" aria-label=${`Blood pressure, ${pressures.length} readings over the last 14 days; the dashed lines are 180 and 120 mmHg`}>
        ${[180, 120].map((t) => svg`<line class="threshold" x1="30" x2="590" y1=${scaled(t, 40, 220, 160) + 10} y2=${scaled(t, 40, 220, 160) + 10}></line>
          <text class="axis" x="2" y=${scaled(t, 40, 220, 160) + 14}>${t}</text>`)}
        <polyline class="chart-line systolic" points=${line(pressures.map((p) => p.systolic))}></polyline>
        <polyline class="chart-line diastolic" points=${line(pressures.map((p) => p.diastolic))}></polyline>
      </svg>
      <details><summary>Blood pressures as a table</summary>
        <table><thead><tr><th scope="col">Measured</th><th scope="col">Systolic (mmHg)</th><th scope="col">Diastolic (mmHg)</th></tr></thead>
          <tbody>${pressures.map((p) => html`<tr><td>${when(p.at)}</td><td>${p.systolic}</td><td>${p.diastolic}</td></tr>`)}</tbody>
        </table>
      </details>
    </section>`;
  }

  private renderWeight(found: PatientReadings) {
    const points = series(found.readings, WEIGHT);
    if (points.length === 0) return nothing;
    const values = points.map((p) => p.value);
    const low = Math.min(...values) - 1;
    const high = Math.max(...values) + 1;
    const times = points.map((p) => p.at);
    return html`<section aria-labelledby="weight">
      <h2 id="weight">Weight</h2>
      <svg class="chart" viewBox="0 0 600 180" role="img" aria-label=${`Weight, ${points.length} readings, from ${low + 1} to ${high - 1} kg`}>
        <polyline class="chart-line weight" points=${points.map((p: Point) => `${x(p.at, times)},${scaled(p.value, low, high, 160) + 10}`).join(" ")}></polyline>
      </svg>
      ${readingsTable(found, WEIGHT)}
    </section>`;
  }

  private renderGlucose(found: PatientReadings) {
    const profile = glucoseProfile(found.readings, ZONE);
    if (profile.length === 0) return nothing;
    const y = (v: number) => scaled(v, 40, 350, 160) + 10;
    const at = (h: HourProfile) => 30 + (h.hour / 23) * 560;
    const area = (top: (h: HourProfile) => number, bottom: (h: HourProfile) => number) =>
      [...profile.map((h) => `${at(h)},${y(top(h))}`), ...[...profile].reverse().map((h) => `${at(h)},${y(bottom(h))}`)].join(" ");
    return html`<section aria-labelledby="glucose">
      <h2 id="glucose">Glucose: ambulatory glucose profile</h2>
      <p class="muted">Every reading of the last 14 days by hour of the day: the median, the middle half (25th to 75th percentile) and 5th to 95th percentile; the green band is the 70 to 180 mg/dL target range. Dexcom's data reach the clinic hours late: no urgent low-glucose alert comes from them.</p>
      <svg class="chart" viewBox="0 0 600 180" role="img" aria-label="Ambulatory glucose profile by hour of day, with the 70 to 180 mg/dL target range">
        <rect class="target" x="30" width="560" y=${y(180)} height=${y(70) - y(180)}></rect>
        <polygon class="band-outer" points=${area((h) => h.p95, (h) => h.p5)}></polygon>
        <polygon class="band-inner" points=${area((h) => h.p75, (h) => h.p25)}></polygon>
        <polyline class="median" points=${profile.map((h) => `${at(h)},${y(h.p50)}`).join(" ")}></polyline>
        ${[70, 180, 250].map((t) => svg`<text class="axis" x="2" y=${y(t) + 4}>${t}</text>`)}
      </svg>
      <details><summary>The profile as a table</summary>
        <table><thead><tr><th scope="col">Hour</th><th scope="col">5th</th><th scope="col">25th</th><th scope="col">Median</th><th scope="col">75th</th><th scope="col">95th</th><th scope="col">Readings</th></tr></thead>
          <tbody>${profile.map((h) => html`<tr><td>${String(h.hour).padStart(2, "0")}:00</td><td>${Math.round(h.p5)}</td><td>${Math.round(h.p25)}</td><td>${Math.round(h.p50)}</td><td>${Math.round(h.p75)}</td><td>${Math.round(h.p95)}</td><td>${h.count}</td></tr>`)}</tbody>
        </table>
      </details>
    </section>`;
  }

  private renderDevices(found: PatientReadings) {
    return html`<section aria-labelledby="devices">
      <h2 id="devices">Devices</h2>
      ${found.devices.length === 0
        ? html`<p>No device is registered.</p>`
        : html`<ul>${found.devices.map((d) => html`<li>${DEVICE_KINDS[d.kind] ?? d.kind} ${d.serial}, since ${when(d.registered_at)}</li>`)}</ul>`}
      <form @submit=${this.register} aria-label="Register a device">
        <label>Device serial<input required maxlength="128" .value=${this.device.serial}
          @input=${(e: Event) => (this.device = { ...this.device, serial: (e.target as HTMLInputElement).value })} /></label>
        <label>Kind<select @change=${(e: Event) => (this.device = { ...this.device, kind: (e.target as HTMLSelectElement).value })}>
          ${Object.entries(DEVICE_KINDS).map(([id, words]) => html`<option value=${id} ?selected=${id === this.device.kind}>${words}</option>`)}
        </select></label>
        <div class="actions"><button type="submit">Register the device</button></div>
      </form>
    </section>`;
  }
}

/** Where an instant falls on a chart 600 wide (30 of margin on the left, 10 on the right). */
function x(at: number, times: number[]): number {
  const first = Math.min(...times);
  const last = Math.max(...times);
  return last === first ? 310 : 30 + ((at - first) / (last - first)) * 560;
}

function readingsTable(found: PatientReadings, code: string) {
  const rows = found.readings.filter((r) => r.code === code);
  return html`<details><summary>${measureWords(code)} as a table</summary>
    <table><thead><tr><th scope="col">Measured</th><th scope="col">${measureWords(code)} (${unitWords(rows[0]?.unit ?? "")})</th><th scope="col">Source</th></tr></thead>
      <tbody>${rows.map((r) => html`<tr><td>${when(r.effective)}</td><td>${r.value}</td><td>${r.provenance === "device" ? "Device" : "Typed in"}</td></tr>`)}</tbody>
    </table></details>`;
}

