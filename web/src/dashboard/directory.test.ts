import { describe, expect, it } from "vitest";
import { MAX_PAGES, everyProvider, optionLabel, statesWords, type DirectoryPage, type ListedProvider } from "./directory.ts";

function provider(id: string, family: string, states: string[] = ["NY"]): ListedProvider {
  return {
    provider_id: id,
    given_name: "Ada",
    family_name: family,
    specialty: "family-medicine",
    languages: ["en"],
    zone: "America/New_York",
    states_today: states,
    version: 1,
  };
}

describe("the provider directory", () => {
  it("follows the cursor page after page and stops at the last", async () => {
    const pages: Record<string, DirectoryPage> = {
      first: { providers: [provider("dr-a", "Abbott"), provider("dr-b", "Baker")], next_cursor: "c1" },
      c1: { providers: [provider("dr-c", "Young")], next_cursor: null },
    };
    const asked: (string | undefined)[] = [];
    const all = await everyProvider(async ({ cursor }) => {
      asked.push(cursor);
      return pages[cursor ?? "first"];
    });
    expect(all.map((p) => p.provider_id)).toEqual(["dr-a", "dr-b", "dr-c"]);
    expect(asked).toEqual([undefined, "c1"]);
  });

  it("stops asking after its last page even if the cursor never ends", async () => {
    let asked = 0;
    const all = await everyProvider(async () => {
      asked += 1;
      return { providers: [provider(`dr-${asked}`, "Loop")], next_cursor: "again" };
    });
    expect(asked).toBe(MAX_PAGES);
    expect(all).toHaveLength(MAX_PAGES);
  });

  it("names a provider family name first, with the specialty in words", () => {
    expect(optionLabel(provider("dr-a", "Okafor"))).toBe("Okafor, Ada (family medicine)");
  });

  it("says when a provider is not licensed today where the patient is", () => {
    expect(optionLabel(provider("dr-a", "Okafor", ["NY", "NJ"]), "NJ")).toBe("Okafor, Ada (family medicine)");
    expect(optionLabel(provider("dr-a", "Okafor", ["NY"]), "CO")).toBe("Okafor, Ada (family medicine), not licensed in CO today");
  });

  it("says so when a provider may practise nowhere today", () => {
    expect(statesWords(provider("dr-a", "Okafor", []))).toBe("None today");
    expect(statesWords(provider("dr-a", "Okafor", ["NJ", "NY"]))).toBe("NJ, NY");
  });
});
