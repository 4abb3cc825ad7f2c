// Which provider the signed-in clinician is, and their zone. The API has no "who am I" route: a
// provider's own appointments name their provider id (the list answers a provider their own
// schedule only), and their hours name their zone. A provider with no appointment in the list's
// default window (yesterday to 90 days ahead) cannot be found this way (see docs/web.md).
import { ApiError, type Api } from "../shared/api.ts";
import type { AvailabilityDoc } from "./availability.ts";
import type { Appointment } from "./schedule.ts";

export interface ProviderSelf {
  providerId: string;
  zone: string;
}

let found: Promise<ProviderSelf | null> | null = null;

export function providerSelf(api: Api): Promise<ProviderSelf | null> {
  found ??= (async () => {
    const { appointments } = await api.get<{ appointments: Appointment[] }>("/v1/appointments");
    const providerId = appointments[0]?.provider_id;
    if (!providerId) return null;
    const hours = await api.get<AvailabilityDoc>(`/v1/providers/${encodeURIComponent(providerId)}/availability`);
    return { providerId, zone: hours.zone };
  })().catch((error: unknown) => {
    found = null; // a failed look-up is asked again next time
    throw error instanceof ApiError ? error : new Error(String(error));
  });
  return found;
}

export const NOT_FOUND_SELF =
  "We could not tell which provider profile is yours: you have no appointments yet, and the clinic's system has no other way to say. Ask the clinic's staff to check your profile.";
