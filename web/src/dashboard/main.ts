// The workforce dashboard: a provider's day and queue, staff booking, clinic administration.
import { LitElement, css, html } from "lit";
import { customElement, state } from "lit/decorators.js";
import { Api } from "../shared/api.ts";
import { SignInSession } from "../shared/auth.ts";
import { loadConfig, type RuntimeConfig } from "../shared/config.ts";

@customElement("clinic-dashboard")
export class ClinicDashboard extends LitElement {
  static override styles = css`
    :host { display: block; max-width: 72rem; margin: 0 auto; padding: 1rem; }
    button { font: inherit; padding: 0.5rem 1rem; }
  `;

  @state() private config: RuntimeConfig | null = null;
  @state() private signedIn = false;
  @state() private error = "";
  private session: SignInSession | null = null;
  api: Api | null = null;

  override async connectedCallback(): Promise<void> {
    super.connectedCallback();
    try {
      this.config = await loadConfig("../config.json");
      const here = new URL(".", window.location.href).toString();
      this.session = new SignInSession("workforce", this.config.auth.workforce, here);
      this.api = new Api(this.config.apiBase, () => this.session?.accessToken() ?? null);
      this.signedIn = (await this.session.resume()) !== null;
    } catch (error) {
      this.error = error instanceof Error ? error.message : String(error);
    }
  }

  override render() {
    return html`
      <header><h1>Clinic dashboard</h1></header>
      <main>
        ${this.error ? html`<p role="alert">${this.error}</p>` : ""}
        ${this.signedIn
          ? html`<p>You are signed in.</p>`
          : html`<button @click=${() => this.session?.signIn()}>Sign in</button>`}
      </main>
    `;
  }
}
