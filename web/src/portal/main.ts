// The patient portal: sign in, find and book a visit, check in, wait, join the call.
//
// The names the browser tests (and people using a screen reader or voice control) find things by:
//   every screen: its h1 takes focus when the screen opens; document.title is the screen's name
//   header: link "Your visits", link "Book a visit", text "Signed in as <e-mail>", button "Sign out";
//           signed out: button "Sign in" (the managed login offers "Create an account" and
//           "Forgot your password?")
//   header nav also: links "Your details", "Allergies and medicines", "Check your symptoms" (triage)
//   #/symptoms    h1 "Check your symptoms": button "Start"; then one question at a time (a radio
//                 group "Yes"/"No" or of options, or a field named by the question), buttons
//                 "Next", "Skip" (optional ones), "Back"; a red flag: h1 "Call 911 now" (or "Call or
//                 text 988 now") with the instruction in role="alert" and links "Call 911"/"Text 988";
//                 else h2 of where to go ("See a clinician now"...), "Why: ...", button "Book this
//                 time" (the soonest urgent-care time) or link "Find a time: <kind of care>"
//   #/photos      h1 "Send photos to a clinician": the case's questions (selects, radio groups, fields
//                 named by their question), file "Photos (1 to 6)", button "Send to a clinician";
//                 h2 "Your cases", each photo's state and the clinician's answer
//   #/readings    h1 "Your readings": what to do now (a role="alert" when it is urgent), the form
//                 "Add a reading" (radios "Blood pressure" / "Weight", "Systolic (top number)",
//                 "Diastolic (bottom number)", "Weight (kg)", "Save the reading"), the checkbox
//                 "I have one of these symptoms now" when asked, and the table "Your readings"
//   #/health      h1 "Your allergies and medicines": text "Allergic to" (then radios "Which one?"),
//                 text "What happens (optional)", select "How bad (optional)", button "Add allergy";
//                 text "Medicine" (radios "Which one?"), text "How you take it (optional)", button
//                 "Add medicine"; per entry "No longer allergic to <x>" / "No longer taking <x>"
//   #/details     h1 "Your details": text "First name", text "Last name", date "Date of birth", select
//                 "State you live in", select "Your time zone", tel "Mobile phone (optional)", button
//                 "Save your details"; a patient without them is sent here from "Book a visit"
//   #/            h1 "Your visits": h2 "Coming up", h2 "Past and cancelled"; each visit a link named
//                 by its time ("Monday, December 7 at 9:30 AM EST")
//   #/book        h1 "Book a visit": select "Where will you be during the visit?", select "Kind of
//                 care", select "Language you want to speak", date "Date", button "Find a time";
//                 results: a polite status ("3 open times found."), each time a button
//                 "Book this time" (described by the time, clinician, specialty, languages)
//   #/visits/<id> h1 "Your visit": link "Check in", link "Reschedule", button "Cancel visit" ->
//                 dialog "Cancel this visit?" with buttons "Yes, cancel it" / "Keep my visit";
//                 once checked in: link "Go to the waiting room"; once the note is signed, h2
//                 "Your visit summary" with link "Book your follow-up" (when one is asked for)
//   .../follow-up h1 "Book your follow-up": select "Where will you be during the visit?", date
//                 "Date" (up to the follow-up's day), button "Find a time", buttons "Book this time"
//   .../reschedule h1 "Reschedule your visit": date "Date", button "Find a time", buttons
//                 "Move to this time"
//   .../check-in  h1 "Check in": select "Where are you now?", text "Emergency contact", textarea
//                 "Reason for your visit (optional)", checkboxes "I agree to have this visit by
//                 video (telehealth)." and "I agree to this visit being recorded (optional).",
//                 button "Check in"; early: a status "Check-in opens at 9:15 AM (in 20 minutes)…"
//   .../waiting   h1 "Waiting room": a status ("You are number 2 in line." / "Estimated wait:
//                 about 7 minutes."), button "Join your visit" once admitted, h2 "Test your camera
//                 and microphone" with <telehealth-device-check>
//   .../call      h1 "Your video visit" with <telehealth-call>
//   .../ended     h1 "Your visit has ended": the outcome, h2 "What happens next"
//   #/join/<link> h1 "Joining your visit": a used or expired link says so, button "Get a new link"
// Errors are said in plain words in role="alert"; arrivals ("Your visit is booked for …") in the
// shell's polite status region.
import { LitElement, css, html, nothing } from "lit";
import { customElement, state } from "lit/decorators.js";
import { keyed } from "lit/directives/keyed.js";
import { Api, ApiError, errorWords } from "../shared/api.ts";
import { SignInSession } from "../shared/auth.ts";
import { type RuntimeConfig, loadConfig } from "../shared/config.ts";
import { sharedStyles } from "../shared/styles.ts";
import type { JoinInfo } from "../video/index.ts";
import "./call-screen.ts";
import "./check-in-screen.ts";
import "./details-screen.ts";
import "./ended-screen.ts";
import "./health-screen.ts";
import { takeDexcomSignIn } from "./readings-screen.ts";
import "./find-time.ts";
import "./join-screen.ts";
import { type Route, parseRoute, routeTitle } from "./router.ts";
import { type PatientDetails, type PortalContext, PortalScreen } from "./screen.ts";
import { browserZone } from "./time.ts";
import "./photos-screen.ts";
import "./triage-screen.ts";
import "./visit-screen.ts";
import "./visits-screen.ts";
import "./waiting-screen.ts";

