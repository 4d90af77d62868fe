"""A model trained, gated and served with DVC, pytest and FastAPI."""
