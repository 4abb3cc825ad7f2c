// The workforce dashboard: a provider's day, queue, call, vitals and hours; staff booking and a
// provider's day; clinic administration. Who sees which view comes from the token's groups
// (roles.ts); the API is the authority, and its refusals are shown in words.
//
// Accessible names the browser tests rely on (keep them stable):
//   buttons "Sign in", "Sign out"; provider: "Admit" (one per waiting patient), "Admit with guest",
//   "Join the call", "End visit" then "Yes, end the visit" / "Keep the visit going", "Vitals",
//   "Confirm" and "Reject" (one pair per estimate, in a group "Review the heart rate" / "Review the
//   breathing rate"), "Check again" (estimates not there yet), "Note" (the visit's note), and in it the
//   text boxes named by the template's sections, "Search diagnoses", "Search", "Add <code> <display>",
//   "Remove <code>", "Instructions for the patient", "Follow up within (days)", "Sign the note",
//   "Addendum", "Add addendum", "Amend the note", "Reason for the amendment", "Sign the amendment"; its "Allergies and medications":
//   a select "Status of <entry>" per entry, forms "Add an allergy" / "Add a medication" (text
//   "New allergy" / "New medication", select "Coded as", "Add allergy" / "Add medication"), button
//   "Save the reconciled lists";
//   "Save hours", "Add hours on <Weekday>", "Remove <Weekday> <from> to <to>",
//   inputs "<Weekday> hours <n>: from" / ": to"; staff: the select "Provider" (a provider's day) or
//   "Provider (optional)" (booking), "Show the day", "Cancel visit at <time>" then "Yes, cancel it",
//   "Patient's last name", "Date of birth", "First name (optional)", "Find patient", radios named
//   "<name>, born <date>, lives in <state>" in a group "Which patient?", "Find slots",
//   "Book <time> with <provider's name>", "Undo merge of <patient>" then "Yes, undo the merge"
//   / "Keep it"; admin: "Open <provider's name>" (one per
//   provider listed), "Open provider" (by id), "Save provider", "Change <service>", "Add a service", "Save service", "Save settings", and
//   "Reload" after a conflict; remote monitoring: "Open <patient>" (one per enrolled patient),
//   "Find patient", "Enrol", the alert forms "Alert: <rule>" with "What did you do?" and
//   "Acknowledge", "Device serial", "Register the device"; symptom checks: "Open <patient>'s checks" (one
//   per patient sent to emergency care), "Sign off rule set <version>" (the medical director). Navigation links are named by the views' titles (roles.ts); each
//   view's h1 takes the focus when the view opens.
import { LitElement, css, html, nothing } from "lit";
import { customElement, state } from "lit/decorators.js";
import { Api } from "../shared/api.ts";
import { SignInSession } from "../shared/auth.ts";
import { loadConfig, type RuntimeConfig } from "../shared/config.ts";
import { groupsOf, rolesOf, viewForRoute, viewsFor, type View } from "./roles.ts";
import { focusHeading, viewStyles } from "./ui.ts";
import "./provider-today.ts";
import "./provider-hours.ts";
import "./provider-vitals.ts";
import "./provider-note.ts";
import "./provider-call.ts";
import "./staff-views.ts";
import "./patient-merges.ts";
import "./admin-views.ts";
import "./monitoring-views.ts";
import "./triage-views.ts";
import "./photo-reviews.ts";
import { takePrescriberSignIn } from "./prescriber-account.ts";

/** The access token's claims (the groups are in both tokens; the id token is what oidc reads). */
function tokenClaims(token: string | null): Record<string, unknown> {
  try {
    const payload = token?.split(".")[1] ?? "";
    return JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/"))) as Record<string, unknown>;
  } catch {
    return {};
  }
}

@customElement("clinic-dashboard")
export class ClinicDashboard extends LitElement {
  static override styles = [
    viewStyles,
    css`
      :host { display: block; max-width: 76rem; margin: 0 auto; padding: 0 1rem 2rem; }
      header { display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between; gap: 0.5rem; padding: 0.75rem 0; }
      .brand { font-weight: 700; font-size: 1.1rem; margin: 0; }
      nav ul { list-style: none; display: flex; flex-wrap: wrap; gap: 0.25rem; margin: 0; padding: 0; }
      nav a { display: inline-block; padding: 0.5rem 0.75rem; border-radius: 6px; color: var(--accent, #0b5cad); text-decoration: none; font-weight: 600; }
      nav a[aria-current="page"] { background: var(--accent, #0b5cad); color: #fff; }
      nav a:hover { text-decoration: underline; }
    `,
  ];

  @state() private config: RuntimeConfig | null = null;
  @state() private signedIn = false;
  @state() private error = "";
  @state() private views: View[] = [];
  @state() private route = window.location.hash;
  @state() private loading = true;
  private session: SignInSession | null = null;
  api: Api | null = null;

  private readonly onHash = () => {
    this.route = window.location.hash;
  };

