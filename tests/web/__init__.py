"""The web pages through a test client (no browser): forms, errors, tenancy, CSRF."""
