"""Loading config folders: many files and documents, errors with their place, isolation of broken parts."""

from __future__ import annotations

import textwrap
from pathlib import Path

from airflow_secret_sync.spec.loader import ConfigError, load_config


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


def test_duplicate_names_keep_the_first_and_name_where_it_was(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", store("src"), store("dst"), job("sync"))
    write(tmp_path, "b.yaml", job("sync", key="other"))
    config = load_config(tmp_path)
    assert config.jobs["sync"].file.name == "a.yaml"
    assert messages(config.errors) == [
        "b.yaml: SyncJob 'sync': metadata.name: duplicate name: also declared in a.yaml"
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
