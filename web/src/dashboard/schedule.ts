// A provider's appointments as a schedule: grouped by the day on the provider's wall clock, in
// order, with the words the table shows. The API answers instants; the zone is the provider's.
import { clockTime, dayIn } from "./zone.ts";
import type { Appointment } from "../shared/appointment.ts";

export type { Appointment };

export interface ScheduleRow {
  appointmentId: string;
  patientId: string;
  time: string;
  until: string;
  service: string;
  state: string;
  status: string;
  open: boolean;
}

export interface ScheduleDay {
  day: string;
  rows: ScheduleRow[];
}

const STATUS_WORDS: Record<Appointment["status"], string> = {
  booked: "Booked",
  cancelled: "Cancelled",
  noshow: "Did not attend",
  fulfilled: "Seen",
};

export function scheduleDays(appointments: Appointment[], zone: string): ScheduleDay[] {
  const byDay = new Map<string, Appointment[]>();
  const sorted = [...appointments].sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
  for (const a of sorted) {
    const day = dayIn(new Date(a.start), zone);
    byDay.set(day, [...(byDay.get(day) ?? []), a]);
  }
  return [...byDay.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([day, rows]) => ({
      day,
      rows: rows.map((a) => ({
        appointmentId: a.appointment_id,
        patientId: a.patient_id,
        time: clockTime(a.start, zone),
        until: clockTime(a.end, zone),
        service: a.service_type,
        state: a.patient_state,
        status: STATUS_WORDS[a.status] ?? a.status,
        open: a.status === "booked",
      })),
    }));
}

/** Only one day's rows (an empty list when nothing falls on it). */
export function rowsOn(appointments: Appointment[], zone: string, day: string): ScheduleRow[] {
  return scheduleDays(appointments, zone).find((d) => d.day === day)?.rows ?? [];
}
