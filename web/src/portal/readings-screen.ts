// Your readings (clinics with remote monitoring on): what your devices and you sent in the last
// fortnight, what to do now, and a form to type in a blood pressure or a weight. A blood pressure
// at crisis level asks for a repeat; a repeat still there tells your care team at once, and with
// symptoms tells you to call 911, in words on this screen (the clinic's own rule, sent back with
// the reading: telehealth/domain/blood_pressure.py).
import { html, nothing } from "lit";
import { customElement, state } from "lit/decorators.js";
import { cameBack, leaveForSignIn, takeAwaySignIn } from "../shared/away-sign-in.ts";
import { PortalScreen } from "./screen.ts";

interface Reading {
  code: string;
  value: number;
  unit: string;
  effective: string;
  provenance: "device" | "manual";
}

interface Advice {
  code: "none" | "repeat" | "call-care-team" | "call-911";
  words: string;
}

interface MyReadings {
  enrolment: { program: string } | null;
  readings: Reading[];
  advice: Advice;
  symptoms: string[];
}

const PATH = "/v1/me/readings";
const WHAT: Record<string, string> = {
  "8480-6": "Blood pressure, top number",
  "8462-4": "Blood pressure, bottom number",
  "29463-7": "Weight",
  "8867-4": "Heart rate",
  "59408-5": "Oxygen level",
  "2708-6": "Oxygen level",
  "8310-5": "Temperature",
  "9279-1": "Breathing rate",
  "99504-3": "Glucose",
};
const UNITS: Record<string, string> = { "mm[Hg]": "mmHg", "/min": "per minute", Cel: "°C" };

/** One Open mHealth data point, typed in now. */
export function typedPoint(kind: "blood-pressure" | "body-weight", values: Record<string, number>): unknown {
  const body =
    kind === "blood-pressure"
      ? {
          systolic_blood_pressure: { value: values.systolic, unit: "mmHg" },
          diastolic_blood_pressure: { value: values.diastolic, unit: "mmHg" },
        }
      : { body_weight: { value: values.weight, unit: "kg" } };
  return {
    header: {
      id: crypto.randomUUID(),
      schema_id: { namespace: "omh", name: kind, version: "2.0" },
      acquisition_provenance: { modality: "self-reported" },
    },
    body: { ...body, effective_time_frame: { date_time: new Date().toISOString() } },
  };
}

const DEXCOM = "/v1/me/dexcom";
const DEXCOM_SIGN_IN = "dexcom"; // the away sign-in's name (shared/away-sign-in.ts)

interface DexcomAccount {
  linked: boolean;
  linked_at: string | null;
  polled_through: string | null;
  needs_relink: boolean;
}

/** On the portal's load, before the clinic's own sign-in reads the address bar: Dexcom's answer. */
export function takeDexcomSignIn(): void {
  takeAwaySignIn(DEXCOM_SIGN_IN);
}

