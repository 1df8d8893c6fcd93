"""Secret names in Azure Key Vault: ``^[0-9a-zA-Z-]{1,127}$``, compared without regard to case.

Keys are mapped to names character by character with the store's ``nameMapping`` (default: ``/`` becomes
``--``), and names back to keys by reading the replacements from left to right. A key is allowed only when
its name reads back as the same key, so the mapping never merges two keys into one name within a store:
with the default, ``a/b`` is allowed and ``a--b`` is refused (it would read back as ``a/b``).

Key Vault treats ``App-Key`` and ``app-key`` as one secret: :func:`canonical_name` is what two keys must
not share in one store.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

NAME_PATTERN = r"^[0-9a-zA-Z-]{1,127}$"
NAME_MAX_LENGTH = 127
NAME_CHARACTERS = re.compile(r"^[0-9a-zA-Z-]*$")
DEFAULT_NAME_MAPPING: Mapping[str, str] = {"/": "--"}
VALUE_LIMIT_BYTES = 25 * 1024
"""Key Vault stores secret values of at most 25 KiB (as UTF-8)."""

_NAME = re.compile(NAME_PATTERN)


def secret_name(key: str, mapping: Mapping[str, str] = DEFAULT_NAME_MAPPING) -> str:
    """The secret name of ``key`` (not checked: see :func:`name_problem`)."""
    return "".join(mapping.get(char, char) for char in key)


def key_of(name: str, mapping: Mapping[str, str] = DEFAULT_NAME_MAPPING) -> str:
    """The key a secret name stands for: replacements read from left to right, the longest first."""
    replacements = sorted(((text, char) for char, text in mapping.items()), key=lambda item: -len(item[0]))
    key: list[str] = []
    position = 0
    while position < len(name):
        for text, char in replacements:
            if name.startswith(text, position):
                key.append(char)
                position += len(text)
                break
        else:
            key.append(name[position])
            position += 1
    return "".join(key)


def canonical_name(key: str, mapping: Mapping[str, str] = DEFAULT_NAME_MAPPING) -> str:
    """What Key Vault compares: the secret name in lower case. Two keys with one canonical name collide."""
    return secret_name(key, mapping).lower()


def name_problem(key: str, mapping: Mapping[str, str] = DEFAULT_NAME_MAPPING) -> str | None:
    """Why ``key`` cannot be a secret of a store with ``mapping``, or ``None``."""
    if not key:
        return "Azure Key Vault secret names cannot be empty"
    name = secret_name(key, mapping)
    if not NAME_CHARACTERS.match(name):
        mapped = "".join(f" {char!r} (as {text!r})" for char, text in mapping.items())
        return (
            "Azure Key Vault secret names allow only letters, digits and '-'"
            + (f"; this store also maps{mapped}" if mapped else "")
            + " (add a nameMapping or a key rewrite for the others)"
        )
    if len(name) > NAME_MAX_LENGTH:
        return (
            f"the secret name {name!r} has {len(name)} characters; Azure Key Vault allows {NAME_MAX_LENGTH}"
        )
    if not _NAME.match(name):
        return "Azure Key Vault secret names are 1 to 127 letters, digits and '-'"
    back = key_of(name, mapping)
    if back != key:
        return (
            f"its secret name {name!r} would be read back as key {back!r} "
            f"(nameMapping {dict(mapping)!r}): two keys would share one secret name"
        )
    return None


def mapping_problem(mapping: Mapping[str, str]) -> str | None:
    """Why ``mapping`` cannot be a ``nameMapping``, or ``None``."""
    for char, text in mapping.items():
        if len(char) != 1:
            return f"nameMapping keys are single characters, not {char!r}"
        if NAME_CHARACTERS.match(char):
            return f"nameMapping maps characters that names cannot hold; {char!r} needs no mapping"
        if not text or not NAME_CHARACTERS.match(text):
            return f"nameMapping {char!r}: the replacement must be letters, digits and '-', not {text!r}"
    texts = list(mapping.values())
    if len({text.lower() for text in texts}) != len(texts):
        return "nameMapping replacements must differ from each other"
    return None
