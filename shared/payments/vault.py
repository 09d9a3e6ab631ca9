"""Account numbers at rest: envelope encryption (docs/payments.md "Destinations, masking and
tokenisation"). Each sealed value has its own 256-bit data key; the value is encrypted with it under
AES-256-GCM, and the data key is wrapped by a key-encryption key (`KeyWrapper`: Cloud KMS in the cloud,
shared.adapters.kms_keys; a local dev key on the emulators). The record id is the associated data of
both layers, so a ciphertext copied onto another payout does not open.

Sealed form (text, stored on the record): `v1.<key id>.<wrapped data key>.<nonce>.<ciphertext>`, the
last three base64url without padding. `<key id>` names the wrapping key (a KMS key resource name's
last segments, or `local`), so a rotation that changes the key keeps old values readable while their
key version is enabled."""

from __future__ import annotations

import base64
import os
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = "v1"


class VaultError(Exception):
    """A sealed value that does not open: malformed, another key, another record, or tampered."""


class KeyWrapper(Protocol):
    """Wraps and unwraps data keys; `key_id` is written next to each wrapped key."""

    key_id: str

    def wrap(self, data_key: bytes, aad: bytes) -> bytes: ...
    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes: ...


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(wrapper: KeyWrapper, plaintext: str, record_id: str) -> str:
    """The sealed form of `plaintext` for the record `record_id`."""
    aad = record_id.encode()
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext.encode(), aad)
    wrapped = wrapper.wrap(data_key, aad)
    if "." in wrapper.key_id:
        raise ValueError("a key id has no dots")
    return ".".join((VERSION, wrapper.key_id, _b64(wrapped), _b64(nonce), _b64(ciphertext)))


def open_sealed(wrapper: KeyWrapper, sealed: str, record_id: str) -> str:
    """The plaintext of a sealed value of the record `record_id`; VaultError when it does not open.
    The error never carries the value."""
    parts = sealed.split(".")
    if len(parts) != 5 or parts[0] != VERSION:
        raise VaultError(f"{record_id}: not a {VERSION} sealed value")
    _, key_id, wrapped, nonce, ciphertext = parts
    if key_id != wrapper.key_id:
        raise VaultError(f"{record_id}: sealed under key {key_id!r}, this vault holds {wrapper.key_id!r}")
    aad = record_id.encode()
    try:
        data_key = wrapper.unwrap(_unb64(wrapped), aad)
        return AESGCM(data_key).decrypt(_unb64(nonce), _unb64(ciphertext), aad).decode()
    except (InvalidTag, ValueError) as exc:
        raise VaultError(f"{record_id}: the sealed value does not open ({type(exc).__name__})") from None


class LocalKeyWrapper:
    """The emulators' key-encryption key: AES-256-GCM with a dev key from settings
    (PAYMENTS_LOCAL_KEK, 32 bytes as 64 hex digits; emulators/dev.env). No KMS emulator exists; the
    envelope and the code paths are the cloud's, only the wrapping key lives in a setting. Never used
    in the cloud (shared.bootstrap builds KmsKeyWrapper there)."""

    key_id = "local"

    def __init__(self, kek: bytes):
        if len(kek) != 32:
            raise ValueError("the local key-encryption key is 32 bytes")
        self._aead = AESGCM(kek)

    def wrap(self, data_key: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data_key, aad)

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        return self._aead.decrypt(wrapped[:12], wrapped[12:], aad)
