"""The web console for supervisors and QA, served from the service process (see app.py)."""
