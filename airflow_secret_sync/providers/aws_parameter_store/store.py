"""AWS Systems Manager Parameter Store as a secret store, on boto3."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from airflow_secret_sync.engine.store import (
    Conflict,
    InvalidName,
    Marker,
    Misconfigured,
    NotFound,
    SecretRecord,
    StoreError,
    WriteConflict,
)
from airflow_secret_sync.engine.values import Value, as_text
from airflow_secret_sync.providers.aws.marker import (
    TAG_PREFIX,
    encode_tag_value,
    marker_from_tags,
    tag_dict,
    tag_list,
)
from airflow_secret_sync.providers.aws.store import AwsStore, chunks, error_code
from airflow_secret_sync.providers.aws_parameter_store.spec import (
    AwsParameterStoreProvider,
    parameter_name_problem,
)

log = logging.getLogger(__name__)

# The Resource Groups Tagging API: the one batch call that reads the tags of many parameters.
TAGGING_SERVICE = "resourcegroupstaggingapi"


class AwsParameterStore(AwsStore):
    """AWS Systems Manager Parameter Store: a key is a parameter name below the store's ``pathPrefix``.

    Parameters are written as ``SecureString`` unless the store says ``String``; values are text only.
    Versions are the parameter's version numbers (labels work as read selectors too). Parameter Store has
    no check-and-set either, but versions count up by one: a write checks the version before it puts, and
    a new version number that skipped one proves that another writer came in between (raised as a
    conflict after the fact).
    """

    kind = "awsParameterStore"
    service_name = "ssm"
    service_label = "Parameter Store"
    settings: AwsParameterStoreProvider
    read_batch_size = 10  # names per GetParameters call

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tagging_denied = False

    # ----------------------------------------------------------------------------------------- names

    def check_key(self, key: str) -> str | None:
        return parameter_name_problem(self.settings.path_prefix + key)

    def _name(self, key: str) -> str:
        name = self.settings.path_prefix + key
        problem = parameter_name_problem(name)
        if problem:
            raise InvalidName(f"key {key!r} (parameter name {name!r}): {problem}")
        return name

    def _key(self, name: str) -> str | None:
        """The key of a listed parameter; AWS treats ``/name`` and ``name`` at the top level as one name."""
        prefix = self.settings.path_prefix
        for candidate in (name, "/" + name) if "/" not in name else (name,):
            if candidate.startswith(prefix):
                return candidate[len(prefix) :]
        return None

    # ----------------------------------------------------------------------------------------- reads

    def _path_filters(self, start: str, recursive: bool) -> list[dict[str, Any]]:
        """Filters for names below ``start``: a path filter in a hierarchy, a name filter otherwise."""
        if start.startswith("/"):
            folder = start[: start.rfind("/")] or "/"
            return [{"Key": "Path", "Option": "Recursive" if recursive else "OneLevel", "Values": [folder]}]
        if start:
            return [{"Key": "Name", "Option": "BeginsWith", "Values": [start]}]
        return []

    def _described(self, filters: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Metadata of every parameter matching ``filters`` (``DescribeParameters`` never returns values)."""
        paginator = self.client().get_paginator("describe_parameters")
        with self._calling("list parameters", self.settings.path_prefix or "/"):
            for page in paginator.paginate(ParameterFilters=filters, PaginationConfig={"PageSize": 50}):
                yield from page.get("Parameters", [])

    def _keys_below(
        self, path: str, recursive: bool, extra_filters: list[dict[str, Any]]
    ) -> Iterator[tuple[str, str]]:
        start = self.settings.path_prefix + path
        for parameter in self._described(self._path_filters(start, recursive) + extra_filters):
            key = self._key(parameter["Name"])
            if key is not None and key.startswith(path) and (recursive or "/" not in key[len(path) :]):
                yield key, parameter["Name"]

    def list_keys(self, path: str = "", *, recursive: bool = True) -> list[str]:
        return sorted(key for key, _ in self._keys_below(path, recursive, []))

    def list_tagged(self, tags: Mapping[str, str], path: str = "", *, recursive: bool = True) -> list[str]:
        """Keys whose parameters carry every one of ``tags``: ``tag:<name>`` filters select them natively
        (one listing, no call per parameter)."""
        if any(name.startswith(TAG_PREFIX) for name in tags):
            return []  # our marker's tags are never selected as someone's
        if not all(tags.values()):
            raise Misconfigured(f"{self.where()}: tag filters cannot ask for an empty value")
        filters = [
            {"Key": f"tag:{name}", "Option": "Equals", "Values": [value]} for name, value in tags.items()
        ]
        return sorted(key for key, _ in self._keys_below(path, recursive, filters))

    def list_marked(self, job: str, path: str = "", *, skip: Collection[str] = ()) -> dict[str, Marker]:
        tag_filter = [{"Key": f"tag:{TAG_PREFIX}job", "Values": encode_tag_value(job)[:1]}]
        owned: dict[str, Marker] = {}
        for key, name in self._keys_below(path, True, tag_filter):
            if key in skip:
                continue  # a call per parameter saved
            marker = marker_from_tags(self._tags(name) or {})
            if marker is not None and marker.job == job:
                owned[key] = marker
        return owned

    def _tags(self, name: str) -> dict[str, str] | None:
        """The parameter's tags, or ``None`` when there is no such parameter."""
        try:
            response = self.client().list_tags_for_resource(ResourceType="Parameter", ResourceId=name)
        except ClientError as err:
            if error_code(err) in ("InvalidResourceId", "ParameterNotFound"):
                return None
            raise self._failure("read the tags of", name, err) from None
        except BotoCoreError as err:
            raise self._failure("read the tags of", name, err) from None
        return tag_dict(response.get("TagList"))

    def _metadata(self, name: str) -> dict[str, Any] | None:
        """The parameter's metadata (version, tier...) without its value; ``None`` when there is none."""
        filters = [{"Key": "Name", "Option": "Equals", "Values": [name]}]
        with self._calling("describe", name):
            found = self.client().describe_parameters(ParameterFilters=filters).get("Parameters", [])
        return dict(found[0]) if found else None

    def _record(self, key: str, parameter: Mapping[str, Any], tags: Mapping[str, str]) -> SecretRecord:
        return SecretRecord(
            key=key,
            value=parameter["Value"],
            version=str(parameter["Version"]),
            marker=marker_from_tags(tags),
            metadata={"arn": parameter.get("ARN", ""), "type": parameter.get("Type", "")},
        )

    def read(self, key: str, version: str | None = None) -> SecretRecord | None:
        """The parameter's latest value, or ``version`` (a version number or a label)."""
        name = self._name(key)
        selector = f"{name}:{version}" if version is not None else name
        try:
            parameter = self.client().get_parameter(Name=selector, WithDecryption=True)["Parameter"]
        except ClientError as err:
            if error_code(err) == "ParameterNotFound" and version is None:
                return None
            raise self._failure(f"read version {version} of" if version else "read", name, err) from None
        except BotoCoreError as err:
            raise self._failure("read", name, err) from None
        tags = self._tags(name)
        return self._record(key, parameter, tags or {}) if tags is not None else None

    def read_many(self, keys: Iterable[str]) -> dict[str, SecretRecord | None]:
        """Values with ``GetParameters`` (10 names a call), and their tags with one ``GetResources`` call of
        the Resource Groups Tagging API per 10 parameters: Parameter Store has no batch call for tags.

        A parameter ``GetResources`` does not list (one never tagged, or tagged too recently for that
        eventually consistent API), and every parameter once the account denies it, has its tags read with
        ``ListTagsForResource``. Markers may lag, as the interface allows.
        """
        keys = list(dict.fromkeys(keys))
        key_of = {_same_name(self._name(key)): key for key in keys}
        records: dict[str, SecretRecord | None] = dict.fromkeys(keys)
        for chunk in chunks([self._name(key) for key in keys], self.read_batch_size):
            with self._calling("read", ", ".join(chunk)):
                found = self.client().get_parameters(Names=chunk, WithDecryption=True)
            parameters = [item for item in found.get("Parameters", []) if _same_name(item["Name"]) in key_of]
            listed = self._listed_tags([item["ARN"] for item in parameters if item.get("ARN")])
            for parameter in parameters:
                key = key_of[_same_name(parameter["Name"])]
                tags = listed.get(parameter.get("ARN", ""))
                if tags is None:
                    tags = self._tags(parameter["Name"])
                if tags is not None:
                    records[key] = self._record(key, parameter, tags)
        return records

    def _listed_tags(self, arns: list[str]) -> dict[str, dict[str, str]]:
        """The tags of the tagged parameters among ``arns`` (ARN: tags), from one ``GetResources`` call;
        nothing, and batch tag reads off for this store, once the account denies it."""
        if not arns or self._tagging_denied:
            return {}
        try:
            response = self.client(TAGGING_SERVICE).get_resources(ResourceARNList=arns)
        except ClientError as err:
            if error_code(err) != "AccessDeniedException":
                raise self._failure("read the tags of", ", ".join(arns), err) from None
            self._tagging_denied = True
            log.warning(
                "Store %s: tag:GetResources denied (%s); reading tags one parameter at a time",
                self.store_name,
                err.response.get("Error", {}).get("Message", ""),
            )
            return {}
        except BotoCoreError as err:
            raise self._failure("read the tags of", ", ".join(arns), err) from None
        return {
            item["ResourceARN"]: tag_dict(item.get("Tags"))
            for item in response.get("ResourceTagMappingList", [])
        }

    def read_marker(self, key: str) -> Marker | None:
        return marker_from_tags(self._tags(self._name(key)) or {})

    def exists(self, key: str) -> bool:
        return self._metadata(self._name(key)) is not None

    # ----------------------------------------------------------------------------------------- writes

    def _text(self, key: str, value: Value) -> str:
        data = as_text(value)
        if isinstance(data, bytes):
            try:
                data = data.decode()
            except UnicodeDecodeError:
                raise StoreError(
                    f"store {self.store_name!r}: key {key!r}: Parameter Store holds text only; "
                    "this value is binary"
                ) from None
        if not data:
            raise StoreError(
                f"store {self.store_name!r}: key {key!r}: Parameter Store cannot hold an empty value"
            )
        self.check_value_size(key, data)
        return data

    def _apply_tags(
        self, key: str, name: str, current: Mapping[str, str], desired: Mapping[str, str]
    ) -> None:
        """Set our tags; our stale ones go first: the resource never holds more tags than at the end."""
        changed, stale = self._tag_plan(key, current, desired)
        with self._calling("tag", name):
            if stale:
                self.client().remove_tags_from_resource(
                    ResourceType="Parameter", ResourceId=name, TagKeys=stale
                )
            if changed:
                self.client().add_tags_to_resource(
                    ResourceType="Parameter", ResourceId=name, Tags=tag_list(changed)
                )

    def write(
        self, key: str, value: Value, marker: Marker, *, expected_version: str | None = None
    ) -> str | None:
        name = self._name(key)
        options: dict[str, Any] = {
            "Name": name,
            "Value": self._text(key, value),
            "Type": self.settings.parameter_type,
        }
        if self.settings.kms_key_id:
            options["KeyId"] = self.settings.kms_key_id
        if self.settings.description is not None:
            options["Description"] = self.settings.description
        if self.settings.tier:
            options["Tier"] = self.settings.tier
        tags = self._desired_tags(marker)
        if expected_version is None:
            self._tag_plan(key, {}, tags)
            try:
                response = self.client().put_parameter(Overwrite=False, Tags=tag_list(tags), **options)
            except ClientError as err:
                if error_code(err) == "ParameterAlreadyExists":
                    raise WriteConflict(
                        f"key {key!r}: parameter {name!r} was created by someone else since it was read"
                    ) from None
                raise self._failure("create", name, err, value) from None
            except BotoCoreError as err:
                raise self._failure("create", name, err, value) from None
            return str(response["Version"])

        metadata = self._metadata(name)
        if metadata is None:
            raise WriteConflict(f"key {key!r}: parameter {name!r} was deleted since it was read")
        current = int(metadata["Version"])
        if str(current) != str(expected_version):
            raise WriteConflict(
                f"key {key!r}: changed since it was read (version {current}, expected {expected_version})"
            )
        self._check_tier(key, name, metadata)
        # the marker before the value (PutParameter takes no tags with Overwrite): a failure between the two
        # calls leaves our marker on the value before, which the next run replaces (docs/providers/aws.md)
        self._apply_tags(key, name, self._tags(name) or {}, tags)
        with self._calling("write", name, value):
            response = self.client().put_parameter(Overwrite=True, **options)
        new_version = int(response["Version"])
        if new_version != current + 1:
            raise WriteConflict(
                f"key {key!r}: another writer changed parameter {name!r} between our check "
                f"and our write; ours is now version {new_version}"
            )
        return str(new_version)

    def _check_tier(self, key: str, name: str, metadata: Mapping[str, Any]) -> None:
        """Refuse to write a Standard store's value over an Advanced parameter: AWS never downgrades a
        parameter, so the write would fail at AWS, and each later one again."""
        if self.settings.tier == "Standard" and metadata.get("Tier") == "Advanced":
            raise Conflict(
                f"store {self.store_name!r}: key {key!r}: parameter {name!r} is in the Advanced tier and "
                "the store says tier: Standard; AWS never moves a parameter back to Standard, so nothing "
                "was written. Set tier: Advanced (or Intelligent-Tiering) on the store to keep writing it, "
                "or delete the parameter to have it created as Standard."
            )

    def set_marker(self, key: str, marker: Marker) -> None:
        name = self._name(key)
        current = self._tags(name)
        if current is None:
            raise NotFound(f"store {self.store_name!r}: cannot mark {name!r}: no such parameter")
        self._apply_tags(key, name, current, self._desired_tags(marker))

    def delete(self, key: str) -> None:
        """Delete the parameter and all its versions (Parameter Store keeps no deleted parameters)."""
        name = self._name(key)
        try:
            self.client().delete_parameter(Name=name)
        except ClientError as err:
            if error_code(err) != "ParameterNotFound":
                raise self._failure("delete", name, err) from None
        except BotoCoreError as err:
            raise self._failure("delete", name, err) from None

    def _probe(self) -> None:
        with self._calling("list parameters", self.settings.path_prefix or "/"):
            self.client().describe_parameters(MaxResults=1)


def _same_name(name: str) -> str:
    """One spelling for names AWS treats as equal: ``/name`` and ``name`` at the top level."""
    bare = name.removeprefix("/")
    return bare if "/" not in bare else name
