// What a person reads about the call and their devices.
import { describe, expect, it } from "vitest";
import { devicesInWords } from "./devices.ts";
import { levelOf } from "./device-check-level.ts";
import { connectionInWords } from "./words.ts";

describe("the connection in words", () => {
  it("says why a call ended", () => {
    expect(connectionInWords("ended", "meeting-ended")).toBe("The visit has ended.");
    expect(connectionInWords("ended", "removed")).toBe("You were removed from the call.");
    expect(connectionInWords("ended", "left")).toBe("You left the call.");
  });

  it("says a lost connection is being brought back", () => {
    expect(connectionInWords("reconnecting", null)).toMatch(/lost.*Reconnecting/);
  });

  it("says the other person is gone for now once the call had been connected, not that it has yet to start", () => {
    expect(connectionInWords("connecting", null)).toMatch(/starts when the other person joins/);
    expect(connectionInWords("connecting", null, true)).toBe(
      "The other person is no longer connected. Waiting for them to come back…",
    );
    expect(connectionInWords("connected", null, true)).toBe("Connected.");
  });
});

describe("a camera or microphone that will not start, in words", () => {
  it("tells permission refused apart from no device and a device in use", () => {
    const named = (name: string) => Object.assign(new Error("x"), { name });
    expect(devicesInWords(named("NotAllowedError"))).toMatch(/Allow them for this site/);
    expect(devicesInWords(named("NotFoundError"))).toMatch(/No camera or microphone was found/);
    expect(devicesInWords(named("NotReadableError"))).toMatch(/another app/);
    // Chime's SDK wraps the refusal in an error class of its own with the same idea in its name.
    expect(devicesInWords(named("PermissionDeniedError"))).toMatch(/Allow them for this site/);
    expect(devicesInWords("something odd")).toMatch(/could not be started/);
  });
});

describe("the microphone level", () => {
  it("is 0 for silence and rises with the signal, up to 100", () => {
    expect(levelOf(new Uint8Array(512).fill(128))).toBe(0);
    const quiet = Uint8Array.from({ length: 512 }, (_, i) => 128 + (i % 2 ? 4 : -4));
    const loud = Uint8Array.from({ length: 512 }, (_, i) => 128 + (i % 2 ? 60 : -60));
    expect(levelOf(quiet)).toBeGreaterThan(0);
    expect(levelOf(loud)).toBeGreaterThan(levelOf(quiet));
    expect(levelOf(Uint8Array.from({ length: 512 }, (_, i) => (i % 2 ? 255 : 0)))).toBe(100);
  });
});