  override connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener("hashchange", this.onHash);
    void this.start();
  }

  override disconnectedCallback(): void {
    window.removeEventListener("hashchange", this.onHash);
    super.disconnectedCallback();
  }

  private async start(): Promise<void> {
    try {
      this.config = await loadConfig("../config.json");
      takePrescriberSignIn(); // Photon's answer leaves the address bar before Cognito's code is looked for
      const here = new URL(".", window.location.href).toString();
      this.session = new SignInSession("workforce", this.config.auth.workforce, here);
      this.api = new Api(this.config.apiBase, () => this.session?.accessToken() ?? null, () => {
        this.error = "Your session has ended. Please sign in again.";
      });
      const signed = await this.session.resume();
      if (signed) {
        const groups = groupsOf({ ...tokenClaims(signed.accessToken), ...signed.claims });
        this.views = viewsFor(rolesOf(groups), {
          monitoring: this.config.monitoring,
          triage: this.config.triage,
        });
        this.signedIn = true;
        this.route = window.location.hash;
      }
    } catch (error) {
      this.error = error instanceof Error ? error.message : String(error);
    } finally {
      this.loading = false;
    }
  }

  override updated(changed: Map<string, unknown>): void {
    // A new view (or the first one) takes the focus to its h1, wherever that h1 lives.
    if (changed.has("route") || changed.has("signedIn") || changed.has("loading")) {
      void this.updateComplete.then(async () => {
        const view = this.renderRoot.querySelector("main > *:not(p)") as LitElement | null;
        if (view && "updateComplete" in view) {
          await view.updateComplete;
          focusHeading(view.shadowRoot);
        } else {
          focusHeading(this.shadowRoot);
        }
      });
    }
  }

  override render() {
    const view = this.signedIn ? viewForRoute(this.route, this.views) : null;
    return html`
      <header>
        <p class="brand">Clinic dashboard${this.config ? html` <span class="muted">· ${this.config.tenant}</span>` : nothing}</p>
        ${this.signedIn
          ? html`<nav aria-label="Dashboard">
                <ul>
                  ${this.views.map(
                    (v) => html`<li><a href="#/${v.id}" aria-current=${view?.id === v.id ? "page" : "false"}>${v.title}</a></li>`,
                  )}
                </ul>
              </nav>
              <button class="secondary" @click=${() => this.session?.signOut()}>Sign out</button>`
          : nothing}
      </header>
      <main>
        ${this.error ? html`<p role="alert" class="alert">${this.error}</p>` : nothing}
        ${this.loading ? html`<p role="status">Loading…</p>` : this.signedIn ? this.renderView(view) : this.renderSignIn()}
      </main>
    `;
  }

  private renderSignIn() {
    return html`<div class="card">
      <h1>Sign in to the clinic dashboard</h1>
      <p>For the clinic's providers, staff and administrators. You will be asked for the code from your authenticator app.</p>
      <button @click=${() => this.session?.signIn()}>Sign in</button>
    </div>`;
  }

  private renderView(view: View | null) {
    if (!view || !this.api || !this.config) {
      return html`<div class="card">
        <h1>No access yet</h1>
        <p>Your account is not yet a provider, staff member or administrator of this clinic. Ask the clinic's administrator to add you to a group.</p>
      </div>`;
    }
    const rest = this.route.replace(/^#?\/?/, "").split("/").slice(1);
    const video = this.config.video.implementation;
    switch (view.id) {
      case "today":
        if (rest[0] === "vitals" && rest[1]) return html`<provider-vitals .api=${this.api} .appointmentId=${rest[1]}></provider-vitals>`;
        if (rest[0] === "note" && rest[1]) return html`<provider-note .api=${this.api} .appointmentId=${rest[1]}></provider-note>`;
        if (rest[0] === "call" && rest[1]) return html`<provider-call .api=${this.api} .appointmentId=${rest[1]} .implementation=${video}></provider-call>`;
        return html`<provider-today .api=${this.api}></provider-today>`;
      case "hours":
        return html`<provider-hours .api=${this.api}></provider-hours>`;
      case "day":
        return html`<staff-day .api=${this.api} ?payments=${Boolean(this.config.payments)}></staff-day>`;
      case "book":
        if (rest[0] === "follow-up" && rest[1]) {
          return html`<staff-book .api=${this.api} .followUpOf=${decodeURIComponent(rest[1])}
            ?payments=${Boolean(this.config.payments)}></staff-book>`;
        }
        return html`<staff-book .api=${this.api} .referralId=${rest[0] ? decodeURIComponent(rest[0]) : ""}
          ?payments=${Boolean(this.config.payments)}></staff-book>`;
      case "referrals":
        return html`<staff-referrals .api=${this.api}></staff-referrals>`;
      case "monitoring": {
        const provider = !this.views.some((v) => v.id === "day"); // staff see the desk's views
        if (rest[0]) {
          return html`<care-patient .api=${this.api} .patientId=${decodeURIComponent(rest[0])} ?provider=${provider}></care-patient>`;
        }
        return html`<care-panel .api=${this.api} ?staff=${!provider}></care-panel>`;
      }
      case "triage":
        if (rest[0]) return html`<care-symptom-checks .api=${this.api} .patientId=${decodeURIComponent(rest[0])}></care-symptom-checks>`;
        return html`<care-triage .api=${this.api}></care-triage>`;
      case "photo-reviews": {
        const provider = !this.views.some((v) => v.id === "day"); // staff see the desk's views
        if (rest[0]) return html`<care-photo-case .api=${this.api} .caseId=${decodeURIComponent(rest[0])} ?provider=${provider}></care-photo-case>`;
        return html`<care-photo-queue .api=${this.api}></care-photo-queue>`;
      }
      case "merges":
        return html`<staff-merges .api=${this.api}></staff-merges>`;
      case "providers":
        return html`<admin-providers .api=${this.api}></admin-providers>`;
      case "services":
        return html`<admin-services .api=${this.api}></admin-services>`;
      case "settings":
        return html`<admin-settings .api=${this.api} ?payments=${Boolean(this.config.payments)} ?monitoring=${Boolean(this.config.monitoring)}
          ?triage=${Boolean(this.config.triage)}></admin-settings>`;
    }
  }
}
