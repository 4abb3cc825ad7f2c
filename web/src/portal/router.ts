// The portal's screens by URL fragment (`#/visits/<id>/check-in`), so any static host serves the
// app with no rewrites and a reload lands on the same screen. A join link arrives as
// `#/join/<link>`: the fragment never reaches a server, and the app takes the link out of the
// address bar and the history at once.

export type Route =
  | { name: "home" }
  | { name: "book"; specialty?: string }
  | { name: "symptoms" }
  | { name: "photos" }
  | { name: "details" }
  | { name: "health" }
  | { name: "readings" }
  | { name: "visit"; id: string }
  | { name: "check-in"; id: string }
  | { name: "reschedule"; id: string }
  | { name: "follow-up"; id: string }
  | { name: "waiting"; id: string }
  | { name: "call"; id: string }
  | { name: "ended"; id: string }
  | { name: "join"; link: string | null }
  | { name: "not-found" };

// Appointment ids are ULIDs (Crockford base 32), as the API's paths take them.
const ID = "([0-9A-HJKMNP-TV-Z]{26})";
const VISIT_SCREENS = ["check-in", "reschedule", "follow-up", "waiting", "call", "ended"] as const;
// `<appointment id>.<link id>.<secret>` (the API's join-link format).
const LINK = /^([0-9A-HJKMNP-TV-Z]{26})\.[0-9A-HJKMNP-TV-Z]{26}\.[A-Za-z0-9_-]{43}$/;

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, "").replace(/\/+$/, "") || "/";
  if (path === "/") return { name: "home" };
  if (path === "/book") return { name: "book" };
  const kind = /^\/book\/([a-z][a-z-]{1,39})$/.exec(path);
  if (kind) return { name: "book", specialty: kind[1] };
  if (path === "/symptoms") return { name: "symptoms" };
  if (path === "/photos") return { name: "photos" };
  if (path === "/details") return { name: "details" };
  if (path === "/health") return { name: "health" };
  if (path === "/readings") return { name: "readings" };
  if (path === "/join") return { name: "join", link: null };
  if (path.startsWith("/join/")) {
    let link: string;
    try {
      link = decodeURIComponent(path.slice("/join/".length));
    } catch {
      return { name: "join", link: "" };
    }
    return { name: "join", link };
  }
  const visit = new RegExp(`^/visits/${ID}(?:/([a-z-]+))?$`).exec(path);
  if (visit) {
    const [, id, screen] = visit;
    if (screen === undefined) return { name: "visit", id };
    const known = VISIT_SCREENS.find((name) => name === screen);
    if (known) return { name: known, id };
  }
  return { name: "not-found" };
}

export function routeHref(route: Route): string {
  switch (route.name) {
    case "home":
    case "not-found":
      return "#/";
    case "book":
      return route.specialty ? `#/book/${route.specialty}` : "#/book";
    case "symptoms":
      return "#/symptoms";
    case "photos":
      return "#/photos";
    case "details":
      return "#/details";
    case "health":
      return "#/health";
    case "readings":
      return "#/readings";
    case "visit":
      return `#/visits/${route.id}`;
    case "join":
      return route.link ? `#/join/${encodeURIComponent(route.link)}` : "#/join";
    default:
      return `#/visits/${route.id}/${route.name}`;
  }
}

/** Each screen's document title (WCAG 2.4.2): what a tab strip or a screen reader names it. */
export function routeTitle(route: Route): string {
  const titles: Record<Route["name"], string> = {
    home: "Your visits",
    book: "Book a visit",
    details: "Your details",
    health: "Your allergies and medicines",
    readings: "Your readings",
    symptoms: "Check your symptoms",
    photos: "Send photos to a clinician",
    visit: "Your visit",
    "check-in": "Check in",
    reschedule: "Reschedule your visit",
    "follow-up": "Book your follow-up",
    waiting: "Waiting room",
    call: "Your video visit",
    ended: "Your visit has ended",
    join: "Joining your visit",
    "not-found": "Page not found",
  };
  return titles[route.name];
}

/** The appointment a join link opens, or null for text that is not a link of this clinic's shape. */
export function linkAppointment(link: string): string | null {
  return LINK.exec(link.trim())?.[1] ?? null;
}