@customElement("portal-readings")
export class ReadingsScreen extends PortalScreen {
  @state() private found: MyReadings | null = null;
  @state() private advice: Advice | null = null;
  @state() private kind: "blood-pressure" | "body-weight" = "blood-pressure";
  @state() private values: Record<string, string> = {};
  @state() private symptoms = false;
  @state() private sending = false;
  @state() private said = "";
  @state() private dexcom: DexcomAccount | null = null;
  @state() private dexcomSaid = "";

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      this.found = await this.ctx.api.get<MyReadings>(PATH);
      this.advice = this.advice ?? this.found.advice;
      if (this.found.enrolment) await this.loadDexcom();
    } catch (error) {
      void this.fail(error);
    }
  }

  private async loadDexcom(): Promise<void> {
    const back = cameBack(DEXCOM_SIGN_IN);
    if (back === null) {
      this.dexcom = await this.ctx.api.get<DexcomAccount>(DEXCOM);
      return;
    }
    if (back.error || !back.code) {
      this.dexcomSaid = "Dexcom did not connect your account. Please try again.";
      this.dexcom = await this.ctx.api.get<DexcomAccount>(DEXCOM);
      return;
    }
    try {
      this.dexcom = await this.ctx.api.put<DexcomAccount>(DEXCOM, { state: back.state, code: back.code });
      this.dexcomSaid = "Your Dexcom account is connected. Its readings reach your care team from now on.";
    } catch (error) {
      void this.fail(error);
      this.dexcom = await this.ctx.api.get<DexcomAccount>(DEXCOM);
    }
  }

  private async connectDexcom(): Promise<void> {
    try {
      const started = await this.ctx.api.post<{ authorize_url: string; state: string }>(`${DEXCOM}/sign-in`);
      leaveForSignIn(DEXCOM_SIGN_IN, started.state, started.authorize_url);
    } catch (error) {
      void this.fail(error);
    }
  }

  private async disconnectDexcom(): Promise<void> {
    try {
      await this.ctx.api.delete<null>(DEXCOM);
      this.dexcom = { linked: false, linked_at: null, polled_through: null, needs_relink: false };
      this.dexcomSaid = "Your Dexcom account is disconnected.";
    } catch (error) {
      void this.fail(error);
    }
  }

  private async save(event: Event): Promise<void> {
    event.preventDefault();
    if (this.sending) return;
    this.sending = true;
    this.error = "";
    this.said = "";
    const numbers = Object.fromEntries(Object.entries(this.values).map(([k, v]) => [k, Number(v)]));
    try {
      const answer = await this.ctx.api.post<{ taken: number; advice: Advice | null }>(PATH, {
        data_points: [typedPoint(this.kind, numbers)],
        symptoms: this.kind === "blood-pressure" && this.symptoms,
      });
      this.advice = answer.advice;
      this.said = "Saved. It shows below in a moment.";
      this.values = {};
      this.symptoms = false;
      await this.updateComplete;
      this.renderRoot.querySelector<HTMLElement>(this.advice && this.advice.code !== "none" ? "#advice" : "#said")?.focus();
      window.setTimeout(() => void this.load(), 1500);
    } catch (error) {
      void this.fail(error);
    } finally {
      this.sending = false;
    }
  }

  override render() {
    const found = this.found;
    return html`
      <h1 tabindex="-1">Your readings</h1>
      ${this.error ? html`<p role="alert">${this.error}</p>` : nothing}
      ${found === null
        ? html`<p role="status">Loading your readings…</p>`
        : found.enrolment === null
          ? html`<p>Your care team has not added you to remote monitoring. Ask them at your next visit.</p>`
          : html`${this.renderAdvice()} ${this.renderForm(found)} ${this.renderReadings(found)} ${this.renderDexcom()}`}
    `;
  }

  private renderDexcom() {
    const account = this.dexcom;
    if (account === null) return nothing;
    return html`<section class="card" aria-labelledby="dexcom">
      <h2 id="dexcom">Your Dexcom glucose monitor</h2>
      <p id="dexcom-said" role="status">${this.dexcomSaid}</p>
      ${account.linked && !account.needs_relink
        ? html`<p>Connected. Your care team reads your glucose readings from Dexcom${account.polled_through ? html`, up to ${new Date(account.polled_through).toLocaleString(undefined, { timeZone: this.ctx.zone, dateStyle: "medium", timeStyle: "short" })}` : nothing}.</p>
            <button class="secondary" @click=${() => this.disconnectDexcom()}>Disconnect Dexcom</button>`
        : html`<p>${account.needs_relink ? "Dexcom stopped sharing your readings: connect again." : "Share your Dexcom readings with your care team: you sign in at Dexcom and come back here."}</p>
            <button @click=${() => this.connectDexcom()}>Connect your Dexcom account</button>`}
      <p class="muted">Dexcom's readings reach the clinic hours after you take them, so your care team cannot warn you of a low as it happens. Follow your care plan for a low you feel now.</p>
    </section>`;
  }

  private renderAdvice() {
    const advice = this.advice;
    if (!advice || advice.code === "none") return nothing;
    const urgent = advice.code === "call-911" || advice.code === "call-care-team";
    return html`<p id="advice" tabindex="-1" role=${urgent ? "alert" : "status"} class=${urgent ? "alert" : "notice"}><strong>${advice.words}</strong></p>`;
  }

  private field(name: string, label: string, min: number, max: number, step = "1") {
    return html`<label>${label}<input name=${name} type="number" inputmode="decimal" required min=${min} max=${max} step=${step}
      .value=${this.values[name] ?? ""} @input=${(e: Event) => (this.values = { ...this.values, [name]: (e.target as HTMLInputElement).value })} /></label>`;
  }

  private renderForm(found: MyReadings) {
    return html`<form class="card" @submit=${this.save} aria-labelledby="add">
      <h2 id="add">Add a reading</h2>
      <fieldset>
        <legend>What did you measure?</legend>
        <label class="check"><input type="radio" name="kind" .checked=${this.kind === "blood-pressure"}
          @change=${() => (this.kind = "blood-pressure")} />Blood pressure</label>
        <label class="check"><input type="radio" name="kind" .checked=${this.kind === "body-weight"}
          @change=${() => (this.kind = "body-weight")} />Weight</label>
      </fieldset>
      ${this.kind === "blood-pressure"
        ? html`${this.field("systolic", "Systolic (top number)", 40, 300)} ${this.field("diastolic", "Diastolic (bottom number)", 20, 200)}
            <label class="check"><input type="checkbox" .checked=${this.symptoms} @change=${(e: Event) => (this.symptoms = (e.target as HTMLInputElement).checked)} />I have one of these symptoms now</label>
            <p class="muted">${found.symptoms.join(", ")}.</p>`
        : this.field("weight", "Weight (kg)", 2, 400, "0.1")}
      <div class="actions"><button type="submit" ?disabled=${this.sending}>Save the reading</button></div>
      <p id="said" tabindex="-1" role="status">${this.said}</p>
    </form>`;
  }

  private renderReadings(found: MyReadings) {
    // Glucose monitors send a reading every five minutes: those are summed up, the rest listed.
    const glucose = found.readings.filter((r) => r.code === "99504-3");
    const shown = found.readings.filter((r) => r.code !== "99504-3").reverse();
    const when = (r: Reading) =>
      new Date(r.effective).toLocaleString(undefined, { timeZone: this.ctx.zone, dateStyle: "medium", timeStyle: "short" });
    const latest = glucose.at(-1);
    return html`<section aria-labelledby="recent">
      <h2 id="recent">The last 14 days</h2>
      ${latest
        ? html`<p>Glucose: ${glucose.length} readings from your monitor; the latest, ${latest.value} mg/dL, ${when(latest)}.</p>
            <p class="muted">Glucose readings from your monitor's app reach the clinic hours after you take them, so your care team cannot warn you of a low as it happens. Follow your care plan for a low you feel now.</p>`
        : nothing}
      ${shown.length === 0
        ? latest ? nothing : html`<p>No readings yet.</p>`
        : html`<table>
            <caption>Your readings</caption>
            <thead><tr><th scope="col">When</th><th scope="col">What</th><th scope="col">Reading</th></tr></thead>
            <tbody>
              ${shown.map(
                (r) => html`<tr>
                  <td>${when(r)}</td>
                  <td>${WHAT[r.code] ?? r.code}${r.provenance === "manual" ? html` <span class="muted">(typed in)</span>` : nothing}</td>
                  <td>${r.value} ${UNITS[r.unit] ?? r.unit}</td>
                </tr>`,
              )}
            </tbody>
          </table>`}
    </section>`;
  }
}
