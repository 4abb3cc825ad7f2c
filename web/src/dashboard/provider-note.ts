// The visit's note: written during and after the call, saved as the provider types (on the
// revision it was made on: another window's words are never overwritten unseen), kept in the tab
// while the connection is down, then signed. A signed note is read-only: corrected by an
// amendment, added to by an addendum.
import { LitElement, css, html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { ApiError, newActionKey, type Api } from "../shared/api.ts";
import { contentBody, draftOf, keepUnsaved, saveWords, statusWords, unsavedFor, type Diagnosis, type Draft, type Note, type SaveState } from "./note.ts";
import "./provider-history.ts";
import "./provider-prescriptions.ts";
import { providerSelf } from "./provider-self.ts";
import { errorBlock, viewStyles } from "./ui.ts";
import { signName, type Vitals } from "./vitals.ts";
import { saidOf } from "./words.ts";

const AUTOSAVE_MS = 800;
const RETRY_MS = 5000;

@customElement("provider-note")
export class ProviderNote extends LitElement {
  static override styles = [
    viewStyles,
    css`
      textarea { font: inherit; width: 100%; box-sizing: border-box; min-height: 5rem; padding: 0.4rem; border: 1px solid #5b6b7c; border-radius: 4px; }
      label.block { display: flex; width: 100%; margin-right: 0; }
      ul.plain { list-style: none; padding: 0; margin: 0 0 0.75rem; }
      ul.plain li { display: flex; gap: 0.5rem; align-items: center; margin: 0.25rem 0; flex-wrap: wrap; }
      .read { white-space: pre-wrap; }
    `,
  ];

  @property({ attribute: false }) api!: Api;
  @property({ attribute: false }) appointmentId = "";
  @state() private note: Note | null = null;
  @state() private draft: Draft | null = null;
  @state() private saveState: SaveState = "saved";
  @state() private error = "";
  @state() private conflict = false;
  @state() private said = "";
  @state() private query = "";
  @state() private found: Diagnosis[] = [];
  @state() private confirmed: { id: string; words: string }[] = [];
  @state() private amending = false;
  @state() private reason = "";
  @state() private addendum = "";
  @state() private busy = false;
  @state() private zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  /** Their visit, not yet admitted: no note yet, but its allergies and medicines may be gone through. */
  @state() private notSeenYet = false;
  private timer: number | undefined;
  private saving: Promise<void> | null = null;
  private dirty = false;
  private keys = new Map<string, string>();
  private readonly online = () => void this.saveNow();

  override connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener("online", this.online);
    void this.load();
    void this.loadVitals();
    providerSelf(this.api).then((self) => self && (this.zone = self.zone), () => undefined);
  }

  override disconnectedCallback(): void {
    window.removeEventListener("online", this.online);
    window.clearTimeout(this.timer);
    super.disconnectedCallback();
  }

  private async load(): Promise<void> {
    this.error = "";
    this.conflict = false;
    try {
      const note = await this.api.get<Note>(`/v1/appointments/${this.appointmentId}/note`);
      this.note = note;
      const unsaved = note.status === "draft" ? unsavedFor(sessionStorage, this.appointmentId, note.revision) : null;
      this.draft = unsaved ?? draftOf(note);
      this.amending = false;
      if (unsaved) {
        this.said = "Words typed while the connection was down are back; saving them now.";
        this.dirty = true;
        void this.saveNow();
      } else {
        this.saveState = "saved";
      }
    } catch (error) {
      this.notSeenYet = error instanceof ApiError && error.kind === "visit-not-seen";
      this.error = saidOf(error);
    }
  }

  private async loadVitals(): Promise<void> {
    try {
      const vitals = await this.api.get<Vitals>(`/v1/appointments/${this.appointmentId}/vitals`);
      this.confirmed = vitals.readings
        .filter((r) => r.status === "final")
        .map((r) => ({ id: r.observation_id, words: `${signName(r.sign)} ${Math.round(r.per_minute)} a minute (from the video, confirmed)` }));
    } catch {
      this.confirmed = []; // no estimates for this visit: nothing to cite
    }
  }

  // --- typing and saving ------------------------------------------------------------------------

  private changed(update: (draft: Draft) => void): void {
    if (!this.draft || !this.note) return;
    const draft = structuredClone(this.draft);
    update(draft);
    this.draft = draft;
    if (this.amending) return; // an amendment is signed whole, not autosaved
    this.dirty = true;
    this.saveState = "waiting";
    keepUnsaved(sessionStorage, this.appointmentId, { revision: this.note.revision, draft });
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => void this.saveNow(), AUTOSAVE_MS);
  }

  /** One save at a time; words typed meanwhile go in the next. */
  private async saveNow(): Promise<void> {
    if (this.saving) {
      await this.saving;
      if (this.dirty) return this.saveNow();
      return;
    }
    if (!this.dirty || !this.note || !this.draft || this.conflict) return;
    this.saving = this.save(this.note, this.draft);
    try {
      await this.saving;
    } finally {
      this.saving = null;
    }
    if (this.dirty && this.saveState !== "offline" && this.saveState !== "refused") await this.saveNow();
  }

  private async save(note: Note, draft: Draft): Promise<void> {
    this.dirty = false;
    this.saveState = "saving";
    try {
      const saved = await this.api.put<Note>(`/v1/appointments/${this.appointmentId}/note`, {
        ...contentBody(draft),
        revision: note.revision,
      });
      this.note = saved;
      this.error = "";
      if (this.dirty && this.draft) {
        keepUnsaved(sessionStorage, this.appointmentId, { revision: saved.revision, draft: this.draft });
      } else {
        keepUnsaved(sessionStorage, this.appointmentId, null);
        this.saveState = "saved";
      }
    } catch (error) {
      this.dirty = true;
      if (error instanceof ApiError && error.status === 0) {
        this.saveState = "offline";
        window.clearTimeout(this.timer);
        this.timer = window.setTimeout(() => void this.saveNow(), RETRY_MS);
      } else if (error instanceof ApiError && (error.kind === "note-changed" || error.kind === "conflict")) {
        this.conflict = true;
        this.saveState = "refused";
        this.error = "This note was saved from another window since you opened it. Reload to see it; your words here are kept in this tab until you do.";
      } else {
        this.saveState = "refused";
        this.error = saidOf(error);
      }
    }
  }

  // --- diagnoses ---------------------------------------------------------------------------------

  private async search(event: Event): Promise<void> {
    event.preventDefault();
    const q = this.query.trim();
    if (q.length < 2) {
      this.said = "Type at least two letters or the start of a code.";
      return;
    }
    try {
      const answer = await this.api.get<{ diagnoses: Diagnosis[] }>("/v1/diagnoses", { q });
      this.found = answer.diagnoses;
      this.said = answer.diagnoses.length ? `${answer.diagnoses.length} diagnoses found.` : "No diagnosis found. Try other words or a code.";
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  private addDiagnosis(d: Diagnosis): void {
    if (this.draft?.diagnoses.some((x) => x.code === d.code)) return;
    this.changed((draft) => draft.diagnoses.push(d));
    this.said = `${d.code} added.`;
  }

  private removeDiagnosis(code: string): void {
    this.changed((draft) => (draft.diagnoses = draft.diagnoses.filter((d) => d.code !== code)));
    this.said = `${code} removed.`;
  }

  // --- signing, amending, adding -----------------------------------------------------------------

  private key(action: string): string {
    const key = this.keys.get(action) ?? newActionKey();
    this.keys.set(action, key);
    return key;
  }

  private async sign(): Promise<void> {
    if (this.busy || !this.note) return;
    this.busy = true;
    try {
      window.clearTimeout(this.timer);
      await this.saveNow();
      if (this.dirty || this.conflict || this.saveState !== "saved") return;
      const revision = this.note.revision;
      this.note = await this.api.post<Note>(`/v1/appointments/${this.appointmentId}/note/sign`, { revision }, this.key(`sign:${revision}`));
      this.draft = draftOf(this.note);
      this.error = "";
      await this.announce("The note is signed and on its way to the patient's record.");
    } catch (error) {
      this.error = saidOf(error);
    } finally {
      this.busy = false;
    }
  }

  private async amend(event: Event): Promise<void> {
    event.preventDefault();
    if (this.busy || !this.note || !this.draft) return;
    this.busy = true;
    try {
      const revision = this.note.revision;
      this.note = await this.api.post<Note>(
        `/v1/appointments/${this.appointmentId}/note/amendments`,
        { ...contentBody(this.draft), reason: this.reason, revision },
        this.key(`amend:${revision}`),
      );
      this.draft = draftOf(this.note);
      this.amending = false;
      this.reason = "";
      this.error = "";
      await this.announce("The amendment is signed. The version before it is kept in the record.");
    } catch (error) {
      this.error = saidOf(error);
    } finally {
      this.busy = false;
    }
  }

  private async addAddendum(event: Event): Promise<void> {
    event.preventDefault();
    if (this.busy || !this.note) return;
    this.busy = true;
    try {
      const revision = this.note.revision;
      this.note = await this.api.post<Note>(
        `/v1/appointments/${this.appointmentId}/note/addenda`,
        { text: this.addendum, revision },
        this.key(`addendum:${revision}`),
      );
      this.addendum = "";
      this.error = "";
      await this.announce("The addendum is added to the signed note.");
    } catch (error) {
      this.error = saidOf(error);
    } finally {
      this.busy = false;
    }
  }

  private async announce(words: string): Promise<void> {
    this.said = words;
    await this.updateComplete;
    (this.shadowRoot?.getElementById("said") as HTMLElement | null)?.focus();
  }

  // --- the view ----------------------------------------------------------------------------------

  override render() {
    const note = this.note;
    return html`
      <h1>Visit note</h1>
      <p><a href="#/today">Back to today</a></p>
      ${errorBlock(this.error, this.conflict ? this.error : null, () => void this.load())}
      <p role="status" tabindex="-1" id="said">${this.said}</p>
      ${note === null || this.draft === null
        ? this.error ? nothing : html`<p>Loading the note…</p>`
        : html`<p id="note-status">${statusWords(note)}</p>
            ${note.status === "draft" || this.amending ? this.renderEditor(note, this.draft) : this.renderSigned(note)}`}
      ${note?.access === "author" || this.notSeenYet
        ? html`<provider-history .api=${this.api} .appointmentId=${this.appointmentId}></provider-history>`
        : nothing}
      ${note?.access === "author"
        ? html`<provider-prescriptions .api=${this.api} .appointmentId=${this.appointmentId}></provider-prescriptions>`
        : nothing}
    `;
  }

  private renderEditor(note: Note, draft: Draft) {
    return html`<form class="card" @submit=${(e: Event) => (this.amending ? this.amend(e) : e.preventDefault())} aria-labelledby="editor-h">
      <h2 id="editor-h">${this.amending ? "Amend the signed note" : "Write the note"}</h2>
      ${this.amending
        ? nothing
        : html`<p class="muted" role="status" aria-live="polite" id="save-state">${saveWords(this.saveState, note.saved_at ?? null, this.zone)}</p>`}
      ${draft.sections.map(
        (s, i) => html`<label class="block">${s.title}
          <textarea .value=${s.text} @input=${(e: Event) => this.changed((d) => (d.sections[i].text = (e.target as HTMLTextAreaElement).value))}></textarea>
        </label>`,
      )}
      <fieldset>
        <legend>Diagnoses (ICD-10-CM)</legend>
        ${draft.diagnoses.length
          ? html`<ul class="plain" aria-label="Chosen diagnoses">
              ${draft.diagnoses.map(
                (d) => html`<li><span><strong>${d.code}</strong> ${d.display}</span>
                  <button type="button" class="secondary" aria-label=${`Remove ${d.code}`} @click=${() => this.removeDiagnosis(d.code)}>Remove</button></li>`,
              )}
            </ul>`
          : html`<p class="muted">None chosen yet.</p>`}
        <div class="actions">
          <label>Search diagnoses
            <input type="search" .value=${this.query} @input=${(e: Event) => (this.query = (e.target as HTMLInputElement).value)}
              @keydown=${(e: KeyboardEvent) => e.key === "Enter" && this.search(e)}>
          </label>
          <button type="button" class="secondary" @click=${(e: Event) => this.search(e)}>Search</button>
        </div>
        ${this.found.length
          ? html`<ul class="plain" aria-label="Diagnoses found">
              ${this.found.map(
                (d) => html`<li><button type="button" class="secondary" aria-label=${`Add ${d.code} ${d.display}`} @click=${() => this.addDiagnosis(d)}>Add</button>
                  <span><strong>${d.code}</strong> ${d.display}</span></li>`,
              )}
            </ul>`
          : nothing}
      </fieldset>
      ${this.confirmed.length
        ? html`<fieldset>
            <legend>Vital signs to cite</legend>
            ${this.confirmed.map(
              (v) => html`<label class="inline"><input type="checkbox" .checked=${draft.observationIds.includes(v.id)}
                @change=${(e: Event) => this.changed((d) => {
                  const on = (e.target as HTMLInputElement).checked;
                  d.observationIds = on ? [...d.observationIds, v.id] : d.observationIds.filter((o) => o !== v.id);
                })}>${v.words}</label>`,
            )}
          </fieldset>`
        : nothing}
      <label class="block">Instructions for the patient
        <textarea .value=${draft.instructions} @input=${(e: Event) => this.changed((d) => (d.instructions = (e.target as HTMLTextAreaElement).value))}></textarea>
      </label>
      <div class="actions">
        <label>Follow up within (days)
          <input type="number" min="1" max="365" inputmode="numeric" .value=${draft.followUpDays}
            @input=${(e: Event) => this.changed((d) => (d.followUpDays = (e.target as HTMLInputElement).value))}>
        </label>
        <label>Follow-up reason
          <input .value=${draft.followUpReason} maxlength="200" @input=${(e: Event) => this.changed((d) => (d.followUpReason = (e.target as HTMLInputElement).value))}>
        </label>
      </div>
      ${this.amending
        ? html`<label class="block">Reason for the amendment
              <input required maxlength="500" .value=${this.reason} @input=${(e: Event) => (this.reason = (e.target as HTMLInputElement).value)}>
            </label>
            <div class="actions">
              <button type="submit" aria-disabled=${this.busy ? "true" : "false"}>Sign the amendment</button>
              <button type="button" class="secondary" @click=${() => void this.load()}>Cancel the amendment</button>
            </div>`
        : html`<div class="actions">
            <button type="button" aria-disabled=${this.busy ? "true" : "false"} @click=${() => this.sign()}>Sign the note</button>
          </div>`}
    </form>`;
  }

  private renderSigned(note: Note) {
    return html`<section aria-labelledby="signed-h">
        <h2 id="signed-h">The signed note</h2>
        ${(note.sections ?? []).map((s) => html`<h3>${s.title}</h3><p class="read">${s.text || "(nothing written)"}</p>`)}
        <h3>Diagnoses</h3>
        <ul>${note.diagnoses.map((d) => html`<li>${d.code} ${d.display}</li>`)}</ul>
        ${note.instructions ? html`<h3>Instructions for the patient</h3><p class="read">${note.instructions}</p>` : nothing}
        ${note.follow_up ? html`<h3>Follow-up</h3><p>Within ${note.follow_up.within_days} days${note.follow_up.reason ? `: ${note.follow_up.reason}` : ""}</p>` : nothing}
        ${(note.addenda ?? []).map((a) => html`<h3>Addendum ${a.number}</h3><p class="read">${a.text}</p>`)}
      </section>
      ${note.access === "author"
        ? html`<form class="card" @submit=${(e: Event) => this.addAddendum(e)} aria-labelledby="addendum-h">
              <h2 id="addendum-h">Add an addendum</h2>
              <label class="block">Addendum
                <textarea required maxlength="4000" .value=${this.addendum} @input=${(e: Event) => (this.addendum = (e.target as HTMLTextAreaElement).value)}></textarea>
              </label>
              <div class="actions"><button type="submit" aria-disabled=${this.busy ? "true" : "false"}>Add addendum</button></div>
            </form>
            <p><button class="secondary" @click=${() => (this.amending = true)}>Amend the note</button></p>`
        : nothing}`;
  }
}
