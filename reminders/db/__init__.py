"""Storage: models, the engine, every query, and migrations."""
