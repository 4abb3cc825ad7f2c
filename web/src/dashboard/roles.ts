// Who sees which view, from the token's `cognito:groups`. The API decides what a person may do
// (a 403 is shown in words); this only keeps out of sight what they could not do anyway.
//
// The API reads the groups the same way (telehealth/application/callers.py): admins and staff act
// as staff, whatever else they are; a person only in `providers` acts as a provider. So someone in
// both `providers` and `staff` acts as staff, and the provider's views would answer 403: they are
// not offered.

export type Role = "provider" | "staff" | "admin";

export type ViewId =
  | "today"
  | "hours"
  | "monitoring"
  | "triage"
  | "photo-reviews"
  | "book"
  | "referrals"
  | "merges"
  | "day"
  | "providers"
  | "services"
  | "settings";

export interface View {
  id: ViewId;
  /** The navigation's words and the view's h1. */
  title: string;
}

const VIEWS: Record<ViewId, View> = {
  today: { id: "today", title: "Today" },
  hours: { id: "hours", title: "Weekly hours" },
  monitoring: { id: "monitoring", title: "Remote monitoring" },
  triage: { id: "triage", title: "Symptom checks" },
  "photo-reviews": { id: "photo-reviews", title: "Photo reviews" },
  book: { id: "book", title: "Book for a patient" },
  referrals: { id: "referrals", title: "Referrals" },
  merges: { id: "merges", title: "Merged records" },
  day: { id: "day", title: "A provider's day" },
  providers: { id: "providers", title: "Providers" },
  services: { id: "services", title: "Services" },
  settings: { id: "settings", title: "Clinic settings" },
};

/** The groups claim as Cognito puts it in the id token (a list), or flattened into a string. */
export function groupsOf(claims: Record<string, unknown>): Set<string> {
  const raw = claims["cognito:groups"];
  if (Array.isArray(raw)) return new Set(raw.filter((g): g is string => typeof g === "string"));
  if (typeof raw === "string") return new Set(raw.replace(/[[\]]/g, "").split(/[\s,]+/).filter(Boolean));
  return new Set();
}

export function rolesOf(groups: Set<string>): Role[] {
  const roles: Role[] = [];
  if (groups.has("admins")) roles.push("admin");
  if (groups.has("admins") || groups.has("staff")) roles.push("staff");
  else if (groups.has("providers")) roles.push("provider");
  return roles;
}

/** The views a person is offered, in the order the navigation lists them; the first is home.
 * Remote monitoring's panel and the symptom checks are the care team's (providers and staff) where
 * the clinic has them on. */
export function viewsFor(roles: Role[], features: { monitoring?: boolean; triage?: boolean } = {}): View[] {
  const ids: ViewId[] = [];
  if (roles.includes("provider")) ids.push("today", "hours");
  if (roles.includes("staff")) ids.push("day", "referrals", "book", "merges");
  const careTeam = roles.includes("provider") || roles.includes("staff");
  if (features.monitoring && careTeam) ids.push("monitoring");
  if (features.triage && careTeam) ids.push("triage", "photo-reviews");
  if (roles.includes("admin")) ids.push("providers", "services", "settings");
  return ids.map((id) => VIEWS[id]);
}

/** A route's view if the person may see it; otherwise their home view (or none at all). */
export function viewForRoute(route: string, views: View[]): View | null {
  const id = route.replace(/^#?\/?/, "").split("/")[0];
  return views.find((v) => v.id === id) ?? views[0] ?? null;
}
