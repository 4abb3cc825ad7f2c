import { describe, expect, it } from "vitest";
import { groupsOf, rolesOf, viewForRoute, viewsFor } from "./roles.ts";

const views = (groups: string[]) => viewsFor(rolesOf(new Set(groups))).map((v) => v.id);

describe("who sees which view", () => {
  it("offers a provider their day and their hours only", () => {
    expect(views(["providers"])).toEqual(["today", "hours"]);
  });

  it("offers staff a provider's day and booking, not a provider's queue or the admin pages", () => {
    expect(views(["staff"])).toEqual(["day", "referrals", "book", "merges"]);
  });

  it("offers admins the administration beside what staff do (the API treats them as staff)", () => {
    expect(views(["admins"])).toEqual(["day", "referrals", "book", "merges", "providers", "services", "settings"]);
  });

  it("does not offer the provider's views to someone the API treats as staff", () => {
    expect(views(["providers", "staff"])).toEqual(["day", "referrals", "book", "merges"]);
  });

  it("offers the care team remote monitoring only where the clinic has it on", () => {
    const withMonitoring = (groups: string[]) =>
      viewsFor(rolesOf(new Set(groups)), { monitoring: true }).map((v) => v.id);
    expect(withMonitoring(["providers"])).toEqual(["today", "hours", "monitoring"]);
    expect(withMonitoring(["staff"])).toEqual(["day", "referrals", "book", "merges", "monitoring"]);
    expect(withMonitoring([])).toEqual([]);
    expect(views(["providers"])).not.toContain("monitoring");
  });

  it("offers the care team the symptom checks only where the clinic has triage on", () => {
    const withTriage = (groups: string[]) =>
      viewsFor(rolesOf(new Set(groups)), { monitoring: true, triage: true }).map((v) => v.id);
    expect(withTriage(["providers"])).toEqual(["today", "hours", "monitoring", "triage", "photo-reviews"]);
    expect(withTriage(["admins"])).toContain("triage");
    expect(views(["staff"])).not.toContain("triage");
  });

  it("offers nothing to a workforce user with no group", () => {
    expect(views([])).toEqual([]);
  });

  it("reads the groups claim as a list or as API Gateway's flattened string", () => {
    expect([...groupsOf({ "cognito:groups": ["providers"] })]).toEqual(["providers"]);
    expect([...groupsOf({ "cognito:groups": "[staff admins]" })].sort()).toEqual(["admins", "staff"]);
    expect(groupsOf({}).size).toBe(0);
  });

  it("sends a route the person may not see to their home view", () => {
    const provider = viewsFor(["provider"]);
    expect(viewForRoute("#/hours", provider)?.id).toBe("hours");
    expect(viewForRoute("#/settings", provider)?.id).toBe("today");
    expect(viewForRoute("", provider)?.id).toBe("today");
    expect(viewForRoute("#/today", [])).toBeNull();
  });
});
