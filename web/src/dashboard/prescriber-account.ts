// The provider's own Photon account, which sending a prescription needs. It is linked once, by
// signing in at Photon: the API hands over the address of Photon's sign-in page, Photon sends the
// browser back to the dashboard with a code, and the API exchanges the code and keeps what Photon
// gives for it sealed (the browser never holds it). It is unlinked here too. Where the clinic has
// e-prescribing off, the route answers 404 and nothing is shown.
import { LitElement, html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { ApiError, type Api } from "../shared/api.ts";
import { type CameBack, cameBack, leaveForSignIn, takeAwaySignIn } from "../shared/away-sign-in.ts";
import { viewStyles } from "./ui.ts";
import { saidOf } from "./words.ts";

const ACCOUNT = "/v1/prescriptions/prescriber-account";
const SIGN_IN = "prescriber"; // the away sign-in's name (shared/away-sign-in.ts)

interface Account {
  linked: boolean;
  linked_at: string | null;
}

/** On page load, before the clinic's own sign-in reads the address bar: Photon's answer. */
export function takePrescriberSignIn(): void {
  takeAwaySignIn(SIGN_IN);
}

@customElement("prescriber-account")
export class PrescriberAccountPanel extends LitElement {
  static override styles = [viewStyles];

  @property({ attribute: false }) api!: Api;
  @state() private account: Account | null = null;
  @state() private switchedOff = false;
  @state() private busy = false;
  @state() private said = "";
  @state() private error = "";

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      const back = cameBack(SIGN_IN);
      if (back) {
        await this.finish(back);
      } else {
        this.account = await this.api.get<Account>(ACCOUNT);
      }
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) this.switchedOff = true;
      else this.error = saidOf(error);
    }
  }

  private async finish(back: CameBack): Promise<void> {
    if (back.error || !back.code) {
      this.error = `Photon did not link your account${back.error ? `: ${back.error}` : ""}. Please try again.`;
      this.account = await this.api.get<Account>(ACCOUNT);
      return;
    }
    try {
      this.account = await this.api.put<Account>(ACCOUNT, { state: back.state, code: back.code });
      this.said = "Your Photon account is linked: you can send prescriptions.";
      this.dispatchEvent(new CustomEvent("prescriber-linked", { bubbles: true, composed: true }));
    } catch (error) {
      this.error = saidOf(error);
      this.account = await this.api.get<Account>(ACCOUNT);
    }
  }

  private async link(): Promise<void> {
    this.busy = true;
    this.error = "";
    try {
      const started = await this.api.post<{ authorize_url: string; state: string }>(`${ACCOUNT}/sign-in`);
      leaveForSignIn(SIGN_IN, started.state, started.authorize_url);
    } catch (error) {
      this.error = saidOf(error);
      this.busy = false;
    }
  }

  private async unlink(): Promise<void> {
    this.busy = true;
    this.error = "";
    try {
      await this.api.delete<null>(ACCOUNT);
      this.account = { linked: false, linked_at: null };
      this.said = "Your Photon account is unlinked. Link it again to send prescriptions.";
    } catch (error) {
      this.error = saidOf(error);
    } finally {
      this.busy = false;
    }
  }

  override render() {
    if (this.switchedOff) return nothing;
    const a = this.account;
    const since = a?.linked_at
      ? new Intl.DateTimeFormat("en-US", { year: "numeric", month: "long", day: "numeric" }).format(new Date(a.linked_at))
      : "";
    return html`<section aria-labelledby="rx-account-h">
      <h3 id="rx-account-h">Your Photon account</h3>
      ${this.error ? html`<p role="alert" class="alert">${this.error}</p>` : nothing}
      <p role="status">${this.said}</p>
      ${a === null
        ? this.error ? nothing : html`<p>Loading…</p>`
        : a.linked
          ? html`<p>Linked since ${since}. Prescriptions you send are written as you at Photon, the e-prescribing network.</p>
              <button class="secondary" ?disabled=${this.busy} @click=${() => this.unlink()}>Unlink your Photon account</button>`
          : html`<p>Sending a prescription needs your own Photon account, linked once: you sign in at Photon and come back here.</p>
              <button ?disabled=${this.busy} @click=${() => this.link()}>Link your Photon account</button>`}
    </section>`;
  }
}
