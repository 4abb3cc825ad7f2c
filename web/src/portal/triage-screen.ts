// "Check your symptoms": the clinic's symptom check, one question at a time. Every answer goes to
// the API, which holds it to the red flags first: one that holds ends the check with the emergency
// instruction, shown alone, in plain words, with the number to call. Otherwise the check ends
// with where to go and why: the soonest urgent-care time to book now, a search for a visit today
// or within days, or self-care advice.
import { css, html, nothing } from "lit";
import { customElement, state } from "lit/decorators.js";
import { keyed } from "lit/directives/keyed.js";
import { ActionKeys, ApiError } from "../shared/api.ts";
import type { Question } from "../shared/triage.ts";
import { PortalScreen, type Slot } from "./screen.ts";
import { formatWhen } from "./time.ts";
import { codeWords } from "./words.ts";

type Answer = boolean | number | string | null;

interface Step {
  intake_id: string;
  status: "in-progress" | "completed" | "stopped";
  answers: Record<string, Answer>;
  question: Question | null;
  emergency: { call: "911" | "988"; instruction: string; shown_at: string } | null;
  outcome: {
    disposition: "emergency" | "now" | "today" | "within-days" | "asynchronous" | "self-care";
    why: string;
    advice: string | null;
    offer: { specialty: string; from: string; to: string; state: string | null; soonest: Slot | null } | null;
  } | null;
}

const WHERE: Record<string, string> = {
  now: "See a clinician now",
  today: "See a clinician today",
  "within-days": "Book a visit in the next few days",
  asynchronous: "A clinician can look at this without a call",
  "self-care": "You can care for this at home",
};

/** The text a question's answer takes in a form field, and back. */
function fieldValue(answer: Answer | undefined): string {
  return answer === null || answer === undefined ? "" : String(answer);
}

@customElement("portal-triage")
export class TriageScreen extends PortalScreen {
  static override styles = [
    ...PortalScreen.styles,
    css`
      .emergency { border: 3px solid var(--danger, #a4262c); font-size: 1.15rem; }
      .actions .button { font-size: 1.15rem; }
    `,
  ];

  @state() private available: boolean | null = null;
  @state() private step: Step | null = null;
  @state() private busy = false;
  /** The questions answered, in the order asked: "Back" takes the last one off. */
  private asked: string[] = [];
  private readonly keys = new ActionKeys();

  override async connectedCallback(): Promise<void> {
    super.connectedCallback();
    try {
      this.available = (await this.ctx.api.get<{ available: boolean }>("/v1/me/triage/availability")).available;
    } catch (error) {
      void this.fail(error);
    }
  }

  override render() {
    const step = this.step;
    if (step?.emergency) return this.emergency(step.emergency);
    return html`
      <h1 tabindex="-1">Check your symptoms</h1>
      ${this.error ? html`<p role="alert">${this.error}</p>` : nothing}
      ${this.available === false
        ? html`<p>The symptom check is not available yet. If you need care, call your clinic. In an
            emergency, call 911.</p>`
        : nothing}
      ${this.available && !step ? this.intro() : nothing}
      ${step?.question
        ? // A form of its own per question: a field reused for the next question would keep the
          // answer given to the last one (a "No" the patient never gave to a red flag's question).
          keyed(step.question.link_id, this.question(step, step.question))
        : nothing}
      ${step?.outcome && !step.emergency ? this.outcome(step) : nothing}
    `;
  }

  private intro() {
    return html`
      <p>Answer a few questions, one at a time. If anything you tell us needs emergency care, we will
        tell you straight away.</p>
      <p class="muted">This is not a diagnosis. If you think you are having an emergency, call 911 now.</p>
      <div class="actions"><button @click=${this.start} ?disabled=${this.busy}>Start</button></div>
    `;
  }

