"""Envelope encryption of merchant credentials (AES-256-GCM from ``cryptography``).

* Every tenant has its own random 256-bit data key. It seals the Billbee username and the
  API password, each with a fresh random 96-bit nonce and associated data naming the tenant
  id and the field, so a ciphertext copied to another tenant or field fails to open.
* The data key is stored wrapped (AES-GCM again) by a key-encryption key (KEK) from the
  keyring ``BILLHIVE_VAULT_KEYS`` (``id1:base64,id2:base64``; the first is active), together
  with that key's id. Rotation re-wraps data keys only; sealed secrets are never touched.
* Usernames are found through a blind index: HMAC-SHA256 of the normalized username under
  ``BILLHIVE_BLIND_INDEX_KEY``, never through plaintext.
* The same data key seals the tenant's other personal data: its contact e-mail (a field
  like the username) and the payloads of its calls (:class:`TenantKey`, associated data
  naming the tenant, the call and the field), so deleting the data key makes all of it
  unreadable at once (crypto-shredding), in backups too.

Wire format of every sealed value: ``version byte (1) | nonce (12) | ciphertext+tag``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from billhive.config import Settings
from billhive.tenants.errors import VaultError
from billhive.tenants.rules import normalize_username

FORMAT_VERSION = b"\x01"
NONCE_BYTES = 12
KEY_BYTES = 32
FIELD_USERNAME = "username"
FIELD_PASSWORD = "password"  # noqa: S105 (a field name)
#: A new API password waiting for Billbee's verdict (a reconnect while Billbee was away).
FIELD_PENDING_PASSWORD = "pending_password"  # noqa: S105 (a field name)
#: The merchant's contact e-mail (often their Billbee login, so as sensitive as the username).
FIELD_CONTACT_EMAIL = "contact_email"
_FIELDS = frozenset({FIELD_USERNAME, FIELD_PASSWORD, FIELD_PENDING_PASSWORD, FIELD_CONTACT_EMAIL})


def _decode_key(key_id: str, encoded: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise VaultError(f"{what} {key_id!r} is not valid base64.") from exc
    if len(raw) != KEY_BYTES:
        raise VaultError(f"{what} {key_id!r} must be {KEY_BYTES} bytes, not {len(raw)}.")
    return raw


class Keyring:
    """Key-encryption keys by id; the first one is active (used for every new wrap)."""

    def __init__(self, keys: dict[str, bytes]) -> None:
        if not keys:
            raise VaultError("The vault keyring is empty: set BILLHIVE_VAULT_KEYS.")
        for key_id, key in keys.items():
            if not key_id or ":" in key_id or "," in key_id:
                raise VaultError(f"Vault key id {key_id!r} is not a plain name.")
            if len(key) != KEY_BYTES:
                raise VaultError(f"Vault key {key_id!r} must be {KEY_BYTES} bytes.")
        self._keys = dict(keys)
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.active_id = next(iter(keys))

    @classmethod
    def parse(cls, spec: str) -> Keyring:
        """Read ``id1:base64,id2:base64``; errors name the offending key id, never a key."""
        keys: dict[str, bytes] = {}
        for position, entry in enumerate(p.strip() for p in spec.split(",")):
            if not entry:
                continue
            key_id, sep, encoded = entry.partition(":")
            key_id = key_id.strip()
            if not sep or not key_id:
                raise VaultError(f"Vault keyring entry {position + 1} must look like id:base64key.")
            if key_id in keys:
                raise VaultError(f"Vault key id {key_id!r} appears twice in the keyring.")
            keys[key_id] = _decode_key(key_id, encoded, "Vault key")
        return cls(keys)

    @property
    def ids(self) -> list[str]:
        """Every key id, the active one first."""
        return list(self._keys)

    def cipher(self, key_id: str) -> AESGCM:
        """The AES-GCM cipher of ``key_id``, or an error naming the missing id."""
        try:
            return self._ciphers[key_id]
        except KeyError:
            raise VaultError(
                f"Vault key {key_id!r} is not in the keyring (BILLHIVE_VAULT_KEYS); "
                "add it back to open data keys it wrapped."
            ) from None

    def __repr__(self) -> str:
        return f"<Keyring active={self.active_id!r} ids={self.ids!r}>"


class SealedCredentials(NamedTuple):
    """What the database stores for one tenant (no plaintext)."""

    kek_id: str
    wrapped_key: bytes
    username_sealed: bytes
    password_sealed: bytes


@dataclass(frozen=True)
class Credentials:
    """A tenant's plaintext Billbee username and API password; ``repr`` hides both."""

    username: str
    password: str

    def __repr__(self) -> str:
        return "Credentials(username=[hidden], password=[hidden])"

    __str__ = __repr__


