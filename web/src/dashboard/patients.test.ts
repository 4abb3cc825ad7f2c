import { describe, expect, it } from "vitest";
import { patientWords } from "./patients.ts";

describe("a patient found by the front desk", () => {
  it("is named with their birth date and home state, which tell two of one name apart", () => {
    const riley = { patient_id: "p-1", given_name: "Riley", family_name: "Samplecase", birth_date: "1981-04-14", home_state: "NY" };
    expect(patientWords(riley)).toBe("Riley Samplecase, born April 14, 1981, lives in NY");
  });

  it("says what it knows of a patient who has not given everything", () => {
    const bare = { patient_id: "p-2", given_name: null, family_name: "Samplecase", birth_date: null, home_state: null };
    expect(patientWords(bare)).toBe("Samplecase");
    expect(patientWords({ ...bare, family_name: null })).toBe("A patient");
  });
});
