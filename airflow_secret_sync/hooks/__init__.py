"""Airflow hooks, one module per provider; each is an Airflow hook and a secret store of the engine."""
