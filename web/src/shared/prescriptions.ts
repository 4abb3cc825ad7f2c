// Where a prescription stands, as the API says it (`PrescriptionOut.status`): the dashboard and
// the portal each put it in their own words.
export type PrescriptionStatus = "sending" | "submitted" | "transmitted" | "failed" | "dispensed" | "cancel-requested" | "cancelled";

export interface Pharmacy {
  pharmacy_id: string;
  name: string;
  address: string;
  city: string;
  state: string;
  postal_code: string;
  phone: string;
}

/** A prescription as the API answers it (`PrescriptionOut`): written in a visit or from a case. */
export interface Prescription {
  prescription_id: string;
  appointment_id: string | null;
  case_id: string | null;
  provider_id: string;
  status: PrescriptionStatus;
  drug: string;
  sig: string;
  quantity: number;
  quantity_unit: string;
  refills: number;
  pharmacy: Pharmacy;
  failure_reason: string;
  fills: { quantity: number; at: string }[];
  renews: string | null;
  renewals: { request_id: string; status: string; renewed_by: string | null }[];
}
