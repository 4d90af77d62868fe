"""A classifier trained, gated and served with DVC, pytest and FastAPI."""
