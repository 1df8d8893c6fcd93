"""A provider that exists only in the tests: one package and one registry entry, nothing else.

:mod:`.plugin` adds :data:`INFO` to the registry the way a new line in ``PROVIDERS`` would; the tests in
``tests/unit/test_adding_a_provider.py`` show that this is enough for the spec, Airflow and the contract
suite.
"""

from __future__ import annotations

from airflow_secret_sync.providers.info import ProviderInfo, text_field
from tests.fake_provider import spec

INFO = ProviderInfo(
    kind="fakeVault",
    spec_model=spec.FakeVaultProvider,
    store_factory="tests.fake_provider.store:FakeVaultStore",
    hook_class="tests.fake_provider.hook:FakeVaultHook",
    change_signal="tests.fake_provider.changes:change_signals",
    key_problem=spec.key_problem,
    value_limit=spec.value_limit,
    extra=None,
    connection={
        "connection-type": "secret_sync_fake_vault",
        "hook-class-name": "tests.fake_provider.hook.FakeVaultHook",
        "hook-name": "Secret Sync: fake vault",
        "ui-field-behaviour": {"hidden-fields": ["extra"], "relabeling": {}, "placeholders": {}},
        "conn-fields": {"shelf": text_field("Shelf", "Which shelf of the fake vault.")},
    },
    contract_fixture="fake_vault_contract_store",
)
