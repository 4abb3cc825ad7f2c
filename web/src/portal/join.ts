// Into the call: a fresh single-use link for the patient's own place (the last one stops working),
// redeemed at once for the Chime join information. The link itself never leaves memory.
import type { ActionKeys, Api } from "../shared/api.ts";
import type { JoinInfo } from "../video/index.ts";
import type { LinkOut } from "./screen.ts";

export async function freshLink(api: Api, keys: ActionKeys, appointmentId: string): Promise<string> {
  const action = `join-link ${appointmentId}`;
  try {
    const { link } = await api.post<LinkOut>(`/v1/appointments/${appointmentId}/join-link`, undefined, keys.for(action));
    keys.settle(action, null);
    return link;
  } catch (error) {
    keys.settle(action, null, error);
    throw error;
  }
}

export async function redeem(api: Api, keys: ActionKeys, link: string): Promise<JoinInfo> {
  const body = { link };
  try {
    const info = await api.post<JoinInfo>("/v1/join", body, keys.for("join", body));
    keys.settle("join", body);
    return info;
  } catch (error) {
    keys.settle("join", body, error);
    throw error;
  }
}

export async function joinVisit(api: Api, keys: ActionKeys, appointmentId: string): Promise<JoinInfo> {
  return redeem(api, keys, await freshLink(api, keys, appointmentId));
}
