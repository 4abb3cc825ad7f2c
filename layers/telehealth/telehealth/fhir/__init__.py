"""FHIR R4 projection of the operational state (filled in with the clinical-record work)."""
