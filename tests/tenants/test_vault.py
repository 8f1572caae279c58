"""The vault: sealing, binding to tenant and field, keys, blind index."""

from __future__ import annotations

import base64
import os

import pytest

from billhive.config import ConfigError, load_settings
from billhive.tenants.errors import VaultError
from billhive.tenants.vault import Credentials, Keyring, SealedCredentials, Vault

USERNAME = "merchant@shop.example"
GOOD_PASSWORD = "Tr1cky!Sample#42"


def random_key() -> bytes:
    return os.urandom(32)


def keyring_spec(**keys: bytes) -> str:
    return ",".join(f"{k}:{base64.b64encode(v).decode()}" for k, v in keys.items())


@pytest.fixture
def k1() -> bytes:
    return random_key()


@pytest.fixture
def plain_vault(k1: bytes, blind_key: bytes) -> Vault:
    return Vault(Keyring({"k1": k1}), blind_key)


def test_sealed_credentials_open_to_the_original_values(plain_vault: Vault) -> None:
    sealed = plain_vault.seal(7, USERNAME, GOOD_PASSWORD)
    assert plain_vault.open(7, sealed) == Credentials(USERNAME, GOOD_PASSWORD)


def test_sealed_values_hold_no_plaintext(plain_vault: Vault) -> None:
    sealed = plain_vault.seal(7, USERNAME, GOOD_PASSWORD)
    blobs = sealed.wrapped_key + sealed.username_sealed + sealed.password_sealed
    assert USERNAME.encode() not in blobs
    assert GOOD_PASSWORD.encode() not in blobs


def test_sealing_twice_gives_different_ciphertexts(plain_vault: Vault) -> None:
    first = plain_vault.seal(7, USERNAME, GOOD_PASSWORD)
    second = plain_vault.seal(7, USERNAME, GOOD_PASSWORD)
    assert first.password_sealed != second.password_sealed
    assert first.wrapped_key != second.wrapped_key


def test_a_data_key_is_recorded_with_the_active_key_id(plain_vault: Vault) -> None:
    assert plain_vault.seal(7, USERNAME, GOOD_PASSWORD).kek_id == "k1"


def test_credentials_moved_to_another_tenant_do_not_open(plain_vault: Vault) -> None:
    sealed = plain_vault.seal(7, USERNAME, GOOD_PASSWORD)
    with pytest.raises(VaultError, match="tenant 8"):
        plain_vault.open(8, sealed)


def test_a_password_ciphertext_copied_onto_another_tenant_does_not_open(
    plain_vault: Vault,
) -> None:
    victim = plain_vault.seal(7, USERNAME, GOOD_PASSWORD)
    attacker = plain_vault.seal(8, "other@shop.example", "Other!Passw0rd1")
    forged = attacker._replace(password_sealed=victim.password_sealed)
    with pytest.raises(VaultError, match="sealed password of tenant 8"):
        plain_vault.open(8, forged)


def test_a_username_ciphertext_in_the_password_field_does_not_open(plain_vault: Vault) -> None:
    sealed = plain_vault.seal(7, USERNAME, GOOD_PASSWORD)
    swapped = sealed._replace(password_sealed=sealed.username_sealed)
    with pytest.raises(VaultError, match="sealed password"):
        plain_vault.open(7, swapped)


def test_a_damaged_ciphertext_does_not_open(plain_vault: Vault) -> None:
    sealed = plain_vault.seal(7, USERNAME, GOOD_PASSWORD)
    damaged = bytearray(sealed.password_sealed)
    damaged[-1] ^= 1
    with pytest.raises(VaultError):
        plain_vault.open(7, sealed._replace(password_sealed=bytes(damaged)))


def test_a_data_key_wrapped_by_a_missing_key_names_that_key_id(
    plain_vault: Vault, blind_key: bytes
) -> None:
    sealed = plain_vault.seal(7, USERNAME, GOOD_PASSWORD)
    other = Vault(Keyring({"k2": random_key()}), blind_key)
    with pytest.raises(VaultError, match="'k1' is not in the keyring"):
        other.open(7, sealed)


def test_a_wrong_key_under_the_right_id_names_that_key_id(
    plain_vault: Vault, blind_key: bytes
) -> None:
    sealed = plain_vault.seal(7, USERNAME, GOOD_PASSWORD)
    impostor = Vault(Keyring({"k1": random_key()}), blind_key)
    with pytest.raises(VaultError, match="vault key 'k1'"):
        impostor.open(7, sealed)


def test_vault_errors_never_contain_the_secret(plain_vault: Vault, blind_key: bytes) -> None:
    sealed = plain_vault.seal(7, USERNAME, GOOD_PASSWORD)
    with pytest.raises(VaultError) as caught:
        Vault(Keyring({"k1": random_key()}), blind_key).open(7, sealed)
    assert GOOD_PASSWORD not in str(caught.value)
    assert USERNAME not in str(caught.value)


def test_the_first_key_of_the_keyring_is_active(k1: bytes) -> None:
    keyring = Keyring.parse(keyring_spec(new=random_key(), old=k1))
    assert keyring.active_id == "new"
    assert keyring.ids == ["new", "old"]


def test_a_keyring_entry_that_is_not_base64_is_named_by_its_id() -> None:
    with pytest.raises(VaultError, match="'k9' is not valid base64"):
        Keyring.parse("k9:***not-base64***")


