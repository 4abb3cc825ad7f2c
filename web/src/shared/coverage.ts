// A patient's insurance as the API answers it, for the portal (the patient) and the dashboard (the
// front desk) alike.

/** GET /v1/payers: an insurer whose coverage the clinic can check. */
export interface Payer {
  payer_id: string;
  name: string;
}

/** GET /v1/me/coverage, GET /v1/patients/{id}/coverage */
export interface PatientCoverage {
  payer_id: string;
  payer_name: string;
  member_id: string;
  group_number: string | null;
  relationship: "self" | "spouse" | "child" | "other";
  status_words: string;
  check: {
    status: "active" | "inactive" | "rejected" | "unavailable";
    copay_minor: number | null;
    coinsurance_percent: number | null;
    deductible_remaining_minor: number | null;
  } | null;
  version: number;
}
