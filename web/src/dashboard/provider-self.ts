// Which provider the signed-in clinician is, and their zone: `GET /v1/me`, asked once per page.
import type { Api } from "../shared/api.ts";

export interface ProviderSelf {
  providerId: string;
  zone: string;
}

interface Me {
  role: "patient" | "provider" | "staff";
  provider_id: string | null;
  zone: string | null;
}

let found: Promise<ProviderSelf | null> | null = null;

export function providerSelf(api: Api): Promise<ProviderSelf | null> {
  found ??= api.get<Me>("/v1/me").then(
    (me) => (me.provider_id && me.zone ? { providerId: me.provider_id, zone: me.zone } : null),
    (error: unknown) => {
      found = null; // a failed look-up is asked again next time
      throw error;
    },
  );
  return found;
}

export const NOT_FOUND_SELF =
  "Your account is not linked to a provider profile yet. Ask the clinic's administrator to link it.";
