"""The ``SecretStore`` / ``SyncJob`` document models, loading, validation and JSON Schema (Airflow-free)."""
