// "Send photos to a clinician" (store-and-forward): the case's questions, one to six photos taken
// with the camera or chosen from the phone, each posted straight to the clinic's storage through
// its own upload slot (the photo's type, size and SHA-256 are what storage takes), then the case
// sent. Below: the patient's cases, each photo's state (checked, shown, or not sent and why), the
// clinician's answer once there, and what they prescribed from it.
import { html, nothing } from "lit";
import { customElement, state } from "lit/decorators.js";
import { ActionKeys } from "../shared/api.ts";
import type { CasePhoto, PhotoCase, Question } from "../shared/triage.ts";
import { PortalScreen, type Slot } from "./screen.ts";
import { type PatientPrescription, prescriptionList } from "./prescription-list.ts";
import { formatWhen } from "./time.ts";
import { codeWords } from "./words.ts";

// The patient's view adds the visit offered when the clinician asks to see them.
interface PatientsCase extends PhotoCase {
  visit: { specialty: string; state: string; soonest: Slot | null } | null;
}

interface Added {
  upload: { url: string; fields: Record<string, string> };
}

const TYPES = ["image/jpeg", "image/png", "image/heic", "image/heif"];
const PHOTO_WORDS: Record<CasePhoto["status"], string> = {
  awaited: "Not uploaded",
  scanning: "Being checked",
  ready: "Ready for the clinician",
  refused: "Not sent",
};

async function sha256(file: Blob): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

@customElement("portal-photos")
export class PhotosScreen extends PortalScreen {
  @state() private questions: Question[] = [];
  @state() private maxPhotos = 6;
  @state() private maxBytes = 25 * 1024 * 1024;
  @state() private cases: PatientsCase[] | null = null;
  @state() private prescriptions: PatientPrescription[] = [];
  @state() private progress = "";
  @state() private busy = false;
  private readonly keys = new ActionKeys();
  private polling = 0;

  override async connectedCallback(): Promise<void> {
    super.connectedCallback();
    try {
      const asked = await this.ctx.api.get<{ questions: Question[]; max_photos: number; max_photo_bytes: number }>(
        "/v1/me/triage/case-questions",
      );
      this.questions = asked.questions;
      this.maxPhotos = asked.max_photos;
      this.maxBytes = asked.max_photo_bytes;
      await Promise.all([this.loadCases(), this.loadPrescriptions()]);
    } catch (error) {
      void this.fail(error);
    }
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    window.clearTimeout(this.polling);
  }

  /** Read once with the screen, not with each look at the photos' checks. Where the clinic does
   * not prescribe online the route answers 404; any other failure leaves the cases readable. */
  private async loadPrescriptions(): Promise<void> {
    try {
      const all = await this.ctx.api.get<PatientPrescription[]>("/v1/me/prescriptions");
      this.prescriptions = all.filter((p) => p.case_id !== null);
    } catch {
      this.prescriptions = [];
    }
  }

  private async loadCases(): Promise<void> {
    this.cases = (await this.ctx.api.get<{ cases: PatientsCase[] }>("/v1/me/triage/cases")).cases;
    const checking = this.cases.some((c) => c.photos.some((p) => p.status === "scanning"));
    window.clearTimeout(this.polling);
    if (checking) this.polling = window.setTimeout(() => void this.loadCases(), 2000);
  }

  override render() {
    return html`
      <h1 tabindex="-1">Send photos to a clinician</h1>
      <p>For a skin problem that a clinician can judge from photos: they answer without a call, usually
        within two days. For anything urgent, use "Check your symptoms" or call 911.</p>
      ${this.error ? html`<p role="alert">${this.error}</p>` : nothing}
      <p role="status">${this.progress}</p>
      ${this.questions.length ? this.form() : nothing}
      ${this.cases?.length ? this.list(this.cases) : nothing}
    `;
  }

  private form() {
    return html`<form @submit=${this.send} novalidate>
      ${this.questions.map((q) => this.field(q))}
      <label for="photos">Photos (1 to ${this.maxPhotos})</label>
      <span class="hint" id="photos-hint">Take them in good light, close and from a little further away.</span>
      <input id="photos" name="photos" type="file" accept=${TYPES.join(",")} capture="environment" multiple
        aria-describedby="photos-hint" />
      <div class="actions"><button type="submit" ?disabled=${this.busy}>Send to a clinician</button></div>
    </form>`;
  }

  private field(q: Question) {
    const help = q.help ? html`<span class="hint" id=${`${q.link_id}-hint`}>${q.help}</span>` : nothing;
    const described = q.help ? `${q.link_id}-hint` : nothing;
    if (q.type === "choice") {
      return html`<label for=${q.link_id}>${q.text}</label>${help}
        <select id=${q.link_id} name=${q.link_id} ?required=${q.required} aria-describedby=${described}>
          <option value="">Choose</option>
          ${q.options.map((o) => html`<option value=${o.code}>${o.display}</option>`)}
        </select>`;
    }
    if (q.type === "boolean") {
      return html`<fieldset aria-describedby=${described}><legend>${q.text}</legend>${help}
        <label class="choice"><input type="radio" name=${q.link_id} value="true" /> Yes</label>
        <label class="choice"><input type="radio" name=${q.link_id} value="false" /> No</label>
      </fieldset>`;
    }
    if (q.type === "text") {
      return html`<label for=${q.link_id}>${q.text}${q.required ? "" : " (optional)"}</label>${help}
        <textarea id=${q.link_id} name=${q.link_id} rows="3" maxlength="2000" aria-describedby=${described}></textarea>`;
    }
    return html`<label for=${q.link_id}>${q.text}</label>${help}
      <input id=${q.link_id} name=${q.link_id} type="number" inputmode="numeric" min=${q.minimum ?? nothing}
        max=${q.maximum ?? nothing} aria-describedby=${described} />`;
  }

