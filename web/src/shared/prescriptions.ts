// Where a prescription stands, as the API says it (`PrescriptionOut.status`): the dashboard and
// the portal each put it in their own words.
export type PrescriptionStatus = "sending" | "submitted" | "transmitted" | "failed" | "dispensed" | "cancel-requested" | "cancelled";
