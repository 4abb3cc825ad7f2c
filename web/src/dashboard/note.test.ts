import { describe, expect, it } from "vitest";
import { contentBody, draftOf, keepUnsaved, saveWords, statusWords, unsavedFor, type Note } from "./note.ts";

const NOTE: Note = {
  appointment_id: "A1",
  status: "draft",
  revision: 0,
  access: "author",
  diagnoses: [],
  template: ["Subjective", "Objective", "Assessment", "Plan"],
  sections: null,
  signed: [],
};

class MemoryStorage implements Storage {
  private items = new Map<string, string>();
  get length(): number {
    return this.items.size;
  }
  clear(): void {
    this.items.clear();
  }
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  key(index: number): string | null {
    return [...this.items.keys()][index] ?? null;
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
}

describe("the note editor's draft", () => {
  it("starts as the template's empty sections and sends no follow-up until days are given", () => {
    const draft = draftOf(NOTE);
    expect(draft.sections.map((s) => s.title)).toEqual(["Subjective", "Objective", "Assessment", "Plan"]);
    expect(contentBody(draft).follow_up).toBeNull();
    draft.followUpDays = "7";
    draft.followUpReason = " if not better ";
    draft.diagnoses = [{ code: "J02.9", display: "Acute pharyngitis, unspecified" }];
    expect(contentBody(draft)).toMatchObject({ diagnoses: ["J02.9"], follow_up: { within_days: 7, reason: "if not better" } });
  });

  it("keeps unsaved words for the revision they were typed on, and forgets them once saved", () => {
    const storage = new MemoryStorage();
    const draft = draftOf(NOTE);
    draft.sections[0].text = "typed offline";
    keepUnsaved(storage, "A1", { revision: 3, draft });
    expect(unsavedFor(storage, "A1", 3)?.sections[0].text).toBe("typed offline");
    expect(unsavedFor(storage, "A1", 4)).toBeNull(); // saved elsewhere since: not restored over it
    expect(unsavedFor(storage, "B2", 3)).toBeNull();
    keepUnsaved(storage, "A1", null);
    expect(unsavedFor(storage, "A1", 3)).toBeNull();
  });

  it("says where the save stands, and where the note stands", () => {
    expect(saveWords("saved", null, "UTC")).toBe("Nothing written yet.");
    expect(saveWords("saved", "2026-12-01T15:04:00Z", "America/New_York")).toBe("All changes saved at 10:04 AM.");
    expect(saveWords("offline", null, "UTC")).toMatch(/kept in this tab/);
    expect(statusWords(NOTE)).toMatch(/^Draft/);
    const signed: Note = { ...NOTE, status: "amended", signed: [{ number: 1, signed_at: "2026-12-01T15:00:00Z", reason: "" }, { number: 2, signed_at: "2026-12-01T16:30:00Z", reason: "code" }] };
    expect(statusWords(signed)).toBe("Amended 1 time(s); last signed 2026-12-01 16:30 UTC.");
  });
});
