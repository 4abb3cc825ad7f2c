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

describe("one Idempotency-Key per user action", () => {
  const body = { slot_id: "dr-a.20261207T1400Z", state: "NY" };

  it("sends a retry after no answer under the same key, and a new action under a new one", async () => {
    const { ActionKeys, ApiError } = await import("./api.ts");
    const keys = new ActionKeys();
    const first = keys.for("book", body);
    keys.settle("book", body, new ApiError({ type: "/problems/network", title: "", status: 0 }, ""));
    expect(keys.for("book", body)).toBe(first);
    keys.settle("book", body);
    expect(keys.for("book", body)).not.toBe(first);
  });

  it("never reuses a key for another body (the API would refuse it as reused)", async () => {
    const { ActionKeys } = await import("./api.ts");
    const keys = new ActionKeys();
    expect(keys.for("book", body)).not.toBe(keys.for("book", { ...body, state: "NJ" }));
  });

  it("starts afresh once the API has answered, even with a problem", async () => {
    const { ActionKeys, ApiError } = await import("./api.ts");
    const keys = new ActionKeys();
    const first = keys.for("book", body);
    keys.settle("book", body, new ApiError({ type: "/problems/slot-taken", title: "", status: 409 }, ""));
    expect(keys.for("book", body)).not.toBe(first);
  });
});

describe("words for what went wrong", () => {
  it("never shows an exception's own text", async () => {
    const { errorWords } = await import("./api.ts");
    expect(errorWords(new TypeError("x is undefined"))).not.toContain("undefined");
  });

  it("has words for a lost connection", () => {
    expect(plainWords({ type: "/problems/network", title: "No connection", status: 0 })).toContain("connection");
  });
});