// A join link survives the sign-in redirect here (this tab only), never in the address.
const JOIN_LINK = "telehealth.join-link";

@customElement("patient-portal")
export class PatientPortal extends LitElement {
  static override styles = [
    sharedStyles,
    css`
      :host { display: block; max-width: 40rem; margin: 0 auto; padding: 0 1rem 2rem; }
      header { display: flex; flex-wrap: wrap; align-items: center; gap: 0.25rem 1rem; padding: 0.5rem 0;
        border-bottom: 1px solid #c5ced8; }
      .brand { font-weight: 700; color: var(--ink, #1d2733); text-decoration: none; margin-right: auto; }
      nav ul { display: flex; flex-wrap: wrap; gap: 0 1rem; list-style: none; margin: 0; padding: 0; }
      nav a { display: inline-flex; align-items: center; min-height: 44px; }
      nav a[aria-current="page"] { font-weight: 700; }
      .who { display: flex; align-items: center; gap: 0.5rem; width: 100%; justify-content: space-between; }
      .who p { margin: 0; min-width: 0; overflow-wrap: anywhere; font-size: 0.9rem; }
      .said:empty { display: none; }
      .said { margin-top: 1rem; }
    `,
  ];

  @state() private config: RuntimeConfig | null = null;
  @state() private who: string | null = null;
  @state() private ready = false;
  @state() private route: Route = { name: "home" };
  @state() private notice = "";
  @state() private sessionEnded = false;
  @state() private error = "";
  private session: SignInSession | null = null;
  private pendingNotice = "";
  private joinLink: string | null = null;
  private readonly calls = new Map<string, JoinInfo>();
  private routed = false;
  private context: PortalContext | null = null;
  private details: Promise<PatientDetails | null> | null = null;
  // Where "Save your details" leads: the screen the patient was on their way to.
  private afterDetails = "";
  api: Api | null = null;

  constructor() {
    super();
    this.holdJoinLink();
    this.route = parseRoute(window.location.hash);
  }

  override async connectedCallback(): Promise<void> {
    super.connectedCallback();
    window.addEventListener("hashchange", this.onHashChange);
    try {
      this.config = await loadConfig("config.json");
      const here = new URL(".", window.location.href).toString();
      takeDexcomSignIn(); // Dexcom's answer leaves the address bar before Cognito's code is looked for
      this.session = new SignInSession("patients", this.config.auth.patients, here);
      this.api = new Api(
        this.config.apiBase,
        () => this.session?.accessToken() ?? null,
        () => (this.sessionEnded = true),
      );
      const signedIn = await this.session.resume();
      if (signedIn) {
        const claims = signedIn.claims;
        this.who = String(claims.email ?? claims.given_name ?? "you");
        this.context = this.makeContext(this.api, this.config);
      }
      this.route = parseRoute(window.location.hash);
    } catch (error) {
      this.error = error instanceof Error ? error.message : errorWords(error);
    }
    this.ready = true;
    void this.askForDetails();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    window.removeEventListener("hashchange", this.onHashChange);
  }

