// An appointment as the API answers it (AppointmentOut), for the portal and the dashboard alike.

/** GET /v1/appointments/{id} */
export interface Appointment {
  appointment_id: string;
  provider_id: string;
  patient_id: string;
  service_type: string;
  start: string;
  end: string;
  patient_state: string;
  status: "booked" | "cancelled" | "noshow" | "fulfilled";
  version: number;
}
