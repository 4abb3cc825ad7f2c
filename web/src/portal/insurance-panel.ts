// Your insurance, on "Your details": the insurer (from the clinic's list), the member id, and the
// policyholder where that is someone else; then what the insurer said, which arrives a moment
// later (the clinic asks the insurer in the background) and is spoken by a polite live region.
import { html, nothing } from "lit";
import { customElement, state } from "lit/decorators.js";
import { ActionKeys, ApiError } from "../shared/api.ts";
import type { Payer } from "../shared/coverage.ts";
import { type PatientCoverage, coverageWords } from "./money.ts";
import { PortalScreen } from "./screen.ts";

// How long the panel keeps asking for the insurer's answer after a save.
const WAIT_FOR_CHECK_MS = 45_000;
const ASK_EVERY_MS = 1_500;

@customElement("portal-insurance")
export class InsurancePanel extends PortalScreen {
  @state() private payers: Payer[] | null = null;
  @state() private coverage: PatientCoverage | null = null;
  @state() private takesNoPayments = false;
  @state() private relationship = "self";
  @state() private sending = false;
  @state() private said = "";
  private readonly keys = new ActionKeys();
  private waiting = 0;

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    window.clearTimeout(this.waiting);
  }

  private async load(): Promise<void> {
    try {
      const [payers, coverage] = await Promise.all([
        this.ctx.api.get<{ payers: Payer[] }>("/v1/payers"),
        this.ctx.api.get<PatientCoverage>("/v1/me/coverage").catch((error: unknown) => {
          if (error instanceof ApiError && error.kind === "not-found") return null;
          throw error;
        }),
      ]);
      this.payers = payers.payers;
      this.coverage = coverage;
      this.relationship = coverage?.relationship ?? "self";
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) this.takesNoPayments = true;
      else void this.fail(error);
    }
  }

  override render() {
    if (this.takesNoPayments) return nothing;
    const c = this.coverage;
    return html`<section aria-labelledby="insurance-title">
      <h2 id="insurance-title">Your insurance (optional)</h2>
      <p>Without insurance you pay a visit's price yourself. With it, we ask your insurer what you owe.</p>
      ${c ? html`<div class="card">${coverageWords(c).map((line) => html`<p>${line}</p>`)}</div>` : nothing}
      ${this.error ? html`<p role="alert">${this.error}</p>` : nothing}
      <p role="status">${this.said}</p>
      ${this.payers ? this.form(this.payers, c) : this.error ? nothing : html`<p>Loading your insurance…</p>`}
    </section>`;
  }

  private form(payers: Payer[], c: PatientCoverage | null) {
    const dependent = this.relationship !== "self";
    return html`<form @submit=${this.save}>
      <label for="payer">Insurer</label>
      <select id="payer" name="payer_id" required>
        <option value="" ?selected=${!c}>Choose your insurer</option>
        ${payers.map((p) => html`<option value=${p.payer_id} ?selected=${p.payer_id === c?.payer_id}>${p.name}</option>`)}
      </select>
      <label for="member">Member ID</label>
      <span class="hint" id="member-hint">As it is on your insurance card.</span>
      <input id="member" name="member_id" required maxlength="40" pattern="[A-Za-z0-9\\-]{2,40}" autocomplete="off"
        aria-describedby="member-hint" .value=${c?.member_id ?? ""} />
      <label for="group">Group number (optional)</label>
      <input id="group" name="group_number" maxlength="40" pattern="[A-Za-z0-9\\-]{1,40}" autocomplete="off"
        .value=${c?.group_number ?? ""} />
      <label for="relationship">Whose plan is it?</label>
      <select id="relationship" name="relationship" @change=${(e: Event) => (this.relationship = (e.target as HTMLSelectElement).value)}>
        <option value="self" ?selected=${!dependent}>Mine: I am the policyholder</option>
        <option value="spouse" ?selected=${this.relationship === "spouse"}>My spouse's or partner's</option>
        <option value="child" ?selected=${this.relationship === "child"}>My parent's</option>
        <option value="other" ?selected=${this.relationship === "other"}>Someone else's</option>
      </select>
      ${dependent
        ? html`<fieldset>
            <legend>The policyholder</legend>
            <label for="holder-given">First name</label>
            <input id="holder-given" name="holder_given" required maxlength="60" autocomplete="off" />
            <label for="holder-family">Last name</label>
            <input id="holder-family" name="holder_family" required maxlength="60" autocomplete="off" />
            <label for="holder-born">Date of birth</label>
            <input id="holder-born" name="holder_born" type="date" required max=${new Date().toISOString().slice(0, 10)} />
          </fieldset>`
        : nothing}
      <div class="actions"><button type="submit" ?disabled=${this.sending}>Save your insurance</button></div>
    </form>`;
  }

  private async save(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    const text = (name: string) => String(form.get(name) ?? "").trim();
    const relationship = text("relationship") || "self";
    const body = {
      payer_id: text("payer_id"),
      member_id: text("member_id"),
      group_number: text("group_number") || null,
      relationship,
      subscriber:
        relationship === "self"
          ? null
          : { given_name: text("holder_given"), family_name: text("holder_family"), birth_date: text("holder_born") },
    };
    this.sending = true;
    this.error = "";
    this.said = "";
    try {
      this.coverage = await this.ctx.api.put<PatientCoverage>("/v1/me/coverage", body, this.keys.for("coverage", body));
      this.keys.settle("coverage", body);
      this.said = "Your insurance is saved. We are asking your insurer about it now.";
      this.waitForCheck(Date.now() + WAIT_FOR_CHECK_MS);
    } catch (error) {
      this.keys.settle("coverage", body, error);
      void this.fail(error);
    } finally {
      this.sending = false;
    }
  }

  /** Asks again until the insurer's answer is in, then says it. */
  private waitForCheck(until: number): void {
    window.clearTimeout(this.waiting);
    this.waiting = window.setTimeout(async () => {
      try {
        const found = await this.ctx.api.get<PatientCoverage>("/v1/me/coverage");
        this.coverage = found;
        if (found.check) {
          this.said = coverageWords(found).join(" ");
          return;
        }
      } catch {
        // A moment's trouble reading it back: the next try says more.
      }
      if (Date.now() < until) this.waitForCheck(until);
      else this.said = "Your insurer has not answered yet. Come back to this page later to see what they said.";
    }, ASK_EVERY_MS);
  }
}
