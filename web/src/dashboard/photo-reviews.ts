// Store-and-forward for the care team (tenants with triage on): the queue of patients' cases of
// photos, the soonest due first, and a case: the patient's answers, each photo once it is clean
// and made safe to show (fetched through the API and shown from memory, never by a link), the
// reasons others were refused, a provider's prescriptions from it (where the clinic has
// e-prescribing on too), and the provider's answer.
import { LitElement, css, html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import type { Api } from "../shared/api.ts";
import type { PhotoCase } from "../shared/triage.ts";
import { type FoundPatient, patientWords } from "./patients.ts";
import { viewStyles } from "./ui.ts";
import { answerWords, momentWords, saidOf } from "./words.ts";
import "./provider-prescriptions.ts";

interface Queued {
  case: PhotoCase;
  patient: FoundPatient | null;
  overdue: boolean;
  escalated: "nearing" | "overdue" | null;
}

interface Review {
  case: PhotoCase;
  patient: FoundPatient | null;
  answers: { link_id: string; question: string; answer: unknown }[];
}

@customElement("care-photo-queue")
export class CarePhotoQueue extends LitElement {
  static override styles = viewStyles;

  @property({ attribute: false }) api!: Api;
  @state() private queued: Queued[] | null = null;
  @state() private error = "";

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      this.queued = (await this.api.get<{ cases: Queued[] }>("/v1/triage/cases")).cases;
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  override render() {
    return html`
      <h1>Photo reviews</h1>
      ${this.error ? html`<p role="alert" class="alert">${this.error}</p>` : nothing}
      ${this.queued === null
        ? this.error ? nothing : html`<p>Loading…</p>`
        : this.queued.length === 0
          ? html`<p class="muted">No case is waiting for review.</p>`
          : html`<table>
              <caption>Cases of photos waiting for a clinician, the soonest due first</caption>
              <thead><tr><th scope="col">Patient</th><th scope="col">Due</th><th scope="col">Photos</th></tr></thead>
              <tbody>
                ${this.queued.map((q) => {
                  const name = q.patient ? patientWords(q.patient) : "A patient";
                  const ready = q.case.photos.filter((p) => p.status === "ready").length;
                  return html`<tr>
                    <td><a href=${`#/photo-reviews/${q.case.case_id}`} aria-label=${`Review ${name}'s case`}>${name}</a></td>
                    <td>${q.case.due_at ? momentWords(q.case.due_at) : ""} ${q.overdue
                      ? html`<span class="badge">Overdue</span>`
                      : q.escalated
                        ? html`<span class="badge">Due soon</span>`
                        : nothing}</td>
                    <td>${ready} of ${q.case.photos.length} ready</td>
                  </tr>`;
                })}
              </tbody>
            </table>`}
    `;
  }
}

@customElement("care-photo-case")
export class CarePhotoCase extends LitElement {
  static override styles = [
    viewStyles,
    css`
      .photos { display: grid; grid-template-columns: repeat(auto-fill, minmax(16rem, 1fr)); gap: 1rem; }
      figure { margin: 0; }
      figure img { width: 100%; height: auto; border: 1px solid #c9d2dc; border-radius: 6px; }
      textarea { width: 100%; box-sizing: border-box; }
    `,
  ];

  @property({ attribute: false }) api!: Api;
  @property() caseId = "";
  /** Providers answer; staff read. */
  @property({ type: Boolean }) provider = false;
  @state() private review: Review | null = null;
  @state() private images: Record<string, string> = {};
  @state() private error = "";
  @state() private said = "";
  @state() private busy = false;

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    for (const url of Object.values(this.images)) URL.revokeObjectURL(url);
  }

  private async load(): Promise<void> {
    try {
      this.review = await this.api.get<Review>(`/v1/triage/cases/${this.caseId}`);
      for (const photo of this.review.case.photos.filter((p) => p.status === "ready")) {
        const shown = await this.api.get<{ content_type: string; data: string }>(
          `/v1/triage/cases/${this.caseId}/photos/${photo.photo_id}`,
        );
        const bytes = Uint8Array.from(atob(shown.data), (c) => c.charCodeAt(0));
        this.images = { ...this.images, [photo.photo_id]: URL.createObjectURL(new Blob([bytes], { type: shown.content_type })) };
      }
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  private async send(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    const body = {
      assessment: String(form.get("assessment") ?? "").trim(),
      advice: String(form.get("advice") ?? "").trim(),
      outcome: String(form.get("outcome") ?? "advice"),
    };
    this.busy = true;
    this.error = "";
    try {
      const done = await this.api.post<PhotoCase>(`/v1/triage/cases/${this.caseId}/answer`, body);
      if (this.review) this.review = { ...this.review, case: done };
      this.said = "The answer is sent: the patient is told it is there.";
    } catch (error) {
      this.error = saidOf(error);
    } finally {
      this.busy = false;
    }
  }

  override render() {
    const review = this.review;
    const site = review ? answerWords(review.case.answers.body_site) : "";
    return html`
      <h1>A case of photos</h1>
      <p><a href="#/photo-reviews">Back to photo reviews</a></p>
      ${this.error ? html`<p role="alert" class="alert">${this.error}</p>` : nothing}
      <p role="status">${this.said}</p>
      ${review === null
        ? this.error ? nothing : html`<p>Loading…</p>`
        : html`
            <section>
              <h2>${review.patient ? patientWords(review.patient) : "A patient"}</h2>
              ${review.case.due_at ? html`<p>Due by ${momentWords(review.case.due_at)}.</p>` : nothing}
              <table>
                <caption>The patient's answers</caption>
                <thead><tr><th scope="col">Question</th><th scope="col">Answer</th></tr></thead>
                <tbody>${review.answers.map((a) => html`<tr><td>${a.question}</td><td>${answerWords(a.answer)}</td></tr>`)}</tbody>
              </table>
            </section>
            <section>
              <h2>Photos</h2>
              <div class="photos">
                ${review.case.photos.map((p, n) =>
                  p.status === "ready"
                    ? html`<figure>
                        ${this.images[p.photo_id]
                          ? html`<img src=${this.images[p.photo_id]} alt=${`Photo ${n + 1} of the case: ${site}`} />`
                          : html`<p>Loading photo ${n + 1}…</p>`}
                        <figcaption>Photo ${n + 1}</figcaption>
                      </figure>`
                    : html`<p>Photo ${n + 1}: ${p.status === "refused" ? `not shown. ${p.reason ?? ""}` : "still being checked."}</p>`,
                )}
              </div>
            </section>
            ${this.provider
              ? html`<provider-prescriptions .api=${this.api} .caseId=${this.caseId}></provider-prescriptions>`
              : nothing}
            ${review.case.answer
              ? html`<section>
                  <h2>The answer</h2>
                  <p>${review.case.answer.assessment}</p>
                  ${review.case.answer.advice ? html`<p>${review.case.answer.advice}</p>` : nothing}
                  ${review.case.answer.outcome === "live-visit" ? html`<p>A live visit was offered to the patient.</p>` : nothing}
                </section>`
              : this.provider
                ? html`<form class="card" @submit=${this.send}>
                    <h2>Your answer</h2>
                    <label>Assessment <textarea name="assessment" rows="4" required maxlength="4000"></textarea></label>
                    <label>Advice for the patient <textarea name="advice" rows="4" maxlength="4000"></textarea></label>
                    <fieldset>
                      <legend>What next</legend>
                      <label class="inline"><input type="radio" name="outcome" value="advice" checked /> The advice answers it</label>
                      <label class="inline"><input type="radio" name="outcome" value="live-visit" /> The patient needs a live visit</label>
                    </fieldset>
                    <div class="actions"><button type="submit" ?disabled=${this.busy}>Send the answer</button></div>
                  </form>`
                : nothing}
          `}
    `;
  }
}
