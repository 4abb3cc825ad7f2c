import { describe, expect, it } from "vitest";
import { plainWords, problemKind } from "./api.ts";

describe("problems in plain words", () => {
  it("names the kind by the type's last segment", () => {
    expect(problemKind({ type: "/problems/slot-taken" })).toBe("slot-taken");
  });

  it("tells a patient what to do, not what the API saw", () => {
    const words = plainWords({ type: "/problems/link-gone", title: "Gone", status: 410, detail: "join link redeemed" });
    expect(words).toContain("new one");
    expect(words).not.toContain("redeemed");
  });

  it("falls back by status for kinds it does not know", () => {
    expect(plainWords({ type: "/problems/new-kind", title: "T", status: 429 })).toContain("wait");
    expect(plainWords({ type: "/problems/new-kind", title: "T", status: 503 })).toContain("try again");
    expect(plainWords({ type: "/problems/new-kind", title: "The title", status: 418 })).toBe("The title");
  });
});
