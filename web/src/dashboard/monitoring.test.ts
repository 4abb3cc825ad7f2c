import { describe, expect, it } from "vitest";
import { type Reading, bloodPressures, codesWords, glucoseProfile, percentile, ruleWords, scaled, tierWords } from "./monitoring.ts";

const reading = (code: string, value: number, effective: string): Reading => ({
  code,
  value,
  unit: code === "99504-3" ? "mg/dL" : "mm[Hg]",
  effective,
  device_id: "dev-1",
  provenance: "device",
});

describe("remote monitoring's figures", () => {
  it("pairs a systolic with the diastolic measured with it, oldest first, and leaves a lone one out", () => {
    const found = bloodPressures([
      reading("8480-6", 186, "2026-12-01T08:10:00+00:00"),
      reading("8462-4", 124, "2026-12-01T08:10:00+00:00"),
      reading("8480-6", 150, "2026-12-01T07:00:00+00:00"),
      reading("8462-4", 95, "2026-12-01T07:00:00+00:00"),
      reading("8480-6", 140, "2026-12-01T09:00:00+00:00"),
    ]);
    expect(found).toEqual([
      { at: "2026-12-01T07:00:00+00:00", systolic: 150, diastolic: 95 },
      { at: "2026-12-01T08:10:00+00:00", systolic: 186, diastolic: 124 },
    ]);
  });

  it("profiles glucose by hour of day with interpolated percentiles", () => {
    const values = [60, 80, 100, 120, 140, 160, 180, 200, 220, 240, 260];
    const readings = values.map((v, i) => reading("99504-3", v, `2026-11-${String(20 + (i % 5)).padStart(2, "0")}T14:${String(i).padStart(2, "0")}:00Z`));
    const [hour] = glucoseProfile(readings, "UTC");
    expect(hour.hour).toBe(14);
    expect(hour.count).toBe(11);
    expect(hour.p50).toBe(160);
    expect(hour.p25).toBe(110);
    expect(hour.p75).toBe(210);
    expect(hour.p5).toBeCloseTo(70);
    expect(percentile([], 0.5)).toBeNaN();
  });

  it("says tiers and rules in words and puts a value on the chart's axis", () => {
    expect(tierWords("urgent")).toBe("Urgent");
    expect(tierWords(null)).toBe("No open alerts");
    expect(ruleWords("blood-pressure-crisis")).toBe("Blood pressure at crisis level");
    expect(scaled(220, 40, 220, 160)).toBe(0);
    expect(scaled(40, 40, 220, 160)).toBe(160);
  });
});

describe("the billing ledger's words", () => {
  it("lists a period's or month's codes, units past one counted, and says None for nothing", () => {
    expect(codesWords([{ code: "99453", units: 1 }, { code: "99454", units: 1 }])).toBe("99453, 99454");
    expect(codesWords([{ code: "99457", units: 1 }, { code: "99458", units: 2 }])).toBe("99457, 99458 × 2");
    expect(codesWords([])).toBe("None");
  });
});
