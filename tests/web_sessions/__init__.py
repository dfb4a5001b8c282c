"""The web page over HTTP (FastAPI's test client): sessions, cookies, CSRF, errors."""
