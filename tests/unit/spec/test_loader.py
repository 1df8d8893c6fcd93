"""Loading config folders: many files and documents, errors with their place, isolation of broken parts."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_secret_sync.engine.config import load_config
from airflow_secret_sync.spec import loader
from airflow_secret_sync.spec.loader import ConfigError, _FastUniqueKeyLoader, _UniqueKeyLoader


def store(name: str, path: str = "./data", permissions: str = "ReadWrite") -> str:
    return textwrap.dedent(f"""\
        apiVersion: secret-sync/v1alpha1
        kind: SecretStore
        metadata: {{name: {name}}}
        spec:
          permissions: {permissions}
          provider: {{file: {{path: {path}}}}}
        """)


def job(name: str, source: str = "src", target: str = "dst", key: str = "a") -> str:
    return textwrap.dedent(f"""\
        apiVersion: secret-sync/v1alpha1
        kind: SyncJob
        metadata: {{name: {name}}}
        spec:
          source: {source}
          targets: [{target}]
          plan:
            - secret: {{key: {key}}}
        """)


def write(root: Path, relative: str, *documents: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("---\n".join(documents))
    return path


def messages(errors: list[ConfigError]) -> list[str]:
    return [str(error) for error in errors]


def test_a_folder_tree_of_yaml_and_yml_files_loads_as_one_config(tmp_path: Path) -> None:
    write(tmp_path, "stores.yaml", store("src", permissions="Read"), store("dst"))
    write(tmp_path, "jobs/team-a/one.yaml", job("one"))
    write(tmp_path, "jobs/team-b/two.yml", job("two"))
    write(tmp_path, "jobs/README.md", "not: [yaml")  # other files are not configuration
    write(tmp_path, "jobs/notes.txt", "not: [yaml")

    config = load_config(tmp_path)

    assert config.errors == []
    assert sorted(config.stores) == ["dst", "src"]
    assert sorted(config.jobs) == ["one", "two"]
    assert config.jobs["two"].file == tmp_path / "jobs/team-b/two.yml"


def test_several_documents_per_file_and_empty_documents_are_skipped(tmp_path: Path) -> None:
    write(
        tmp_path,
        "all.yaml",
        store("src"),
        "",
        store("dst"),
        "# only a comment\n",
        job("j1"),
        job("j2", key="b"),
    )
    config = load_config(tmp_path)
    assert config.errors == []
    assert sorted(config.jobs) == ["j1", "j2"]
    assert config.jobs["j2"].job.spec.plan[0].secret.key == "b"  # type: ignore[union-attr]


def test_a_list_of_paths_is_loaded_together(tmp_path: Path) -> None:
    stores = write(tmp_path, "stores/all.yaml", store("src"), store("dst"))
    jobs = write(tmp_path, "jobs/j.yaml", job("j"))
    config = load_config([stores, jobs])
    assert config.errors == []
    assert list(config.jobs) == ["j"]


def test_errors_name_the_file_relative_to_the_folder_the_document_and_the_field(tmp_path: Path) -> None:
    write(tmp_path, "stores.yaml", store("src"), store("dst"))
    write(tmp_path, "jobs/a.yaml", job("vault-to-aws").replace("plan:", "colour: red\n  plan:"))
    [error] = load_config(tmp_path).errors
    assert (error.file, error.kind, error.name, error.path) == (
        "jobs/a.yaml",
        "SyncJob",
        "vault-to-aws",
        "spec.colour",
    )
    assert str(error) == "jobs/a.yaml: SyncJob 'vault-to-aws': spec.colour: unknown field"
    assert error.to_json() == {
        "file": "jobs/a.yaml",
        "kind": "SyncJob",
        "name": "vault-to-aws",
        "path": "spec.colour",
        "message": "unknown field",
    }


def test_a_key_rule_refering_to_a_missing_group_is_refused_at_load_time(tmp_path: Path) -> None:
    """A query's key rule only meets keys at run time: a bad group reference must not wait until then."""
    write(tmp_path, "stores.yaml", store("src"), store("dst"))
    rule = '- {query: {path: app/}, keyTransform: [{regexp: {source: "^app/(.*)$", target: "$2"}}]}'
    write(tmp_path, "jobs/a.yaml", job("vault-to-aws").replace("- secret: {key: a}", rule))
    config = load_config(tmp_path)
    assert [str(error) for error in config.errors] == [
        "jobs/a.yaml: SyncJob 'vault-to-aws': spec.plan[0].keyTransform[0].regexp.target: refers to group "
        "'2', which the expression in 'source' does not define"
    ]


