import { describe, expect, it } from "vitest";
import { minutesWaited, minutesWords, queueAnnouncement, type Queue, type QueueEntry } from "./queue.ts";

const entry = (id: string): QueueEntry => ({
  appointment_id: id,
  patient_id: `p-${id}`,
  start: "2026-12-07T16:00:00Z",
  checked_in_at: "2026-12-07T15:50:00Z",
  waited_s: 0,
  reason: "",
});
const queue = (...ids: string[]): Queue => ({ waiting: ids.map(entry), current_appointment_id: null });

describe("minutes waited", () => {
  it("counts on from the API's answer between polls", () => {
    expect(minutesWaited(170, 1_000, 1_000)).toBe(2);
    expect(minutesWaited(170, 1_000, 11_000)).toBe(3);
    expect(minutesWaited(0, 5_000, 1_000)).toBe(0); // a clock running backwards adds nothing
  });

  it("says the minutes in words", () => {
    expect(minutesWords(0)).toBe("under a minute");
    expect(minutesWords(1)).toBe("1 minute");
    expect(minutesWords(12)).toBe("12 minutes");
  });
});

describe("what the queue announces", () => {
  it("says how many wait on the first look", () => {
    expect(queueAnnouncement(null, queue())).toBe("No one is waiting.");
    expect(queueAnnouncement(null, queue("a", "b"))).toBe("2 patients waiting.");
  });

  it("says who arrived and who left, once", () => {
    expect(queueAnnouncement(queue("a"), queue("a", "b"))).toBe("A patient checked in. 2 patients waiting.");
    expect(queueAnnouncement(queue("a", "b"), queue("b"))).toBe("A patient left the queue. 1 patient waiting.");
  });

  it("stays quiet when only the minutes moved", () => {
    expect(queueAnnouncement(queue("a", "b"), queue("a", "b"))).toBe("");
  });
});
