// A sign-in at a third party (Photon for a prescriber, Dexcom for a patient) that leaves the app and
// comes back to it: the authorization code flow's return, kept apart from the clinic's own sign-in.
// Before leaving, the app keeps the sign-in's state and the route to come back to; on the page load
// the third party sends the browser back to, `takeAwaySignIn` takes its code and state out of the
// address bar (before the clinic's sign-in looks there for its own code), keeps them for the panel
// that began it, and puts the route back. Session storage: this tab's, gone with it.

export interface CameBack {
  state: string;
  code: string;
  error: string;
}

const underWay = (name: string): string => `${name}-sign-in`;
const cameBackKey = (name: string): string => `${name}-sign-in.back`;

/** Off to the third party's sign-in page; the state comes back with the code. */
export function leaveForSignIn(name: string, state: string, authorizeUrl: string): void {
  window.sessionStorage.setItem(underWay(name), JSON.stringify({ state, route: window.location.hash }));
  window.location.assign(authorizeUrl);
}

/** On page load: this tab's sign-in at `name` come back, if it has (another's state is left be). */
export function takeAwaySignIn(name: string): void {
  const query = new URLSearchParams(window.location.search);
  const pending = window.sessionStorage.getItem(underWay(name));
  if (!pending || !query.has("state")) return;
  const { state, route } = JSON.parse(pending) as { state: string; route: string };
  if (query.get("state") !== state) return;
  window.sessionStorage.removeItem(underWay(name));
  const back: CameBack = {
    state,
    code: query.get("code") ?? "",
    error: query.get("error_description") ?? query.get("error") ?? "",
  };
  window.sessionStorage.setItem(cameBackKey(name), JSON.stringify(back));
  window.history.replaceState(null, "", window.location.pathname + route);
}

/** What came back for the panel, once (null: nothing did). */
export function cameBack(name: string): CameBack | null {
  const kept = window.sessionStorage.getItem(cameBackKey(name));
  if (!kept) return null;
  window.sessionStorage.removeItem(cameBackKey(name));
  return JSON.parse(kept) as CameBack;
}