def test_a_snake_case_field_is_refused_with_the_camel_case_name(tmp_path: Path) -> None:
    """The schema and the docs say ``maxDeletes``; the loader must not quietly take ``max_deletes``."""
    write(tmp_path, "stores.yaml", store("src"), store("dst"))
    write(tmp_path, "jobs/a.yaml", job("vault-to-aws").replace("plan:", "max_deletes: 3\n  plan:"))
    config = load_config(tmp_path)
    assert [str(error) for error in config.errors] == [
        "jobs/a.yaml: SyncJob 'vault-to-aws': spec.max_deletes: unknown field: fields are camelCase, "
        "did you mean 'maxDeletes'?"
    ]
    assert config.jobs == {}


def test_a_document_without_a_name_is_named_by_its_position(tmp_path: Path) -> None:
    nameless = store("src").replace("metadata: {name: src}", "metadata: {}")
    write(tmp_path, "stores.yaml", store("dst"), nameless)
    [error] = load_config(tmp_path).errors
    assert str(error) == "stores.yaml: SecretStore 'document 2': metadata.name: required field is missing"


def test_one_broken_file_does_not_hide_the_good_jobs(tmp_path: Path) -> None:
    write(tmp_path, "stores.yaml", store("src"), store("dst"))
    write(tmp_path, "good.yaml", job("good"))
    write(tmp_path, "broken.yaml", "apiVersion: [unclosed\n")
    config = load_config(tmp_path)
    assert list(config.jobs) == ["good"]
    assert [error.file for error in config.errors] == ["broken.yaml"]
    assert config.errors[0].message.startswith("invalid YAML: line ")


def test_one_broken_document_does_not_hide_its_neighbours(tmp_path: Path) -> None:
    write(tmp_path, "stores.yaml", store("src"), store("dst"))
    write(tmp_path, "jobs.yaml", job("first"), job("middle", target="nowhere"), job("last", key="z"))
    config = load_config(tmp_path)
    assert sorted(config.jobs) == ["first", "last"]
    assert sorted(config.broken_jobs()) == ["middle"]
    assert messages(config.errors) == [
        "jobs.yaml: SyncJob 'middle': spec.targets[0]: unknown SecretStore 'nowhere' (known stores: dst, src)"
    ]


def test_a_job_is_dropped_with_all_of_its_errors_listed(tmp_path: Path) -> None:
    write(tmp_path, "stores.yaml", store("src", permissions="Read"), store("dst"))
    write(tmp_path, "j.yaml", job("j", source="src", target="src"))
    config = load_config(tmp_path)
    assert config.jobs == {}
    assert [error.path for error in config.broken_jobs()["j"]] == ["spec.targets[0]", "spec.targets[0]"]
    assert "cannot be written" in config.errors[0].message
    assert "both the source and a target" in config.errors[1].message


def test_a_job_name_declared_twice_is_refused_naming_both_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", store("src"), store("dst"), job("sync"), job("other"))
    write(tmp_path, "b.yaml", job("sync", key="other"))
    config = load_config(tmp_path)
    assert list(config.jobs) == ["other"]  # neither 'sync' runs; the other job is not affected
    assert messages(config.broken_jobs()["sync"]) == [
        "b.yaml: SyncJob 'sync': metadata.name: duplicate name: also declared in a.yaml; "
        "no SyncJob of this name is used until the name is unique"
    ]


