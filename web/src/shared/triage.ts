// What virtual triage's API answers, as the portal and the dashboard both read it: a
// questionnaire's question (`QuestionOut`, the symptom check's and a case of photos') and a case
// of photos (`CaseOut`).

export interface Question {
  link_id: string;
  text: string;
  type: "boolean" | "integer" | "decimal" | "choice" | "text";
  required: boolean;
  options: { code: string; display: string }[];
  minimum: number | null;
  maximum: number | null;
  help: string;
}

export interface CasePhoto {
  photo_id: string;
  content_type: string;
  size: number;
  status: "awaited" | "scanning" | "ready" | "refused";
  reason: string | null;
}

export interface PhotoCase {
  case_id: string;
  status: "draft" | "submitted" | "answered";
  answers: Record<string, unknown>;
  photos: CasePhoto[];
  submitted_at: string | null;
  due_at: string | null;
  answer: {
    provider_id: string;
    assessment: string;
    advice: string;
    outcome: "advice" | "live-visit";
    answered_at: string;
  } | null;
}
