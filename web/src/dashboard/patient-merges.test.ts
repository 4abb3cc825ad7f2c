import { describe, expect, it } from "vitest";
import { movedWords, recordWords } from "./patient-merges.ts";

describe("a merge as staff read it", () => {
  it("names each record with its MRN, and counts what moved", () => {
    const record = { patient_id: "p", given_name: "Avery", family_name: "Testmerge", birth_date: "1987-05-12", home_state: "NY", mrn: "E1" };
    expect(recordWords(record)).toBe("Avery Testmerge, born May 12, 1987, lives in NY (MRN E1)");
    expect(recordWords({ ...record, mrn: null })).toBe("Avery Testmerge, born May 12, 1987, lives in NY");
    expect([0, 1, 3].map(movedWords)).toEqual(["No appointments moved", "1 appointment moved", "3 appointments moved"]);
  });
});
