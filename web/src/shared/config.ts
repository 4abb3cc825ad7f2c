// The runtime configuration each environment serves beside the apps (`config.json`): where the
// API and the sign-in live, which video implementation runs. Nothing here is a secret.

export type Pool = "patients" | "workforce";

export interface PoolAuth {
  issuer: string;
  clientId: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  endSessionEndpoint: string;
  signUpUrl: string | null;
  scope: string;
}

export type VideoImplementation = "loopback" | "chime";

export interface RuntimeConfig {
  tenant: string;
  apiBase: string;
  auth: Record<Pool, PoolAuth>;
  video: { implementation: VideoImplementation };
  csp: Record<string, string[]>;
  /** Where Stripe.js loads from, for the portal's card form; null where the clinic takes no payments. */
  payments: { stripeJs: string } | null;
  /** Remote monitoring's screens: the care team's panel, the patient's own readings. */
  monitoring: boolean;
  /** Virtual triage's screens: the patient's symptom check, the care team's views of it. */
  triage: boolean;
}

/** `config.json` relative to the app's own directory (`url` differs for the dashboard). */
export async function loadConfig(url = "config.json"): Promise<RuntimeConfig> {
  const response = await fetch(url, { cache: "no-store", credentials: "omit" });
  if (!response.ok) {
    throw new Error(`The app's configuration did not load (${response.status}).`);
  }
  return (await response.json()) as RuntimeConfig;
}
