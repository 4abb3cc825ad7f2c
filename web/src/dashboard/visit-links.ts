// A provider's way into a call: the link admission answered (kept in memory only, never in the
// URL), or a fresh one; redeemed for the join information the call view needs.
import { ApiError, newActionKey, type Api } from "../shared/api.ts";
import type { JoinInfo } from "../video/index.ts";

const admitted = new Map<string, string>();

export function keepAdmissionLink(appointmentId: string, link: string): void {
  admitted.set(appointmentId, link);
}

export async function joinInfoFor(api: Api, appointmentId: string): Promise<JoinInfo> {
  const kept = admitted.get(appointmentId);
  admitted.delete(appointmentId); // single use, whatever happens next
  if (kept) {
    try {
      return await api.post<JoinInfo>("/v1/join", { link: kept });
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 410)) throw error;
      // used or expired: a fresh one below
    }
  }
  const fresh = await api.post<{ link: string }>(`/v1/appointments/${appointmentId}/join-link`, undefined, newActionKey());
  return api.post<JoinInfo>("/v1/join", { link: fresh.link });
}