  /**
   * `#/join/<link>`: the link leaves the address bar and the history at once (replaced, not
   * pushed, by `#/join`), kept in memory, and in this tab's sessionStorage only while the sign-in
   * redirect is away.
   */
  private holdJoinLink(): void {
    const route = parseRoute(window.location.hash);
    if (route.name === "join" && route.link !== null) {
      this.joinLink = route.link;
      window.sessionStorage.setItem(JOIN_LINK, route.link);
      window.history.replaceState(window.history.state, "", `${window.location.pathname}${window.location.search}#/join`);
    }
  }

  private readonly onHashChange = (): void => {
    this.holdJoinLink();
    // Leaving for another screen drops a link not yet used (it stays valid; the visit offers another).
    if (parseRoute(window.location.hash).name !== "join") window.sessionStorage.removeItem(JOIN_LINK);
    this.notice = this.pendingNotice;
    this.pendingNotice = "";
    this.route = parseRoute(window.location.hash);
    void this.askForDetails();
  };

  /**
   * A patient the clinic knows no details of yet (just signed up) is asked for them on their way
   * to book, since the API books no one without them; every other screen is theirs to use.
   */
  private async askForDetails(): Promise<void> {
    if (!this.context || (this.route.name !== "book" && this.route.name !== "home")) return;
    let details: PatientDetails | null;
    try {
      details = await this.context.patientDetails();
    } catch {
      return; // the screen itself says what is wrong with the connection
    }
    if (details?.complete) return;
    this.afterDetails = "#/book";
    this.context.navigate("#/details", {
      replace: true,
      notice: "Welcome. Before you book a visit, please add your details.",
    });
  }

  private makeContext(api: Api, config: RuntimeConfig): PortalContext {
    return {
      api,
      zone: browserZone(),
      video: config.video.implementation,
      stripeJs: config.payments?.stripeJs ?? null,
      monitoring: Boolean(config.monitoring),
      triage: Boolean(config.triage),
      navigate: (hash, options = {}) => {
        this.pendingNotice = options.notice ?? "";
        if (options.replace) {
          window.history.replaceState(window.history.state, "", hash);
          this.onHashChange();
        } else if (window.location.hash === hash) {
          this.onHashChange();
        } else {
          window.location.hash = hash;
        }
      },
      startCall: (id, info) => void this.calls.set(id, info),
      joinInfo: (id) => this.calls.get(id) ?? null,
      patientDetails: (fresh = false) => {
        if (fresh || this.details === null) {
          this.details = api.get<PatientDetails>("/v1/me/details").catch((error: unknown) => {
            if (error instanceof ApiError && error.status === 404) return null; // no record yet
            this.details = null; // asked again next time
            throw error;
          });
        }
        return this.details;
      },
      detailsSaved: (details) => {
        this.details = Promise.resolve(details);
      },
      takeJoinLink: () => {
        const link = this.joinLink ?? window.sessionStorage.getItem(JOIN_LINK);
        this.joinLink = null;
        window.sessionStorage.removeItem(JOIN_LINK);
        return link;
      },
    };
  }

