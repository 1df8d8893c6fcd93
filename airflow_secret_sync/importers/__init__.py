"""Translate other tools' configurations (bank-vaults secret-sync, External Secrets PushSecret) into ours.

Airflow-free, like ``spec/``: the ``secret-sync import`` command runs without importing Airflow.
"""
