"""Device data's wire formats, read into the platform's readings (telehealth/domain/readings.py):
Open mHealth data points, and later the Personal Health Device IG's FHIR Observations. Pure."""