  private question(step: Step, q: Question) {
    const given = step.answers[q.link_id];
    const help = q.help ? html`<span class="hint" id="q-help">${q.help}</span>` : nothing;
    const described = q.help ? "q-help" : nothing;
    let field;
    if (q.type === "boolean" || q.type === "choice") {
      const options =
        q.type === "boolean"
          ? [
              { code: "true", display: "Yes" },
              { code: "false", display: "No" },
            ]
          : q.options;
      field = html`<fieldset aria-describedby=${described}>
        <legend>${q.text}</legend>
        ${help}
        ${options.map(
          (o) => html`<label class="choice"><input type="radio" name="answer" value=${o.code} required
              .checked=${fieldValue(given) === o.code} /> ${o.display}</label>`,
        )}
      </fieldset>`;
    } else if (q.type === "text") {
      field = html`<label for="answer">${q.text}</label>${help}
        <textarea id="answer" name="answer" rows="4" maxlength="2000" aria-describedby=${described}
          .value=${fieldValue(given)}></textarea>`;
    } else {
      field = html`<label for="answer">${q.text}</label>${help}
        <input id="answer" name="answer" type="number" inputmode=${q.type === "integer" ? "numeric" : "decimal"}
          step=${q.type === "integer" ? "1" : "0.1"} min=${q.minimum ?? nothing} max=${q.maximum ?? nothing}
          ?required=${q.required} aria-describedby=${described} .value=${fieldValue(given)} />`;
    }
    return html`
      <p class="muted" aria-live="polite">Question ${this.asked.length + 1}</p>
      <form @submit=${(e: SubmitEvent) => this.onAnswer(e, q)} novalidate>
        ${field}
        <div class="actions">
          <button type="submit" ?disabled=${this.busy}>Next</button>
          ${q.required ? nothing : html`<button type="button" class="secondary" ?disabled=${this.busy}
              @click=${() => this.send(q.link_id, null)}>Skip</button>`}
          ${this.asked.length
            ? html`<button type="button" class="secondary" ?disabled=${this.busy} @click=${this.back}>Back</button>`
            : nothing}
        </div>
      </form>
    `;
  }

  private emergency(shown: NonNullable<Step["emergency"]>) {
    const crisis = shown.call === "988";
    return html`
      <h1 tabindex="-1">${crisis ? "Call or text 988 now" : "Call 911 now"}</h1>
      <div role="alert" class="card emergency">
        <p><strong>${shown.instruction}</strong></p>
      </div>
      <div class="actions">
        <a class="button danger" href=${`tel:${shown.call}`}>Call ${shown.call}</a>
        ${crisis ? html`<a class="button" href="sms:988">Text 988</a>` : nothing}
        ${crisis ? html`<a class="button secondary" href="tel:911">Call 911</a>` : nothing}
      </div>
      <p>Your clinic's on-call clinician has been told that you were sent to emergency care.</p>
      <p class="muted">Do not wait for a video visit for this.</p>
    `;
  }

  private outcome(step: Step) {
    const outcome = step.outcome!;
    const offer = outcome.offer;
    const soonest = offer?.soonest ?? null;
    return html`
      <h2>${WHERE[outcome.disposition] ?? "What to do next"}</h2>
      <p><strong>Why:</strong> ${outcome.why}</p>
      ${outcome.advice ? html`<p class="card">${outcome.advice}</p>` : nothing}
      ${soonest
        ? html`<p>The soonest time: <strong>${formatWhen(soonest.start, this.ctx.zone)}</strong> with
              ${soonest.provider.name} (${codeWords(soonest.provider.specialty)}).</p>
            <div class="actions"><button ?disabled=${this.busy} @click=${() => this.book(soonest, offer!.state!)}>
              Book this time</button></div>`
        : nothing}
      ${outcome.disposition === "asynchronous"
        ? html`<p><a href="#/photos">Send photos to a clinician</a></p>`
        : nothing}
      ${offer && !soonest && outcome.disposition !== "now"
        ? html`<p><a href=${`#/book/${offer.specialty}`}>Find a time: ${codeWords(offer.specialty)}</a></p>`
        : nothing}
      <p class="muted">If you get worse, or develop chest pain, trouble breathing, or sudden weakness or
        trouble speaking, call 911.</p>
      <div class="actions"><button class="secondary" @click=${this.restart}>Start again</button></div>
    `;
  }