def test_a_keyring_entry_of_the_wrong_length_is_named_by_its_id() -> None:
    short = base64.b64encode(b"x" * 16).decode()
    with pytest.raises(VaultError, match="'k3' must be 32 bytes"):
        Keyring.parse(f"k3:{short}")


def test_a_keyring_entry_without_an_id_is_refused() -> None:
    with pytest.raises(VaultError, match="entry 1 must look like id:base64key"):
        Keyring.parse(base64.b64encode(random_key()).decode())


def test_a_key_id_appearing_twice_is_refused(k1: bytes) -> None:
    with pytest.raises(VaultError, match="'a' appears twice"):
        Keyring.parse(keyring_spec(a=k1) + "," + keyring_spec(a=k1))


def test_an_empty_keyring_is_refused() -> None:
    with pytest.raises(VaultError, match="BILLHIVE_VAULT_KEYS"):
        Keyring.parse(" , ")


def test_a_vault_without_configured_keys_names_the_setting(tmp_path: object) -> None:
    settings = load_settings(env="test", instance_path=tmp_path, vault_keys=None)
    with pytest.raises(ConfigError, match="BILLHIVE_VAULT_KEYS"):
        Vault.from_settings(settings)


def test_the_blind_index_ignores_case_and_surrounding_space(plain_vault: Vault) -> None:
    assert plain_vault.blind_index(" Merchant@Shop.Example ") == plain_vault.blind_index(USERNAME)


def test_the_blind_index_differs_between_usernames(plain_vault: Vault) -> None:
    assert plain_vault.blind_index("a@shop.example") != plain_vault.blind_index("b@shop.example")


def test_the_blind_index_depends_on_its_key(k1: bytes) -> None:
    first = Vault(Keyring({"k1": k1}), random_key())
    second = Vault(Keyring({"k1": k1}), random_key())
    assert first.blind_index(USERNAME) != second.blind_index(USERNAME)


def test_the_blind_index_is_64_hex_characters_without_the_username(plain_vault: Vault) -> None:
    index = plain_vault.blind_index(USERNAME)
    assert len(index) == 64
    int(index, 16)
    assert "merchant" not in index


def test_repr_of_credentials_hides_username_and_password() -> None:
    shown = repr(Credentials(USERNAME, GOOD_PASSWORD)) + str(Credentials(USERNAME, GOOD_PASSWORD))
    assert USERNAME not in shown
    assert GOOD_PASSWORD not in shown


def test_repr_of_the_vault_and_keyring_show_no_key_material(k1: bytes, blind_key: bytes) -> None:
    vault = Vault(Keyring({"k1": k1}), blind_key)
    shown = repr(vault) + repr(vault.keyring)
    assert base64.b64encode(k1).decode() not in shown
    assert "k1" in shown


def test_sealed_credentials_are_plain_bytes_for_the_database(plain_vault: Vault) -> None:
    sealed = plain_vault.seal(7, USERNAME, GOOD_PASSWORD)
    assert isinstance(sealed, SealedCredentials)
    assert all(isinstance(v, bytes) for v in sealed[1:])


# -- arbitrary bytes with a tenant's data key (call payloads) ---------------------------


def test_bytes_sealed_with_a_tenants_key_open_with_it_and_hide_the_plaintext(
    plain_vault: Vault,
) -> None:
    sealed = plain_vault.seal(7, "user@shop.test", "Pass!word#2026")
    key = plain_vault.tenant_key(7, sealed.kek_id, sealed.wrapped_key)
    box = key.seal("call:1:result", b'{"Name":"Erika Mustermann"}')
    assert b"Erika" not in box
    assert key.open("call:1:result", box) == b'{"Name":"Erika Mustermann"}'


@pytest.mark.parametrize("context", ["call:2:result", "call:1:params"])
def test_bytes_moved_to_another_call_or_field_do_not_open(plain_vault: Vault, context: str) -> None:
    sealed = plain_vault.seal(7, "user@shop.test", "Pass!word#2026")
    box = plain_vault.seal_bytes(
        7, sealed.kek_id, sealed.wrapped_key, "call:1:result", b"Erika Mustermann"
    )
    with pytest.raises(VaultError) as caught:
        plain_vault.open_bytes(7, sealed.kek_id, sealed.wrapped_key, context, box)
    assert "Erika" not in str(caught.value)


def test_bytes_of_one_tenant_do_not_open_with_another_tenants_key(plain_vault: Vault) -> None:
    mine = plain_vault.seal(7, "a@shop.test", "Pass!word#2026")
    theirs = plain_vault.seal(8, "b@shop.test", "Pass!word#2026")
    box = plain_vault.tenant_key(7, mine.kek_id, mine.wrapped_key).seal("call:1:body", b"x")
    with pytest.raises(VaultError):
        plain_vault.tenant_key(8, theirs.kek_id, theirs.wrapped_key).open("call:1:body", box)


def test_the_contact_email_index_differs_from_the_username_index(plain_vault: Vault) -> None:
    assert plain_vault.email_index(" Owner@Shop.test") == plain_vault.email_index("owner@shop.test")
    assert plain_vault.email_index("owner@shop.test") != plain_vault.blind_index("owner@shop.test")
