"""One package per secret-store provider."""