def test_a_duplicate_is_refused_even_when_one_declaration_is_invalid(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", store("src"), store("dst"), job("sync"))
    write(tmp_path, "b.yaml", job("sync", target="nowhere").replace("plan:", "colour: red\n  plan:"))
    config = load_config(tmp_path)
    assert config.jobs == {}
    assert "duplicate name: also declared in a.yaml" in messages(config.broken_jobs()["sync"])[-1]


def test_a_store_name_declared_twice_refuses_the_store_and_the_jobs_using_it(tmp_path: Path) -> None:
    write(tmp_path, "stores.yaml", store("src"), store("dst"), store("dst", path="./elsewhere"))
    write(tmp_path, "jobs.yaml", job("uses-dst"))
    config = load_config(tmp_path)
    assert sorted(config.stores) == ["src"] and config.jobs == {}
    assert messages(config.errors) == [
        "stores.yaml: SecretStore 'dst': metadata.name: duplicate name: also declared in stores.yaml "
        "(document 2); no SecretStore of this name is used until the name is unique",
        "jobs.yaml: SyncJob 'uses-dst': spec.targets[0]: SecretStore 'dst' is declared but invalid "
        "(see its own errors)",
    ]


def test_a_store_and_a_job_may_share_a_name(tmp_path: Path) -> None:
    write(tmp_path, "all.yaml", store("src"), store("dst"), job("dst"))
    config = load_config(tmp_path)
    assert config.errors == []
    assert "dst" in config.stores and "dst" in config.jobs


def test_duplicate_yaml_keys_are_an_error_not_a_silent_override(tmp_path: Path) -> None:
    text = job("j").replace("  source: src\n", "  source: src\n  source: dst\n")
    write(tmp_path, "all.yaml", store("src"), store("dst"), text)
    config = load_config(tmp_path)
    assert config.jobs == {}
    [error] = config.errors
    assert error.file == "all.yaml"
    assert "found duplicate key 'source'" in error.message
    assert "line 20" in error.message  # the line of the second 'source'


def test_file_store_paths_are_resolved_against_the_declaring_file(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path, "config/stores/dev.yaml", store("rel", path="../../secrets/dev"))
    write(tmp_path, "config/here.yaml", store("here", path="."))
    write(tmp_path, "config/abs.yaml", store("abs", path=str(tmp_path / "elsewhere")))
    monkeypatch.chdir(tmp_path / "config" / "stores")  # the working directory must not matter
    config = load_config(tmp_path / "config")
    assert config.stores["rel"].file_root() == (tmp_path / "secrets" / "dev").resolve()
    assert config.stores["here"].file_root() == (tmp_path / "config").resolve()
    assert config.stores["abs"].file_root() == (tmp_path / "elsewhere").resolve()


def test_a_missing_path_is_an_error(tmp_path: Path) -> None:
    config = load_config(tmp_path / "nope")
    assert [error.message for error in config.errors] == ["no such file or folder"]


def test_a_folder_without_yaml_files_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "readme.md").write_text("# nothing here")
    config = load_config(tmp_path)
    assert [error.message for error in config.errors] == ["no *.yaml or *.yml files found"]


def test_an_unreadable_file_is_reported_and_the_rest_loads(tmp_path: Path) -> None:
    write(tmp_path, "stores.yaml", store("src"), store("dst"))
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00garbage")
    config = load_config(tmp_path)
    assert sorted(config.stores) == ["dst", "src"]
    [error] = config.errors
    assert error.file == "binary.yaml"
    assert error.message.startswith("cannot read file")


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    """Python tags must never construct objects: configuration is data."""
    write(tmp_path, "evil.yaml", "!!python/object/apply:os.system ['echo pwned']\n")
    config = load_config(tmp_path)
    [error] = config.errors
    assert error.message.startswith("invalid YAML")


def test_compose_templates_may_declare_their_own_variables(tmp_path: Path) -> None:
    """Loop and ``set`` variables are not sources: only free names must come from ``sources``."""
    composed = job("j").replace(
        "    - secret: {key: a}\n",
        "    - sources: {hosts: {key: db/hosts}}\n"
        "      template: \"{% set sep = ',' %}{% for h in hosts | fromjson %}{{ h }}{{ sep }}{% endfor %}\"\n"
        "      target: {key: db/hosts}\n",
    )
    write(tmp_path, "all.yaml", store("src"), store("dst"), composed)
    config = load_config(tmp_path)
    assert config.errors == []
    assert list(config.jobs) == ["j"]


# ------------------------------------------------------------------------- the YAML reader: libyaml or not


def pure_python_error(text: str) -> str:
    """What PyYAML's own loader says about ``text``, in the loader's wording."""
    try:
        list(yaml.load_all(text, Loader=_UniqueKeyLoader))
    except yaml.MarkedYAMLError as err:
        assert err.problem_mark is not None
        where = f"line {err.problem_mark.line + 1}, column {err.problem_mark.column + 1}"
        return f"invalid YAML: {where}: {err.problem}"
    raise AssertionError("valid YAML")


def test_libyaml_reads_the_files_when_pyyaml_has_it() -> None:
    if yaml.__with_libyaml__:
        assert issubclass(_FastUniqueKeyLoader, yaml.CSafeLoader)


def test_without_libyaml_the_same_config_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = one_job_folder(tmp_path)
    fast = load_config(folder)
    monkeypatch.setattr(loader, "_FastUniqueKeyLoader", _UniqueKeyLoader)
    assert load_config(folder) == fast


