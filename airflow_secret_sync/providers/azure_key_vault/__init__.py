"""Azure Key Vault secrets as a secret store (provider kind ``azureKeyVault``).

``naming`` and ``spec`` import neither Airflow nor the Azure SDK; ``store`` needs the ``[azure]`` extra and
``hook`` Airflow too. See docs/providers/azure-key-vault.md.
"""
