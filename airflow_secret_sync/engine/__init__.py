"""Airflow-free core: values, the store interface, planning, key rules, templating, apply and audit."""
