import { describe, expect, it } from "vitest";
import { linkAppointment, parseRoute, routeHref, routeTitle, type Route } from "./router.ts";

const ID = "01JD8X3Q4W5E6R7T8Y9Z0ABCDE";
const LINK = `${ID}.01JD8X3Q4W5E6R7T8Y9Z0ABCDF.${"a".repeat(40)}_-9`;

describe("the portal's routes", () => {
  it("reads each screen from the fragment and writes it back the same", () => {
    const routes: Route[] = [
      { name: "home" },
      { name: "book" },
      { name: "details" },
      { name: "health" },
      { name: "readings" },
      { name: "symptoms" },
      { name: "photos" },
      { name: "book", specialty: "urgent-care" },
      { name: "visit", id: ID },
      { name: "check-in", id: ID },
      { name: "reschedule", id: ID },
      { name: "follow-up", id: ID },
      { name: "waiting", id: ID },
      { name: "call", id: ID },
      { name: "ended", id: ID },
      { name: "join", link: LINK },
      { name: "join", link: null },
    ];
    for (const route of routes) expect(parseRoute(routeHref(route))).toEqual(route);
  });

  it("takes an empty fragment, a bare hash and a trailing slash as the same screens", () => {
    expect(parseRoute("")).toEqual({ name: "home" });
    expect(parseRoute("#")).toEqual({ name: "home" });
    expect(parseRoute("#/book/")).toEqual({ name: "book" });
  });

  it("knows no screen for a malformed id or an unknown step", () => {
    expect(parseRoute("#/visits/not-an-id")).toEqual({ name: "not-found" });
    expect(parseRoute(`#/visits/${ID}/pay`)).toEqual({ name: "not-found" });
    expect(parseRoute(`#/visits/${ID.toLowerCase()}`)).toEqual({ name: "not-found" });
    expect(parseRoute("#/admin")).toEqual({ name: "not-found" });
    expect(parseRoute("#/book/Urgent%20care")).toEqual({ name: "not-found" });
  });

  it("gives every screen a title of its own", () => {
    expect(routeTitle({ name: "waiting", id: ID })).toBe("Waiting room");
    expect(routeTitle({ name: "not-found" })).toBe("Page not found");
  });

  it("finds the appointment a join link opens, and nothing in text that is not one", () => {
    expect(linkAppointment(LINK)).toBe(ID);
    expect(linkAppointment(` ${LINK} `)).toBe(ID);
    expect(linkAppointment(`${ID}.short.secret`)).toBeNull();
    expect(linkAppointment("")).toBeNull();
  });

  it("keeps a link's characters through the fragment", () => {
    expect(parseRoute(`#/join/${LINK}`)).toEqual({ name: "join", link: LINK });
    expect(parseRoute("#/join/%E0%A4%A")).toEqual({ name: "join", link: "" });
  });
});
