// The provider's weekly hours: a week grid of intervals per weekday on their own wall clock.
import { LitElement, css, html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import type { Api } from "../shared/api.ts";
import {
  WEEKDAYS,
  addInterval,
  availabilityRequest,
  copyDay,
  problemsOf,
  removeInterval,
  setInterval,
  weekFrom,
  weeklyHours,
  type AvailabilityDoc,
  type WeekModel,
} from "./availability.ts";
import { NOT_FOUND_SELF, providerSelf } from "./provider-self.ts";
import { errorBlock, viewStyles } from "./ui.ts";
import { isConflict, saidOf } from "./words.ts";

@customElement("provider-hours")
export class ProviderHours extends LitElement {
  static override styles = [
    viewStyles,
    css`
      .week { display: grid; grid-template-columns: repeat(auto-fill, minmax(16rem, 1fr)); gap: 0.75rem; }
      .week fieldset { margin: 0; background: var(--surface, #fff); }
      .interval { display: flex; flex-wrap: wrap; align-items: end; gap: 0.25rem; }
      .interval label { margin: 0 0.25rem 0.5rem 0; }
    `,
  ];

  @property({ attribute: false }) api!: Api;
  /** Staff open another provider's hours with it; a provider's own otherwise. */
  @property({ attribute: false }) providerId = "";
  @state() private read: AvailabilityDoc | null = null;
  @state() private week: WeekModel | null = null;
  @state() private error = "";
  @state() private conflict = false;
  @state() private said = "";
  @state() private showProblems = false;
  @state() private saving = false;
  @state() private missing = false;

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    this.error = "";
    this.conflict = false;
    try {
      let id = this.providerId;
      if (!id) {
        const self = await providerSelf(this.api);
        if (!self) {
          this.missing = true;
          return;
        }
        id = self.providerId;
      }
      this.read = await this.api.get<AvailabilityDoc>(`/v1/providers/${encodeURIComponent(id)}/availability`);
      this.week = weekFrom(this.read);
      this.showProblems = false;
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  private async save(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    // Not `disabled` while saving: a disabled button drops the keyboard's focus to the page.
    if (!this.read || !this.week || this.saving) return;
    this.said = "";
    this.error = "";
    if (problemsOf(this.week).length) {
      this.showProblems = true;
      return;
    }
    this.saving = true;
    try {
      const saved = await this.api.put<AvailabilityDoc>(
        `/v1/providers/${encodeURIComponent(this.read.provider_id)}/availability`,
        availabilityRequest(this.read, this.week),
      );
      this.read = saved;
      this.week = weekFrom(saved);
      this.said = "Your hours are saved. New slots open from them; booked visits stay booked.";
    } catch (error) {
      this.conflict = isConflict(error);
      this.error = this.conflict
        ? "Your hours were changed elsewhere (by you in another window, or by the clinic's staff) since you opened them. Reload to see them, then make your change again."
        : saidOf(error);
    } finally {
      this.saving = false;
    }
  }

  private edit(next: WeekModel): void {
    this.week = next;
    this.said = "";
  }

  override render() {
    const week = this.week;
    const problems = week && this.showProblems ? problemsOf(week) : [];
    return html`
      <h1>Weekly hours</h1>
      ${this.missing ? html`<p class="muted">${NOT_FOUND_SELF}</p>` : nothing}
      ${this.read ? html`<p class="muted">Times are on your clock in ${this.read.zone.replace(/_/g, " ")}.</p>` : nothing}
      ${errorBlock(this.error, this.conflict ? this.error : null, () => void this.load())}
      ${problems.length
        ? html`<div role="alert" class="alert">
            <p>Please fix these before saving:</p>
            <ul>${problems.map((p) => html`<li>${p.message}</li>`)}</ul>
          </div>`
        : nothing}
      <p role="status">${this.said}</p>
      ${week
        ? html`<form @submit=${this.save} novalidate>
            <p>${weeklyHours(week)} hours a week.</p>
            <div class="week">${WEEKDAYS.map((name, day) => this.renderDay(week, name, day))}</div>
            <div class="actions">
              <button type="submit" aria-disabled=${this.saving ? "true" : "false"}>Save hours</button>
              <button type="button" class="secondary" @click=${() => this.load()}>Discard changes</button>
            </div>
          </form>`
        : this.missing || this.error
          ? nothing
          : html`<p>Loading your hours…</p>`}
    `;
  }

  private renderDay(week: WeekModel, name: string, day: number) {
    const intervals = week.days[day];
    return html`<fieldset>
      <legend>${name}</legend>
      ${intervals.length === 0 ? html`<p class="muted">Not working</p>` : nothing}
      ${intervals.map(
        (v, index) => html`<div class="interval">
          <label>From <input type="time" step="300" .value=${v.start} aria-label=${`${name} hours ${index + 1}: from`}
            @change=${(e: Event) => this.edit(setInterval(week, day, index, { start: (e.target as HTMLInputElement).value }))}></label>
          <label>To <input type="time" step="300" .value=${v.end} aria-label=${`${name} hours ${index + 1}: to`}
            @change=${(e: Event) => this.edit(setInterval(week, day, index, { end: (e.target as HTMLInputElement).value }))}></label>
          <button type="button" class="secondary" aria-label=${`Remove ${name} ${v.start} to ${v.end}`}
            @click=${() => this.edit(removeInterval(week, day, index))}>Remove</button>
        </div>`,
      )}
      <div class="actions">
        <button type="button" class="secondary" aria-label=${`Add hours on ${name}`} @click=${() => this.edit(addInterval(week, day))}>Add hours</button>
        ${day === 0 && intervals.length
          ? html`<button type="button" class="secondary" @click=${() => this.edit(copyDay(week, 0, [1, 2, 3, 4]))}>Copy to Tuesday–Friday</button>`
          : nothing}
      </div>
    </fieldset>`;
  }
}
