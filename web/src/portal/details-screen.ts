// Your details: the name, date of birth, home state and time zone the clinic needs before it books
// a visit (the API refuses a booking without them), and a phone for reminders. A patient who has
// just signed up lands here first; afterwards it is a page like any other.
import { css, html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { ApiError } from "../shared/api.ts";
import { US_STATES } from "../shared/states.ts";
import { type PatientDetails, PortalScreen } from "./screen.ts";
import "./insurance-panel.ts";
import { zoneChoices } from "./time.ts";

// The API's field names, as its `errors` name them, and the label a person sees.
const FIELD_LABELS: Record<string, string> = {
  given_name: "First name",
  family_name: "Last name",
  birth_date: "Date of birth",
  home_state: "State you live in",
  zone: "Your time zone",
  phone: "Mobile phone",
};

interface FieldProblem {
  field: string;
  problem: string;
}

@customElement("portal-details")
export class DetailsScreen extends PortalScreen {
  static override styles = [...PortalScreen.styles, css`.email { overflow-wrap: anywhere; }`];

  /** Where to go once the details are saved (the booking screen, when it sent the patient here). */
  @property() next = "";
  @state() private details: PatientDetails | null = null;
  @state() private loaded = false;
  @state() private sending = false;
  @state() private problems: FieldProblem[] = [];

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      this.details = await this.ctx.patientDetails(true);
    } catch (error) {
      void this.fail(error);
    }
    this.loaded = true;
  }

  override render() {
    const d = this.details;
    return html`
      <h1 tabindex="-1">Your details</h1>
      ${d?.complete
        ? nothing
        : html`<p>Before you book a visit, tell us who you are. Your clinician sees these details; the clinic keeps them private.</p>`}
      ${this.error ? html`<p role="alert">${this.error}</p>` : nothing}
      ${this.problems.length
        ? html`<ul role="alert" class="problems">
            ${this.problems.map((p) => html`<li>${FIELD_LABELS[p.field] ?? "A field"}: ${p.problem}</li>`)}
          </ul>`
        : nothing}
      ${this.loaded ? this.form(d) : html`<p>Loading…</p>`}
      ${this.loaded && d?.complete && this.ctx.stripeJs ? html`<portal-insurance .ctx=${this.ctx}></portal-insurance>` : nothing}
    `;
  }

  private form(d: PatientDetails | null) {
    const zone = d?.zone ?? this.ctx.zone;
    return html`<form @submit=${this.submit}>
      ${d?.email ? html`<p class="email">Reminders go to <strong>${d.email}</strong>, the e-mail you sign in with.</p>` : nothing}
      <label for="given">First name</label>
      <input id="given" name="given_name" required maxlength="60" autocomplete="given-name" .value=${d?.given_name ?? ""}
        aria-invalid=${this.invalid("given_name")} />
      <label for="family">Last name</label>
      <input id="family" name="family_name" required maxlength="60" autocomplete="family-name" .value=${d?.family_name ?? ""}
        aria-invalid=${this.invalid("family_name")} />
      <label for="born">Date of birth</label>
      <input id="born" name="birth_date" type="date" required autocomplete="bday" .value=${d?.birth_date ?? ""}
        max=${new Date().toISOString().slice(0, 10)} aria-invalid=${this.invalid("birth_date")} />
      <label for="home">State you live in</label>
      <select id="home" name="home_state" required aria-invalid=${this.invalid("home_state")}>
        <option value="" ?selected=${!d?.home_state}>Choose a state</option>
        ${US_STATES.map(([code, name]) => html`<option value=${code} ?selected=${code === d?.home_state}>${name}</option>`)}
      </select>
      <label for="zone">Your time zone</label>
      <span class="hint" id="zone-hint">Your visit times are shown in it.</span>
      <select id="zone" name="zone" required aria-describedby="zone-hint" aria-invalid=${this.invalid("zone")}>
        ${zoneChoices(zone).map(([name, words]) => html`<option value=${name} ?selected=${name === zone}>${words}</option>`)}
      </select>
      <label for="phone">Mobile phone (optional)</label>
      <span class="hint" id="phone-hint">For text reminders, with the country code: +1 then ten digits.</span>
      <input id="phone" name="phone" type="tel" maxlength="16" autocomplete="tel" .value=${d?.phone ?? ""}
        aria-describedby="phone-hint" aria-invalid=${this.invalid("phone")} />
      <div class="actions"><button type="submit" ?disabled=${this.sending}>Save your details</button></div>
    </form>`;
  }

  private invalid(field: string): "true" | "false" {
    return this.problems.some((p) => p.field === field) ? "true" : "false";
  }

  private async submit(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    const text = (name: string) => String(form.get(name) ?? "").trim();
    const phone = text("phone").replace(/[\s().-]/g, "");
    const body = {
      given_name: text("given_name"),
      family_name: text("family_name"),
      birth_date: text("birth_date"),
      home_state: text("home_state"),
      zone: text("zone"),
      phone: phone || null,
      version: this.details?.version ?? 0,
    };
    this.sending = true;
    this.error = "";
    this.problems = [];
    try {
      const saved = await this.ctx.api.put<PatientDetails>("/v1/me/details", body);
      this.ctx.detailsSaved(saved);
      this.ctx.navigate(this.next || "#/", { notice: "Your details are saved." });
    } catch (error) {
      const fields = error instanceof ApiError ? error.problem.errors : undefined;
      if (Array.isArray(fields) && fields.length) {
        this.problems = fields as FieldProblem[];
        await this.updateComplete;
        this.renderRoot.querySelector(".problems")?.scrollIntoView({ block: "nearest" });
      } else {
        if (error instanceof ApiError && error.kind === "conflict") void this.load();
        void this.fail(error);
      }
    } finally {
      this.sending = false;
    }
  }
}
