"""Airflow UI extensions: the "Secret Sync" page (registered through the provider info's ``plugins``)."""
