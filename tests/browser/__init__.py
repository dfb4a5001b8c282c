"""The web page in a real browser (Chromium), against a real server and database."""
