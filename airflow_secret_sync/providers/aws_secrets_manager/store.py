"""AWS Secrets Manager as a secret store, on boto3."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any

import botocore
from botocore.exceptions import BotoCoreError, ClientError

from airflow_secret_sync.engine.store import (
    InvalidName,
    Marker,
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
from airflow_secret_sync.providers.aws_secrets_manager.spec import AwsProvider, secret_name_problem
from airflow_secret_sync.providers.base import carries_tags

log = logging.getLogger(__name__)

# What a ListSecrets filter value may hold (a leading '!' negates it).
_FILTER_VALUE = re.compile(r"^[A-Za-z0-9 :_@/+=.-]{1,512}$")

LIST_FILTER_VALUES = 10  # values per ListSecrets filter
LISTING_PAGES = 2  # pages of ListSecrets per group of names before the missing ones are described


class AwsSecretsManagerStore(AwsStore):
    """AWS Secrets Manager: a key is a secret name below the store's ``prefix``.

    Values are text (``SecretString``) or bytes (``SecretBinary``). Versions are ``VersionId`` values.
    Secrets Manager has no check-and-set: a write compares the current ``AWSCURRENT`` version with the one
    read just before and refuses a difference, but a write landing between that check and our
    ``PutSecretValue`` cannot be detected; both versions stay in the secret's history.
    """

    kind = "aws"
    service_name = "secretsmanager"
    service_label = "Secrets Manager"
    settings: AwsProvider
    read_batch_size = 20  # secret ids per BatchGetSecretValue call

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._batch_denied = False

    # ----------------------------------------------------------------------------------------- names

    def check_key(self, key: str) -> str | None:
        return secret_name_problem(self.settings.prefix + key)

    def _name(self, key: str) -> str:
        name = self.settings.prefix + key
        problem = secret_name_problem(name)
        if problem:
            raise InvalidName(f"key {key!r} (secret name {name!r}): {problem}")
        return name

    def _key(self, name: str) -> str:
        return name[len(self.settings.prefix) :]

    # ----------------------------------------------------------------------------------------- reads

    def _listed(self, filters: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Every secret matching ``filters`` (secrets scheduled for deletion are left out)."""
        paginator = self.client().get_paginator("list_secrets")
        with self._calling("list secrets", self.settings.prefix or "*"):
            for page in paginator.paginate(Filters=filters, PaginationConfig={"PageSize": 100}):
                yield from page.get("SecretList", [])

    def _name_filters(self, start: str) -> list[dict[str, Any]] | None:
        """A name filter for names starting with ``start``; ``None`` when no secret name can."""
        if not start:
            return []
        if secret_name_problem(start):
            return None
        return [{"Key": "name", "Values": [start]}]

    def list_keys(self, path: str = "", *, recursive: bool = True) -> list[str]:
        start = self.settings.prefix + path
        filters = self._name_filters(start)
        if filters is None:
            return []
        keys = []
        for secret in self._listed(filters):
            name = secret["Name"]
            if name.startswith(start) and (recursive or "/" not in name[len(start) :]):
                keys.append(self._key(name))
        return sorted(keys)

    def list_tagged(self, tags: Mapping[str, str], path: str = "", *, recursive: bool = True) -> list[str]:
        """Keys whose secrets carry every one of ``tags``: a ``tag-key`` filter narrows the listing (AWS
        matches it as a prefix, and keys and values apart), the tags it returns decide exactly."""
        start = self.settings.prefix + path
        filters = self._name_filters(start)
        if filters is None:
            return []
        filterable = sorted(name for name in tags if _FILTER_VALUE.match(name))
        if filterable:  # a name AWS would misread ('!' negates) narrows nothing: the tags still decide
            filters.append({"Key": "tag-key", "Values": filterable[:1]})
        keys = []
        for secret in self._listed(filters):
            name = secret["Name"]
            if not name.startswith(start) or (not recursive and "/" in name[len(start) :]):
                continue
            if carries_tags(tag_dict(secret.get("Tags")), tags, lambda tag: tag.startswith(TAG_PREFIX)):
                keys.append(self._key(name))
        return sorted(keys)

    def list_marked(self, job: str, path: str = "", *, skip: Collection[str] = ()) -> dict[str, Marker]:
        start = self.settings.prefix + path
        filters = self._name_filters(start)
        if filters is None:
            return {}
        filters += [
            {"Key": "tag-key", "Values": [f"{TAG_PREFIX}job"]},
            {"Key": "tag-value", "Values": encode_tag_value(job)[:1]},
        ]
        owned: dict[str, Marker] = {}
        for secret in self._listed(filters):
            marker = marker_from_tags(tag_dict(secret.get("Tags")))
            key = self._key(secret["Name"])
            if marker is None or marker.job != job or key in skip:
                continue
            if secret["Name"].startswith(start):
                owned[key] = marker
        return owned

    def _describe(self, name: str) -> dict[str, Any] | None:
        """The secret's metadata, or ``None`` when there is no such secret."""
        try:
            return self.client().describe_secret(SecretId=name)
        except ClientError as err:
            if error_code(err) == "ResourceNotFoundException":
                return None
            raise self._failure("describe", name, err) from None
        except BotoCoreError as err:
            raise self._failure("describe", name, err) from None

    def _live(self, name: str) -> dict[str, Any] | None:
        """The metadata of a secret that exists and is not scheduled for deletion."""
        described = self._describe(name)
        return described if described is not None and not described.get("DeletedDate") else None

    def _record(self, key: str, response: Mapping[str, Any], tags: Mapping[str, str]) -> SecretRecord:
        value: Value = (
            response["SecretString"] if "SecretString" in response else bytes(response["SecretBinary"])
        )
        return SecretRecord(
            key=key,
            value=value,
            version=response.get("VersionId"),
            marker=marker_from_tags(tags),
            metadata={"arn": response.get("ARN", ""), "name": response.get("Name", "")},
        )

    def read(self, key: str, version: str | None = None) -> SecretRecord | None:
        """The secret's ``AWSCURRENT`` value, or ``version``: a ``VersionId``, or a staging label such as
        ``AWSPREVIOUS``."""
        name = self._name(key)
        described = self._live(name)
        if described is None:
            return None
        selector = {"VersionStage": "AWSCURRENT"}
        if version is not None:
            version = str(version)
            selector = {"VersionId": version} if 32 <= len(version) <= 64 else {"VersionStage": version}
        try:
            response = self.client().get_secret_value(SecretId=name, **selector)
        except ClientError as err:
            code = error_code(err)
            if code == "ResourceNotFoundException" and version is None:
                return None  # deleted since it was described, or a placeholder without a value
            if code == "InvalidRequestException" and version is None and self._live(name) is None:
                return None  # scheduled for deletion since it was described
            raise self._failure(f"read version {version} of" if version else "read", name, err) from None
        except BotoCoreError as err:
            raise self._failure("read", name, err) from None
        return self._record(key, response, tag_dict(described.get("Tags")))

    def read_many(self, keys: Iterable[str]) -> dict[str, SecretRecord | None]:
        """Values with ``BatchGetSecretValue`` (20 a call); markers from ``ListSecrets`` name filters (10
        names a call), or ``DescribeSecret`` for a secret the listing does not show.

        Values and versions are current; markers may lag, since a listing "might not reflect changes from the
        last five minutes" (AWS). A secret scheduled for deletion reads as absent, as in :meth:`read`; one the
        batch cannot read for another reason (access, decryption) is left out of the answer, for :meth:`read`
        to raise its own error. Once AWS denies ``BatchGetSecretValue`` or ``ListSecrets``, batch reads
        answer nothing: every key is then read with :meth:`read`.
        """
        keys = list(dict.fromkeys(keys))
        key_of = {self._name(key): key for key in keys}
        records: dict[str, SecretRecord | None] = {}
        responses: dict[str, dict[str, Any]] = {}
        for chunk in chunks(list(key_of), self.read_batch_size):
            found = self._batch_call("BatchGetSecretValue", chunk, SecretIdList=chunk)
            if found is None:
                return {}
            for error in found.get("Errors", []):
                name, code = error.get("SecretId"), error.get("ErrorCode")
                if name not in key_of:
                    continue
                if code == "ResourceNotFoundException":  # no such secret, or one without a value
                    records[key_of[name]] = None
                elif code == "InvalidRequestException" and self._live(name) is None:
                    records[key_of[name]] = None  # scheduled for deletion
            for item in found.get("SecretValues", []):
                if item.get("Name") in key_of:
                    responses[item["Name"]] = item
        tags = self._listed_tags(sorted(responses))
        if tags is None:
            return {}
        for name, response in responses.items():
            if name not in tags:  # a secret too new for the listing, or one many other names start with
                described = self._live(name)
                if described is None:  # deleted, or scheduled for deletion, since its value was read
                    records[key_of[name]] = None
                    continue
                tags[name] = tag_dict(described.get("Tags"))
            records[key_of[name]] = self._record(key_of[name], response, tags[name])
        return records

    def _listed_tags(self, names: list[str]) -> dict[str, dict[str, str]] | None:
        """The tags of the listed secrets among ``names``; ``None`` when listing is denied.

        A name filter matches the beginning of names, so it may also list other secrets: a group stops
        after :data:`LISTING_PAGES` pages, and the names still missing are described one by one.
        """
        tags: dict[str, dict[str, str]] = {}
        for group in chunks(names, LIST_FILTER_VALUES):
            params: dict[str, Any] = {"Filters": [{"Key": "name", "Values": group}], "MaxResults": 100}
            for _ in range(LISTING_PAGES):
                page = self._batch_call("ListSecrets", group, **params)
                if page is None:
                    return None
                for secret in page.get("SecretList", []):
                    if secret.get("Name") in group:
                        tags[secret["Name"]] = tag_dict(secret.get("Tags"))
                if not page.get("NextToken") or all(name in tags for name in group):
                    break
                params["NextToken"] = page["NextToken"]
        return tags

    def _batch_call(self, operation: str, names: list[str], **params: Any) -> dict[str, Any] | None:
        """One call (``operation``, an API name) of a batch read; ``None``, and batch reads off for this
        hook, once AWS denies it."""
        if self._batch_denied:
            return None
        try:
            return dict(getattr(self.client(), botocore.xform_name(operation))(**params))
        except ClientError as err:
            if error_code(err) != "AccessDeniedException":
                raise self._failure("read", ", ".join(names), err) from None
            self._batch_denied = True
            log.warning(
                "Store %s: %s denied (%s); reading secrets one at a time",
                self.store_name,
                operation,
                err.response.get("Error", {}).get("Message", ""),
            )
            return None
        except BotoCoreError as err:
            raise self._failure("read", ", ".join(names), err) from None

    def read_marker(self, key: str) -> Marker | None:
        described = self._live(self._name(key))
        return marker_from_tags(tag_dict(described.get("Tags"))) if described else None

    def exists(self, key: str) -> bool:
        return self._live(self._name(key)) is not None

    # ----------------------------------------------------------------------------------------- writes

    def _payload(self, key: str, value: Value) -> dict[str, Any]:
        data = as_text(value)
        if not data:
            raise StoreError(
                f"store {self.store_name!r}: key {key!r}: Secrets Manager cannot hold an empty value"
            )
        self.check_value_size(key, data)
        return {"SecretBinary": data} if isinstance(data, bytes) else {"SecretString": data}

    def _apply_tags(
        self, key: str, name: str, current: Mapping[str, str], desired: Mapping[str, str]
    ) -> None:
        """Set our tags; our stale ones go first: the resource never holds more tags than at the end."""
        changed, stale = self._tag_plan(key, current, desired)
        with self._calling("tag", name):
            if stale:
                self.client().untag_resource(SecretId=name, TagKeys=stale)
            if changed:
                self.client().tag_resource(SecretId=name, Tags=tag_list(changed))

    def write(
        self, key: str, value: Value, marker: Marker, *, expected_version: str | None = None
    ) -> str | None:
        """Create the secret, or put a new version.

        A key read as absent may still name a secret that holds no value: one scheduled for deletion
        (restored first) or a placeholder created without a value. Either is written unless another job's
        marker is on it. One ``ClientRequestToken`` per write makes botocore's retries of a call idempotent:
        a retried request with the same token creates no second version.
        """
        name = self._name(key)
        payload = self._payload(key, value)
        tags = self._desired_tags(marker)
        token = str(uuid.uuid4())
        if expected_version is None:
            self._tag_plan(key, {}, tags)
            created = self._create(name, payload, tags, token, value)
            if created is not None:
                return created
            described = self._valueless(key, name, marker)
        else:
            live = self._live(name)
            if live is None:
                raise WriteConflict(f"key {key!r}: secret {name!r} was deleted since it was read")
            described = live
            current = _current_version(described)
            if current != expected_version:
                raise WriteConflict(
                    f"key {key!r}: changed since it was read (version {current}, expected {expected_version})"
                )
        # the marker before the value: a failure between the two calls leaves our marker on the value before,
        # which the next run replaces; never our value without our marker (docs/providers/aws.md)
        self._apply_tags(key, name, tag_dict(described.get("Tags")), tags)
        with self._calling("write", name, value):
            response = self.client().put_secret_value(SecretId=name, ClientRequestToken=token, **payload)
        return response.get("VersionId")

    def _valueless(self, key: str, name: str, marker: Marker) -> dict[str, Any]:
        """The metadata of the existing secret that a create ran into, made ready for a first value.

        Raises :class:`WriteConflict` when it holds a value (someone created it since our read) or carries
        another job's marker.
        """
        described = self._describe(name)
        if described is None or (_current_version(described) and not described.get("DeletedDate")):
            raise WriteConflict(f"key {key!r}: secret {name!r} was created by someone else since it was read")
        owner = marker_from_tags(tag_dict(described.get("Tags")))
        if owner is not None and owner.job != marker.job:
            state = "scheduled for deletion" if described.get("DeletedDate") else "without a value"
            raise WriteConflict(f"key {key!r}: secret {name!r} is {state} and owned by job {owner.job!r}")
        if described.get("DeletedDate"):
            with self._calling("restore", name):
                self.client().restore_secret(SecretId=name)
            log.info(
                "Store %s: restored secret %s, which was scheduled for deletion, to write it again",
                self.store_name,
                name,
            )
        else:
            log.info(
                "Store %s: secret %s exists without a value; writing its first one", self.store_name, name
            )
        return described

    def _create(
        self, name: str, payload: dict[str, Any], tags: Mapping[str, str], token: str, value: Value
    ) -> str | None:
        """Create the secret and return its version, or ``None`` when a secret of that name is there."""
        options: dict[str, Any] = {}
        if self.settings.kms_key_id:
            options["KmsKeyId"] = self.settings.kms_key_id
        if self.settings.description:
            options["Description"] = self.settings.description
        try:
            response = self.client().create_secret(
                Name=name, ClientRequestToken=token, Tags=tag_list(tags), **payload, **options
            )
        except ClientError as err:
            # For a name scheduled for deletion AWS answers InvalidRequestException, moto ResourceExists.
            code = error_code(err)
            if code == "ResourceExistsException":
                return None
            if code == "InvalidRequestException" and self._describe(name) is not None:
                return None
            raise self._failure("create", name, err, value) from None
        except BotoCoreError as err:
            raise self._failure("create", name, err, value) from None
        return response.get("VersionId")

    def set_marker(self, key: str, marker: Marker) -> None:
        name = self._name(key)
        described = self._live(name)
        if described is None:
            raise NotFound(f"store {self.store_name!r}: cannot mark {name!r}: no such secret")
        self._apply_tags(key, name, tag_dict(described.get("Tags")), self._desired_tags(marker))

    def delete(self, key: str) -> None:
        """Schedule deletion with the store's recovery window, or delete at once when it is ``null``."""
        name = self._name(key)
        window = self.settings.recovery_window_days
        options: dict[str, Any] = (
            {"RecoveryWindowInDays": window} if window is not None else {"ForceDeleteWithoutRecovery": True}
        )
        try:
            self.client().delete_secret(SecretId=name, **options)
        except ClientError as err:
            code = error_code(err)
            if code == "ResourceNotFoundException":
                return
            described = self._describe(name) if code == "InvalidRequestException" else None
            if described is not None and described.get("DeletedDate"):
                return  # already scheduled for deletion
            raise self._failure("delete", name, err) from None
        except BotoCoreError as err:
            raise self._failure("delete", name, err) from None

    def _probe(self) -> None:
        with self._calling("list secrets", self.settings.prefix or "*"):
            self.client().list_secrets(MaxResults=1)


def _current_version(described: Mapping[str, Any]) -> str | None:
    for version, stages in (described.get("VersionIdsToStages") or {}).items():
        if "AWSCURRENT" in stages:
            return str(version)
    return None