def _seal(cipher: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return FORMAT_VERSION + nonce + cipher.encrypt(nonce, plaintext, aad)


def _open(cipher: AESGCM, sealed: bytes, aad: bytes) -> bytes:
    if len(sealed) < 1 + NONCE_BYTES + 16 or sealed[:1] != FORMAT_VERSION:
        raise InvalidTag
    nonce = sealed[1 : 1 + NONCE_BYTES]
    return cipher.decrypt(nonce, sealed[1 + NONCE_BYTES :], aad)


def _open_field(cipher: AESGCM, tenant_id: int, field: str, sealed: bytes) -> str:
    try:
        return _open(cipher, sealed, _field_aad(tenant_id, field)).decode()
    except InvalidTag:
        raise VaultError(
            f"The sealed {field} of tenant {tenant_id} does not open with its data key "
            "(damaged, or copied from another tenant or field)."
        ) from None


def _field_aad(tenant_id: int, field: str) -> bytes:
    if field not in _FIELDS:
        raise ValueError(f"unknown sealed field {field!r}")
    return f"billhive:tenant:{tenant_id}:field:{field}".encode()


def _wrap_aad(tenant_id: int, kek_id: str) -> bytes:
    return f"billhive:tenant:{tenant_id}:data-key:{kek_id}".encode()


def _data_aad(tenant_id: int, context: str) -> bytes:
    # "data:" keeps these apart from the credential fields' "field:" namespace.
    if not context or any(c.isspace() for c in context):
        raise ValueError(f"not a sealing context: {context!r}")
    return f"billhive:tenant:{tenant_id}:data:{context}".encode()


#: Where a session keeps the data keys it unwrapped (``Session.info``, tenant id -> key): a
#: session is one request's or job's, so a key lives no longer than it would in a variable
#: of that request or job, and its row is read once.
SESSION_KEYS = "billhive.tenant_keys"


class TenantKey:
    """One tenant's unwrapped data key, held for one job or request to seal and open
    arbitrary bytes (call payloads) without unwrapping it for every value.

    ``context`` names what a value is (``call:17:params``): it goes into the associated
    data with the tenant id, so a value copied to another tenant, call or field fails to
    open. ``repr`` shows the tenant only.
    """

    __slots__ = ("_cipher", "tenant_id")

    def __init__(self, tenant_id: int, data_key: bytes) -> None:
        self.tenant_id = tenant_id
        self._cipher = AESGCM(data_key)

    def seal(self, context: str, plaintext: bytes) -> bytes:
        """``plaintext`` sealed under this tenant's data key, bound to ``context``."""
        return _seal(self._cipher, plaintext, _data_aad(self.tenant_id, context))

    def open(self, context: str, sealed: bytes) -> bytes:
        """Open a value of :meth:`seal`; :class:`VaultError` (naming no data) when it fails."""
        try:
            return _open(self._cipher, sealed, _data_aad(self.tenant_id, context))
        except InvalidTag:
            raise VaultError(
                f"The sealed {context} of tenant {self.tenant_id} does not open with its data "
                "key (damaged, or copied from another tenant, call or field)."
            ) from None

    def __repr__(self) -> str:
        return f"<TenantKey tenant_id={self.tenant_id}>"


def _secret_aad(purpose: str, owner_id: int, kek_id: str) -> bytes:
    if not purpose or ":" in purpose:
        raise ValueError(f"not a secret purpose: {purpose!r}")
    return f"billhive:{purpose}:{owner_id}:kek:{kek_id}".encode()


class Vault:
    """Seals, opens and re-wraps tenant credentials; computes the username blind index."""

    def __init__(self, keyring: Keyring, blind_index_key: bytes) -> None:
        if len(blind_index_key) < 16:
            raise VaultError("The blind-index key must be at least 16 bytes.")
        self.keyring = keyring
        self._blind_index_key = blind_index_key

    @classmethod
    def from_settings(cls, settings: Settings) -> Vault:
        """The vault of ``BILLHIVE_VAULT_KEYS`` and ``BILLHIVE_BLIND_INDEX_KEY``."""
        keyring = Keyring.parse(settings.require("vault_keys"))
        blind = _decode_key("blind_index_key", settings.require("blind_index_key"), "Key")
        return cls(keyring, blind)

    def __repr__(self) -> str:
        return f"<Vault active_key={self.keyring.active_id!r}>"

    # -- blind index ------------------------------------------------------------------

    def blind_index(self, username: str) -> str:
        """The keyed hash (hex) that finds a username without storing it."""
        digest = hmac.new(
            self._blind_index_key, normalize_username(username).encode(), hashlib.sha256
        )
        return digest.hexdigest()

    def email_index(self, email: str) -> str:
        """The keyed hash (hex) that finds a contact e-mail (trimmed, case-folded) without
        storing it. Domain-separated from :meth:`blind_index`, so a contact e-mail equal to
        the Billbee username does not show as an equal hash."""
        message = b"contact-email:" + email.strip().casefold().encode()
        return hmac.new(self._blind_index_key, message, hashlib.sha256).hexdigest()

    # -- sealing ----------------------------------------------------------------------

    def seal(self, tenant_id: int, username: str, password: str) -> SealedCredentials:
        """Seal both credentials under a fresh data key wrapped by the active KEK."""
        data_key = AESGCM.generate_key(bit_length=256)
        cipher = AESGCM(data_key)
        kek_id = self.keyring.active_id
        return SealedCredentials(
            kek_id=kek_id,
            wrapped_key=_seal(self.keyring.cipher(kek_id), data_key, _wrap_aad(tenant_id, kek_id)),
            username_sealed=_seal(cipher, username.encode(), _field_aad(tenant_id, FIELD_USERNAME)),
            password_sealed=_seal(cipher, password.encode(), _field_aad(tenant_id, FIELD_PASSWORD)),
        )

    def reseal_password(
        self, tenant_id: int, kek_id: str, wrapped_key: bytes, password: str
    ) -> bytes:
        """Seal a new password with the tenant's existing data key (reconnect)."""
        return self.seal_field(tenant_id, FIELD_PASSWORD, kek_id, wrapped_key, password)

    def seal_field(
        self, tenant_id: int, field: str, kek_id: str, wrapped_key: bytes, value: str
    ) -> bytes:
        """Seal ``value`` as ``field`` of a tenant with its existing data key."""
        cipher = AESGCM(self._unwrap(tenant_id, kek_id, wrapped_key))
        return _seal(cipher, value.encode(), _field_aad(tenant_id, field))

    def open_field(
        self, tenant_id: int, field: str, kek_id: str, wrapped_key: bytes, sealed: bytes
    ) -> str:
        """Open one sealed field of a tenant; an error (naming no secret) when it fails."""
        cipher = AESGCM(self._unwrap(tenant_id, kek_id, wrapped_key))
        return _open_field(cipher, tenant_id, field, sealed)

    def tenant_key(self, tenant_id: int, kek_id: str, wrapped_key: bytes) -> TenantKey:
        """The tenant's data key, unwrapped once for a job or request that seals or opens
        several values (see :class:`TenantKey`)."""
        return TenantKey(tenant_id, self._unwrap(tenant_id, kek_id, wrapped_key))

    def seal_bytes(
        self, tenant_id: int, kek_id: str, wrapped_key: bytes, context: str, plaintext: bytes
    ) -> bytes:
        """Seal arbitrary bytes with a tenant's data key, bound to ``context`` (one value;
        use :meth:`tenant_key` for several)."""
        return self.tenant_key(tenant_id, kek_id, wrapped_key).seal(context, plaintext)

    def open_bytes(
        self, tenant_id: int, kek_id: str, wrapped_key: bytes, context: str, sealed: bytes
    ) -> bytes:
        """Open a value of :meth:`seal_bytes`; :class:`VaultError` when it fails."""
        return self.tenant_key(tenant_id, kek_id, wrapped_key).open(context, sealed)

    def open(self, tenant_id: int, sealed: SealedCredentials) -> Credentials:
        """Open both credentials of a tenant (one data-key unwrap for the two)."""
        cipher = AESGCM(self._unwrap(tenant_id, sealed.kek_id, sealed.wrapped_key))
        return Credentials(
            username=_open_field(cipher, tenant_id, FIELD_USERNAME, sealed.username_sealed),
            password=_open_field(cipher, tenant_id, FIELD_PASSWORD, sealed.password_sealed),
        )

    # -- secrets of no tenant ---------------------------------------------------------

    def seal_secret(self, purpose: str, owner_id: int, plaintext: str) -> tuple[str, bytes]:
        """Seal a small secret that belongs to no tenant (an admin's TOTP secret) directly
        under the active vault key; returns ``(kek_id, sealed)``.

        The associated data names the purpose, the owner and the key id, so a value moved
        to another row, column or purpose fails to open.
        """
        kek_id = self.keyring.active_id
        aad = _secret_aad(purpose, owner_id, kek_id)
        return kek_id, _seal(self.keyring.cipher(kek_id), plaintext.encode(), aad)

    def open_secret(self, purpose: str, owner_id: int, kek_id: str, sealed: bytes) -> str:
        """Open a value of :meth:`seal_secret`; :class:`VaultError` (naming no secret)."""
        try:
            plain = _open(
                self.keyring.cipher(kek_id), sealed, _secret_aad(purpose, owner_id, kek_id)
            )
        except InvalidTag:
            raise VaultError(
                f"The sealed {purpose} secret of {owner_id} does not open with vault key "
                f"{kek_id!r} (damaged, or copied from elsewhere)."
            ) from None
        return plain.decode()

    def reseal_secret(
        self, purpose: str, owner_id: int, kek_id: str, sealed: bytes
    ) -> tuple[str, bytes]:
        """The value of :meth:`seal_secret` sealed again under the active key (rotation)."""
        return self.seal_secret(
            purpose, owner_id, self.open_secret(purpose, owner_id, kek_id, sealed)
        )

    # -- data keys --------------------------------------------------------------------

    def _unwrap(self, tenant_id: int, kek_id: str, wrapped_key: bytes) -> bytes:
        kek = self.keyring.cipher(kek_id)
        try:
            return _open(kek, wrapped_key, _wrap_aad(tenant_id, kek_id))
        except InvalidTag:
            raise VaultError(
                f"The data key of tenant {tenant_id} does not open with vault key {kek_id!r} "
                "(wrong key under that id, or the wrapped key was damaged or moved)."
            ) from None

    def rewrap(self, tenant_id: int, kek_id: str, wrapped_key: bytes) -> tuple[str, bytes]:
        """The tenant's data key re-wrapped under the active KEK: ``(kek_id, wrapped)``."""
        data_key = self._unwrap(tenant_id, kek_id, wrapped_key)
        active = self.keyring.active_id
        return active, _seal(self.keyring.cipher(active), data_key, _wrap_aad(tenant_id, active))