  private answers(form: HTMLFormElement): Record<string, boolean | number | string | null> {
    const data = new FormData(form);
    const answers: Record<string, boolean | number | string | null> = {};
    for (const q of this.questions) {
      const raw = data.get(q.link_id);
      const text = typeof raw === "string" ? raw.trim() : "";
      if (!text) {
        if (!q.required) answers[q.link_id] = null;
        continue;
      }
      answers[q.link_id] = q.type === "boolean" ? text === "true" : q.type === "integer" ? Number(text) : text;
    }
    return answers;
  }

  private readonly send = async (event: SubmitEvent): Promise<void> => {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const files = Array.from((form.elements.namedItem("photos") as HTMLInputElement).files ?? []);
    this.error = "";
    if (!files.length || files.length > this.maxPhotos) {
      this.error = `Choose 1 to ${this.maxPhotos} photos.`;
      return;
    }
    const wrong = files.find((f) => !TYPES.includes(f.type) || f.size > this.maxBytes || f.size === 0);
    if (wrong) {
      this.error = `${wrong.name} cannot be sent: send a JPEG, PNG or HEIC photo of at most ${this.maxBytes / 1048576} MB.`;
      return;
    }
    this.busy = true;
    try {
      const opened = await this.ctx.api.post<PhotoCase>("/v1/me/triage/cases", { answers: this.answers(form) });
      for (const [n, file] of files.entries()) {
        this.progress = `Sending photo ${n + 1} of ${files.length}…`;
        const asked = { content_type: file.type, size: file.size, sha256: await sha256(file) };
        const added = await this.ctx.api.post<Added>(
          `/v1/me/triage/cases/${opened.case_id}/photos`,
          asked,
          this.keys.for(`photo ${opened.case_id}`, asked),
        );
        const upload = new FormData();
        for (const [name, value] of Object.entries(added.upload.fields)) upload.append(name, value);
        upload.append("file", file);
        const stored = await fetch(added.upload.url, { method: "POST", body: upload, credentials: "omit" });
        if (!stored.ok) throw new Error(`Photo ${n + 1} did not upload. Check your connection and send it again.`);
      }
      const sent = await this.ctx.api.post<PhotoCase>(`/v1/me/triage/cases/${opened.case_id}/submit`);
      form.reset();
      this.progress = sent.due_at
        ? `Sent. A clinician will answer by ${formatWhen(sent.due_at, this.ctx.zone)}.`
        : "Sent.";
      await this.loadCases();
    } catch (error) {
      this.progress = "";
      void this.fail(error);
    } finally {
      this.busy = false;
    }
  };

  /** A clinician who asks to see the patient: the soonest time offered, else a search. */
  private visit(c: PatientsCase) {
    const offer = c.visit;
    const soonest = offer?.soonest ?? null;
    if (offer && soonest) {
      return html`<p>The clinician would like to see you. The soonest time:
          <strong>${formatWhen(soonest.start, this.ctx.zone)}</strong> with ${soonest.provider.name}
          (${codeWords(soonest.provider.specialty)}).</p>
        <div class="actions"><button ?disabled=${this.busy} @click=${() => this.book(soonest, offer.state)}>Book this time</button></div>`;
    }
    return html`<p>The clinician would like to see you.
      <a href=${`#/book/${offer?.specialty ?? "family-medicine"}`}>Find a time for a visit</a></p>`;
  }

  private async book(slot: Slot, state: string): Promise<void> {
    this.busy = true;
    try {
      await this.bookOffered(slot, state, this.keys);
    } finally {
      this.busy = false;
    }
  }

  private prescribed(c: PatientsCase) {
    const mine = this.prescriptions.filter((p) => p.case_id === c.case_id);
    return mine.length ? html`<h3>Your prescriptions</h3>${prescriptionList(mine)}` : nothing;
  }

  private list(cases: PatientsCase[]) {
    return html`<h2>Your cases</h2>
      ${cases
        .filter((c) => c.status !== "draft")
        .map(
          (c) => html`<section class="card" aria-label=${`Case sent ${c.submitted_at ? formatWhen(c.submitted_at, this.ctx.zone) : ""}`}>
            <p><strong>${c.status === "answered" ? "Answered" : "Waiting for a clinician"}</strong>
              ${c.submitted_at ? html` · sent ${formatWhen(c.submitted_at, this.ctx.zone)}` : nothing}</p>
            <ul>
              ${c.photos.map(
                (p, n) => html`<li>Photo ${n + 1}: ${PHOTO_WORDS[p.status]}${p.reason ? html`. ${p.reason}` : nothing}</li>`,
              )}
            </ul>
            ${c.answer
              ? html`<h3>The clinician's answer</h3>
                  <p>${c.answer.assessment}</p>
                  ${c.answer.advice ? html`<p>${c.answer.advice}</p>` : nothing}
                  ${c.answer.outcome === "live-visit" ? this.visit(c) : nothing}`
              : nothing}
            ${this.prescribed(c)}
          </section>`,
        )}`;
  }
}
