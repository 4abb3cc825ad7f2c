// Sign-in: authorization code with PKCE against the tenant's Cognito managed login.
//
// Tokens live in memory only. A reload loses them, so a page that was signed in runs the
// authorization again at once; the managed login's own session answers it without a password, and
// the route the person was on travels in `state`, so a patient who reloads the waiting room is
// back in it. sessionStorage keeps only what must survive that redirect: the PKCE verifier and
// state (oidc-client-ts's state store) and a flag that this tab was signed in. No token.
import { InMemoryWebStorage, UserManager, WebStorageStateStore, type User } from "oidc-client-ts";
import type { Pool, PoolAuth } from "./config.ts";

const SIGNED_IN = "telehealth.signed-in";

export interface SignedIn {
  accessToken: string;
  /** The route (URL fragment) the person was on before the redirect. */
  returnTo: string;
  claims: Record<string, unknown>;
}

export class SignInSession {
  private readonly manager: UserManager;
  private user: User | null = null;

  constructor(
    private readonly pool: Pool,
    private readonly auth: PoolAuth,
    private readonly redirectUri: string,
  ) {
    this.manager = new UserManager({
      authority: auth.issuer,
      metadata: {
        issuer: auth.issuer,
        authorization_endpoint: auth.authorizationEndpoint,
        token_endpoint: auth.tokenEndpoint,
        end_session_endpoint: auth.endSessionEndpoint,
      },
      client_id: auth.clientId,
      redirect_uri: redirectUri,
      response_type: "code",
      scope: auth.scope,
      loadUserInfo: false,
      monitorSession: false,
      // Refreshed with the refresh token before the access token expires (no iframe: the managed
      // login may not be framed).
      automaticSilentRenew: true,
      userStore: new WebStorageStateStore({ store: new InMemoryWebStorage() }),
      stateStore: new WebStorageStateStore({ store: window.sessionStorage }),
    });
    this.manager.events.addUserLoaded((user) => {
      this.user = user;
    });
  }

  private get flag(): string {
    return `${SIGNED_IN}.${this.pool}`;
  }

  /**
   * On page load: finish a sign-in that just came back with a code, or re-run one for a tab that
   * was signed in (a reload), or return null for a person who has not signed in.
   */
  async resume(): Promise<SignedIn | null> {
    const query = new URLSearchParams(window.location.search);
    if (query.has("code") || query.has("error")) {
      const returned = await this.manager.signinCallback(window.location.href);
      // The code and state leave the address bar (and the history) at once.
      window.history.replaceState(null, "", window.location.pathname + ((returned?.state as string) || ""));
      if (!returned) return null;
      this.user = returned;
      window.sessionStorage.setItem(this.flag, "1");
      return this.signedIn(returned);
    }
    if (window.sessionStorage.getItem(this.flag)) {
      await this.signIn(window.location.hash);
    }
    return null;
  }

  /** Off to the managed login; the promise never settles (the page navigates away). */
  async signIn(returnTo = window.location.hash, extra: Record<string, string> = {}): Promise<never> {
    window.sessionStorage.setItem(this.flag, "1");
    await this.manager.signinRedirect({ state: returnTo, extraQueryParams: extra });
    return new Promise<never>(() => undefined);
  }

  /** Cognito's logout takes the client and a registered logout URI, not the OIDC parameters. */
  async signOut(): Promise<void> {
    window.sessionStorage.removeItem(this.flag);
    await this.manager.removeUser();
    this.user = null;
    const url = new URL(this.auth.endSessionEndpoint);
    url.searchParams.set("client_id", this.auth.clientId);
    url.searchParams.set("logout_uri", this.redirectUri);
    window.location.assign(url.toString());
  }

  accessToken(): string | null {
    return this.user && !this.user.expired ? this.user.access_token : null;
  }

  private signedIn(user: User): SignedIn {
    return {
      accessToken: user.access_token,
      returnTo: (user.state as string) || "",
      claims: user.profile as Record<string, unknown>,
    };
  }
}