@pytest.mark.parametrize(
    "text",
    [
        "kind: [unclosed\n",  # libyaml: "did not find expected ',' or ']'"
        "a: b: c\n",  # libyaml: "... not allowed in this context"
        "\tkey: 1\n",
        "a: 1\nb:\n  c: 2\n  c: 3\n",  # a duplicate key, found by our constructor
        "a: 1\n---\n- [x\n",
    ],
)
def test_yaml_errors_keep_pyyamls_wording_and_position(tmp_path: Path, text: str) -> None:
    write(tmp_path, "bad.yaml", text)
    [error] = load_config(tmp_path).errors
    assert error.message == pure_python_error(text)


# ------------------------------------------------------------------------- one job: a task run's load


def one_job_folder(root: Path) -> Path:
    write(root, "stores.yaml", store("src", permissions="Read"), store("dst"))
    write(root, "stores-broken.yaml", store("bad-store").replace("{file: {path: ./data}}", "{}"))
    write(root, "jobs/good.yaml", job("good"))
    write(root, "jobs/good-too.yaml", job("good-too", key="b"))
    write(root, "jobs/wrong.yaml", job("wrong", target="bad-store"))
    write(root, "jobs/invalid.yaml", job("invalid").replace("plan:", "colour: red\n  plan:"))
    write(root, "jobs/dup.yaml", job("dup"), job("dup", key="again"))
    write(root, "jobs/shadow-a.yaml", job("shadow", target="src"))
    write(root, "jobs/shadow-b.yaml", job("shadow"))
    write(root, "jobs/escaped.yaml", job('"\\x65scaped"').replace("a}", '"\\\\d"}'))
    write(
        root,
        "mixed.yaml",
        job("mixed", target="more"),
        store("more").replace("SecretStore", '"Secret\\x53tore"'),
    )
    write(root, "not-yaml.yaml", "kind: [unclosed\n")
    return root


@pytest.mark.parametrize(
    "name", ["good", "good-too", "wrong", "invalid", "dup", "shadow", "escaped", "mixed", "missing"]
)
def test_loading_one_job_gives_it_what_the_full_load_gives(tmp_path: Path, name: str) -> None:
    folder = one_job_folder(tmp_path)
    full = load_config(folder)

    one = load_config(folder, job=name)

    assert one.jobs.keys() == ({name} & full.jobs.keys())
    assert (one.jobs.get(name), one.broken_jobs().get(name)) == (
        full.jobs.get(name),
        full.broken_jobs().get(name),
    )
    assert one.stores == full.stores
    assert set(one.errors) <= set(full.errors)
    assert not {error.name for error in one.errors if error.kind == "SyncJob"} - {name}


def test_loading_one_job_reads_only_what_may_concern_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = one_job_folder(tmp_path)
    validated: list[str] = []
    original = loader.load_document

    def spy(raw: Any, relative: str, index: int) -> Any:
        validated.append(f"{relative}#{index}")
        return original(raw, relative, index)

    monkeypatch.setattr(loader, "load_document", spy)

    load_config(folder, job="good")

    # the stores, the job's file; of the files holding other jobs, only those naming 'good' ('good-too')
    # or an escape that is scanned (the names are then seen to differ); the broken YAML is not read
    assert validated == [
        "jobs/good.yaml#0",
        "mixed.yaml#1",
        "stores-broken.yaml#0",
        "stores.yaml#0",
        "stores.yaml#1",
    ]


@pytest.mark.parametrize(
    ("broken", "error"),
    [
        ("- just\n- a list\n", "all.yaml: document 2 is not a mapping"),
        (
            "apiVersion: secret-sync/v1alpha1\nkind: SyncJob\nmetadata: {name: broken}\n"
            "spec: {source: src}\n",
            "all.yaml: SyncJob 'broken': spec.targets: required field is missing",
        ),
        (
            "apiVersion: secret-sync/v1alpha1\nkind: Secret\nmetadata: {name: odd}\n",
            "all.yaml: document 'odd': kind: unknown kind 'Secret': expected one of SecretStore, SyncJob",
        ),
    ],
    ids=["not a mapping", "invalid job", "unknown kind"],
)
def test_good_documents_after_a_broken_one_in_the_same_file_still_load(
    tmp_path: Path, broken: str, error: str
) -> None:
    write(tmp_path, "all.yaml", store("src"), broken, store("dst"), job("after"))
    config = load_config(tmp_path)
    assert sorted(config.stores) == ["dst", "src"]
    assert list(config.jobs) == ["after"]
    assert messages(config.errors)[0] == error
