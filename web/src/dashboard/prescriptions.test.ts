import { describe, expect, it } from "vitest";
import { prescriptionWords } from "../portal/words.ts";
import { rxStatusWords } from "./words.ts";

describe("a prescription's status in words", () => {
  it("tells the clinician where it stands, with the network's reason when it failed", () => {
    expect(rxStatusWords({ status: "transmitted", failure_reason: "", fills: [] })).toBe("At the pharmacy");
    expect(rxStatusWords({ status: "failed", failure_reason: "Pharmacy closed", fills: [] })).toBe("Not delivered: Pharmacy closed");
    expect(rxStatusWords({ status: "dispensed", failure_reason: "", fills: [{}, {}] })).toBe("Dispensed (2 fills)");
  });

  it("tells the patient in their words, never the network's", () => {
    expect(prescriptionWords("submitted")).toBe("On its way to your pharmacy");
    expect(prescriptionWords("failed")).toBe("It did not reach your pharmacy: the clinic will contact you");
    expect(prescriptionWords("cancel-requested")).toBe("Cancelled by your clinician");
  });
});
