"""Decoding a diverging key: the real fixture's mutated slot, account field diffs, keys that are not x/evm."""

from __future__ import annotations

from evmdigest.localize.keys import MARKER_KEYS, account_diff, decode_account, divergent_key
from evmdigest.localize.model import Change

# the real fixture's mutated slot (seidb-reports/real-73f917b/README.md)
MUTATED = (
    "65766D2F033AE81C80DED9604A32933F97762799AF1F42A2748D78BAB205C3D394735BF016C5DEED38A389CF4587BB7078C153B8C370222982"
)


def _account(balance: int, nonce: int, code_hash: bytes = b"") -> str:
    return (balance.to_bytes(32, "big") + nonce.to_bytes(8, "big") + code_hash).hex().upper()


def test_the_real_mutated_storage_key_decodes_to_its_address_and_slot() -> None:
    key = divergent_key("storage", MUTATED, "01" * 32, "02" * 32)
    assert (key.kind, key.kind_name, key.change) == ("03", "storage", Change.CHANGED)
    assert key.address == "0x3ae81c80ded9604a32933f97762799af1f42a274"
    assert key.slot == "0x8d78bab205c3d394735bf016c5deed38a389cf4587bb7078c153b8c370222982"
    assert key.account_diff is None


def test_account_fields_that_differ_are_named_with_both_sides() -> None:
    code = bytes(range(32))
    diff = account_diff(_account(10**30, 7, code), _account(10**30 + 1, 7, bytes(32)))
    assert diff is not None and sorted(diff) == ["balance", "code_hash"]
    assert (diff["balance"].flatkv, diff["balance"].memiavl) == (str(10**30), str(10**30 + 1))
    # FlatKV's compact form (no code hash) reads as a zero code hash
    assert decode_account(_account(0, 3)) == decode_account(_account(0, 3, bytes(32)))
    assert account_diff("AB", _account(0, 1)) is None  # not an account value: only the hex is shown


def test_a_missing_account_has_no_field_diff_and_says_which_side_lacks_it() -> None:
    key = "65766D2F0A" + "11" * 20
    missing = divergent_key("account", key, None, _account(0, 1))
    assert (missing.change, missing.account_diff, missing.address) == (Change.MISSING_IN_FLATKV, None, "0x" + "11" * 20)
    nonce = divergent_key("account", key, _account(0, 2), _account(0, 1))
    assert nonce.account_diff is not None and nonce.account_diff["nonce"].model_dump() == {"flatkv": 2, "memiavl": 1}


def test_keys_outside_the_evm_layout_keep_only_their_hex() -> None:
    marker = divergent_key("misc", next(iter(MARKER_KEYS)), "00", None)
    assert (marker.kind, marker.address, marker.slot) == (None, None, None)
    odd = divergent_key("misc", "65766D2F1B" + "00", "01", "02")  # base fee: no address in the key
    assert (odd.kind, odd.kind_name, odd.address) == ("1b", None, None)