  private readonly start = async (): Promise<void> => {
    this.busy = true;
    this.error = "";
    try {
      this.step = await this.ctx.api.post<Step>("/v1/me/triage/intakes", {}, this.keys.for("start"));
      this.keys.settle("start", null);
      this.asked = [];
      await this.focusQuestion();
    } catch (error) {
      this.keys.settle("start", null, error);
      void this.fail(error);
    } finally {
      this.busy = false;
    }
  };

  private readonly restart = async (): Promise<void> => {
    this.step = null;
    await this.start();
  };

  private onAnswer(event: SubmitEvent, q: Question): void {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const raw = new FormData(form).get("answer");
    const text = typeof raw === "string" ? raw.trim() : "";
    if (!text && q.required) {
      this.error = q.type === "boolean" || q.type === "choice" ? "Please choose an answer." : "Please answer the question.";
      void this.focusError();
      return;
    }
    let value: Answer = text || null;
    if (q.type === "boolean") value = text === "true";
    if ((q.type === "integer" || q.type === "decimal") && text) value = Number(text);
    void this.send(q.link_id, value);
  }

  private async send(linkId: string, value: Answer): Promise<void> {
    const step = this.step;
    if (!step) return;
    await this.put({ ...step.answers, [linkId]: value }, [...this.asked, linkId]);
  }

  private readonly back = async (): Promise<void> => {
    const step = this.step;
    if (!step || !this.asked.length) return;
    const asked = this.asked.slice(0, -1);
    const answers = Object.fromEntries(Object.entries(step.answers).filter(([k]) => asked.includes(k)));
    const last = this.asked[this.asked.length - 1];
    await this.put(answers, asked, { [last]: step.answers[last] ?? null });
  };

  /** Send the answers; `keep` pre-fills the question coming back (going back shows what was said). */
  private async put(answers: Record<string, Answer>, asked: string[], keep: Record<string, Answer> = {}): Promise<void> {
    const step = this.step!;
    this.busy = true;
    this.error = "";
    try {
      const next = await this.ctx.api.put<Step>(`/v1/me/triage/intakes/${step.intake_id}/answers`, { answers });
      this.asked = asked.filter((k) => k in next.answers);
      this.step = { ...next, answers: { ...next.answers, ...keep } };
      await this.focusQuestion();
    } catch (error) {
      void this.fail(error);
    } finally {
      this.busy = false;
    }
  }

  private async book(slot: Slot, state: string): Promise<void> {
    this.busy = true;
    try {
      const refused = await this.bookOffered(slot, state, this.keys);
      if (refused instanceof ApiError && refused.kind === "slot-taken") this.error += " Start again to find another time.";
    } finally {
      this.busy = false;
    }
  }

  /** The new question's field (or the ending's heading) takes focus, so a screen reader reads it. */
  private async focusQuestion(): Promise<void> {
    await this.updateComplete;
    let target: HTMLElement | null;
    if (this.step?.emergency) target = this.renderRoot.querySelector<HTMLElement>("h1");
    else if (this.step && !this.step.question) {
      target = this.renderRoot.querySelector<HTMLElement>("h2");
      target?.setAttribute("tabindex", "-1");
    } else target = this.renderRoot.querySelector<HTMLElement>("fieldset input, #answer");
    target?.focus();
  }

  private async focusError(): Promise<void> {
    await this.updateComplete;
    this.renderRoot.querySelector<HTMLElement>('[role="alert"]')?.scrollIntoView({ block: "nearest" });
    this.renderRoot.querySelector<HTMLElement>("fieldset input, #answer")?.focus();
  }
}