  protected override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has("route")) document.title = `${routeTitle(this.route)} · Video visits`;
  }

  protected override async updated(changed: Map<string, unknown>): Promise<void> {
    // Focus follows a route change to the new screen's heading, not on the first screen (a page
    // load starts at the top already).
    if (!changed.has("route") || !this.ready || !this.context) return;
    if (!this.routed) {
      this.routed = true;
      return;
    }
    const screen = this.renderRoot.querySelector<HTMLElement>("[data-screen]");
    if (screen instanceof PortalScreen) await screen.focusHeading();
    else screen?.focus();
  }

  override render() {
    if (!this.ready) return html`<main><p role="status">Loading…</p></main>`;
    return html`
      <header>
        <a class="brand" href="#/">Video visits</a>
        ${this.context
          ? html`<nav aria-label="Main">
                <ul>
                  <li><a href="#/" aria-current=${this.route.name === "home" ? "page" : nothing}>Your visits</a></li>
                  <li><a href="#/book" aria-current=${this.route.name === "book" ? "page" : nothing}>Book a visit</a></li>
                  <li><a href="#/details" aria-current=${this.route.name === "details" ? "page" : nothing}>Your details</a></li>
                  <li><a href="#/health" aria-current=${this.route.name === "health" ? "page" : nothing}>Allergies and medicines</a></li>
                  ${this.context.triage
                    ? html`<li><a href="#/symptoms" aria-current=${this.route.name === "symptoms" ? "page" : nothing}>Check your symptoms</a></li>
                        <li><a href="#/photos" aria-current=${this.route.name === "photos" ? "page" : nothing}>Send photos</a></li>`
                    : nothing}
                  ${this.context.monitoring
                    ? html`<li><a href="#/readings" aria-current=${this.route.name === "readings" ? "page" : nothing}>Your readings</a></li>`
                    : nothing}
                </ul>
              </nav>
              <div class="who">
                <p>Signed in as <strong>${this.who}</strong></p>
                <button class="secondary" @click=${() => this.session?.signOut()}>Sign out</button>
              </div>`
          : nothing}
      </header>
      <main>
        ${this.error ? html`<h1>Video visits</h1><p role="alert">${this.error}</p>` : nothing}
        ${this.sessionEnded
          ? html`<p role="alert">Your session has ended. Please sign in again; you will come back to this page.</p>
              <button @click=${() => this.session?.signIn()}>Sign in</button>`
          : nothing}
        <div role="status" class="said notice">${this.notice}</div>
        ${this.error ? nothing : this.context ? this.screen(this.context) : this.signedOut()}
      </main>
    `;
  }

  private signedOut() {
    const joining = this.route.name === "join";
    return html`
      <h1>${joining ? "Sign in to join your visit" : "Video visits with your clinic"}</h1>
      <p>${joining
        ? "Your visit link is ready. Sign in and you will go straight into your visit."
        : "Book a video visit, check in, and see your clinician from your phone or computer."}</p>
      <div class="actions"><button @click=${() => this.session?.signIn()}>Sign in</button></div>
      <p class="muted">New here? You can create an account on the sign-in page.</p>
    `;
  }

  private screen(ctx: PortalContext) {
    const route = this.route;
    const id = "id" in route ? route.id : "";
    const view = (() => {
      switch (route.name) {
        case "home":
          return html`<portal-visits data-screen .ctx=${ctx}></portal-visits>`;
        case "book":
          return html`<portal-find-time data-screen .ctx=${ctx} .specialty=${route.specialty ?? ""}></portal-find-time>`;
        case "symptoms":
          return html`<portal-triage data-screen .ctx=${ctx}></portal-triage>`;
        case "photos":
          return html`<portal-photos data-screen .ctx=${ctx}></portal-photos>`;
        case "details":
          return html`<portal-details data-screen .ctx=${ctx} .next=${this.afterDetails}></portal-details>`;
        case "health":
          return html`<portal-health data-screen .ctx=${ctx}></portal-health>`;
        case "readings":
          return html`<portal-readings data-screen .ctx=${ctx}></portal-readings>`;
        case "reschedule":
          return html`<portal-find-time data-screen .ctx=${ctx} .appointmentId=${id}></portal-find-time>`;
        case "follow-up":
          return html`<portal-find-time data-screen .ctx=${ctx} .followUpOf=${id}></portal-find-time>`;
        case "visit":
          return html`<portal-visit data-screen .ctx=${ctx} .appointmentId=${id}></portal-visit>`;
        case "check-in":
          return html`<portal-check-in data-screen .ctx=${ctx} .appointmentId=${id}></portal-check-in>`;
        case "waiting":
          return html`<portal-waiting data-screen .ctx=${ctx} .appointmentId=${id}></portal-waiting>`;
        case "call":
          return html`<portal-call data-screen .ctx=${ctx} .appointmentId=${id}></portal-call>`;
        case "ended":
          return html`<portal-ended data-screen .ctx=${ctx} .appointmentId=${id}></portal-ended>`;
        case "join":
          return html`<portal-join data-screen .ctx=${ctx}></portal-join>`;
        case "not-found":
          return html`<h1 tabindex="-1" data-screen>Page not found</h1>
            <p>There is nothing at this address. <a href="#/">Go to your visits</a>.</p>`;
      }
    })();
    // Each route gets fresh elements: a screen loads what it shows when it is connected.
    return keyed(window.location.hash || "#/", view);
  }
}
