"""The HTTP API: FastAPI app factory, schemas and routes over the shared service layer."""
