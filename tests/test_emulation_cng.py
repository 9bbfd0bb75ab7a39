"""The emulator's CNG hooks (tests/emulation/cng.py) on their own, without
Speakeasy: called as the driver calls them (bcrypt.h), with their arguments laid
out in a FakeEmu's memory. Keys and signatures come from `cryptography`, and one
case of each kind also from the openssl command line, checked both ways
(openssl signs, the hooks verify; the hooks' verdict on a tampered signature is
openssl's)."""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from emulation.cng import CngMixin
from fake_emu import FakeEmu

SUCCESS = 0
INVALID_HANDLE = 0xC0000008
INVALID_PARAMETER = 0xC000000D
NOT_SUPPORTED = 0xC00000BB
NOT_FOUND = 0xC0000225
INVALID_SIGNATURE = 0xC000A000
PAD_PKCS1, PAD_PSS = 0x2, 0x8
RSA1 = 0x31415352  # BCRYPT_RSAPUBLIC_MAGIC
RSA2 = 0x32415352  # BCRYPT_RSAPRIVATE_MAGIC
ECS = {
    "ECDSA_P256": (0x31534345, 32),
    "ECDSA_P384": (0x33534345, 48),
    "ECDSA_P521": (0x35534345, 66),
}
CURVES: dict[str, ec.EllipticCurve] = {
    "ECDSA_P256": ec.SECP256R1(),
    "ECDSA_P384": ec.SECP384R1(),
    "ECDSA_P521": ec.SECP521R1(),
}
HASHES: dict[str, hashes.HashAlgorithm] = {
    "SHA1": hashes.SHA1(),  # noqa: S303  (what old Authenticode signatures use)
    "SHA256": hashes.SHA256(),
    "SHA384": hashes.SHA384(),
    "SHA512": hashes.SHA512(),
}
MESSAGE = b"exewhitelist: the bytes that were signed"


class Cng(CngMixin):
    def __init__(self) -> None:
        self.next_handle = 0x1000  # the harness's shared handle counter
        self.init_cng()


def flip(data: bytes, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[bit // 8 % len(out)] ^= 1 << (bit % 8)
    return bytes(out)


def digest_of(name: str, data: bytes = MESSAGE) -> bytes:
    return hashlib.new(name.lower(), data).digest()


def rsa_blob(key: rsa.RSAPublicKey) -> bytes:
    """BCRYPT_RSAKEY_BLOB + exponent + modulus, big-endian, minimal."""
    numbers = key.public_numbers()
    e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
    n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
    return struct.pack("<6I", RSA1, numbers.n.bit_length(), len(e), len(n), 0, 0) + e + n


def ecc_blob(key: ec.EllipticCurvePublicKey, algorithm: str) -> bytes:
    magic, size = ECS[algorithm]
    numbers = key.public_numbers()
    return (
        struct.pack("<II", magic, size)
        + numbers.x.to_bytes(size, "big")
        + numbers.y.to_bytes(size, "big")
    )


def raw_ecdsa(der: bytes, algorithm: str) -> bytes:
    size = ECS[algorithm][1]
    r, s = utils.decode_dss_signature(der)
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


@dataclass
class Driver:
    """Calls the hooks as the driver's C would, pointers into ``emu``."""

    emu: FakeEmu
    cng: Cng

    def open(self, name: str, flags: int = 0) -> tuple[int, int]:
        out = self.emu.mem_map(8)
        status = self.cng.open_provider(self.emu, [out, self.emu.wstr(name), 0, flags])
        return status, self.emu.u64(out)

    def provider(self, name: str) -> int:
        status, handle = self.open(name)
        assert status == SUCCESS
        return handle

    def create_hash(self, provider: int, flags: int = 0) -> tuple[int, int]:
        out = self.emu.mem_map(8)
        status = self.cng.create_hash(self.emu, [provider, out, 0, 0, 0, 0, flags])
        return status, self.emu.u64(out)

    def hash_data(self, handle: int, data: bytes) -> int:
        return self.cng.hash_data(self.emu, [handle, self.emu.put(data), len(data), 0])

    def finish(self, handle: int, size: int) -> tuple[int, bytes]:
        out = self.emu.mem_map(size)
        status = self.cng.finish_hash(self.emu, [handle, out, size, 0])
        return status, bytes(self.emu.mem_read(out, size))

    def import_key(
        self, provider: int, blob: bytes, blob_type: str, import_key: int = 0, flags: int = 0
    ) -> tuple[int, int]:
        out = self.emu.mem_map(8)
        args = [provider, import_key, self.emu.wstr(blob_type), out, self.emu.put(blob)]
        status = self.cng.import_key_pair(self.emu, [*args, len(blob), flags])
        return status, self.emu.u64(out)

    def key(self, provider: int, blob: bytes, blob_type: str) -> int:
        status, handle = self.import_key(provider, blob, blob_type)
        assert status == SUCCESS
        return handle

    def pkcs1(self, alg_id: str | None) -> int:
        """A BCRYPT_PKCS1_PADDING_INFO."""
        return self.emu.put(struct.pack("<Q", self.emu.wstr(alg_id) if alg_id else 0))

    def pss(self, alg_id: str | None, salt: int) -> int:
        """A BCRYPT_PSS_PADDING_INFO."""
        name = self.emu.wstr(alg_id) if alg_id else 0
        return self.emu.put(struct.pack("<QI4x", name, salt))

    def verify(self, key: int, info: int, digest: bytes, signature: bytes, flags: int) -> int:
        pb_hash, pb_sig = self.emu.put(digest), self.emu.put(signature)
        args = [key, info, pb_hash, len(digest), pb_sig, len(signature), flags]
        return self.cng.verify_signature(self.emu, args)


@pytest.fixture
def drv() -> Driver:
    return Driver(FakeEmu(), Cng())


@pytest.fixture(scope="module")
def rsa_keys() -> dict[int, rsa.RSAPrivateKey]:
    return {bits: rsa.generate_private_key(65537, bits) for bits in (2048, 3072)}


@pytest.fixture(scope="module")
def ec_keys() -> dict[str, ec.EllipticCurvePrivateKey]:
    return {name: ec.generate_private_key(curve) for name, curve in CURVES.items()}


# -- hashes -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(HASHES))
def test_hash_in_chunks(drv: Driver, name: str) -> None:
    status, h = drv.create_hash(drv.provider(name))
    assert status == SUCCESS
    assert drv.hash_data(h, MESSAGE[:7]) == SUCCESS
    assert drv.hash_data(h, b"") == SUCCESS
    assert drv.hash_data(h, MESSAGE[7:]) == SUCCESS
    size = HASHES[name].digest_size
    assert drv.finish(h, size) == (SUCCESS, digest_of(name))
    # finished: only BCryptDestroyHash may take it now
    assert drv.hash_data(h, b"x") == INVALID_HANDLE
    assert drv.finish(h, size)[0] == INVALID_HANDLE
    assert drv.cng.destroy_hash(drv.emu, [h]) == SUCCESS
    assert drv.cng.destroy_hash(drv.emu, [h]) == INVALID_HANDLE


@pytest.mark.parametrize("name", sorted(HASHES))
def test_finish_wants_the_digest_size(drv: Driver, name: str) -> None:
    size = HASHES[name].digest_size
    _, h = drv.create_hash(drv.provider(name))
    drv.hash_data(h, MESSAGE)
    for wrong in {size - 1, size + 1, 32 if size != 32 else 20, 0}:
        assert drv.finish(h, wrong)[0] == INVALID_PARAMETER
    assert drv.finish(h, size) == (SUCCESS, digest_of(name))  # a refusal leaves it usable


def test_sha256_handles_as_before(drv: Driver) -> None:
    """The handle values the SHA-256-only hooks gave (first provider 0x5A001;
    hash handles from the shared counter, which each hash advances by one)."""
    provider = drv.provider("SHA256")
    assert provider == 0x5A001
    status, h = drv.create_hash(provider)
    assert (status, h) == (SUCCESS, 0x6B0000 + 16 * 0x1000)
    assert drv.cng.next_handle == 0x1001


def test_reusable_hash(drv: Driver) -> None:
    _, h = drv.create_hash(drv.provider("SHA384"), flags=0x20)  # BCRYPT_HASH_REUSABLE_FLAG
    drv.hash_data(h, b"one")
    assert drv.finish(h, 48) == (SUCCESS, digest_of("SHA384", b"one"))
    drv.hash_data(h, b"two")
    assert drv.finish(h, 48) == (SUCCESS, digest_of("SHA384", b"two"))


def test_providers(drv: Driver) -> None:
    handles = [drv.provider(n) for n in [*HASHES, "RSA", *CURVES]]
    assert len(set(handles)) == len(handles)
    assert drv.open("MD5")[0] == NOT_FOUND
    assert drv.open("sha256")[0] == NOT_FOUND  # exact bcrypt.h names only
    assert drv.open("SHA256", flags=0x8)[0] == INVALID_PARAMETER  # HMAC: not modelled
    assert drv.open("SHA256", flags=0x1)[0] == SUCCESS  # BCRYPT_PROV_DISPATCH
    assert drv.create_hash(handles[4])[0] == NOT_SUPPORTED  # RSA is no hash
    for h in handles:
        assert drv.cng.close_provider(drv.emu, [h, 0]) == SUCCESS
        assert drv.cng.close_provider(drv.emu, [h, 0]) == INVALID_HANDLE
    assert drv.create_hash(handles[0])[0] == INVALID_HANDLE
    assert drv.import_key(handles[4], b"", "RSAPUBLICBLOB")[0] == INVALID_HANDLE


# -- RSA ----------------------------------------------------------------------


@pytest.mark.parametrize("bits", [2048, 3072])
@pytest.mark.parametrize("name", sorted(HASHES))
def test_rsa_pkcs1(
    drv: Driver, rsa_keys: dict[int, rsa.RSAPrivateKey], bits: int, name: str
) -> None:
    private = rsa_keys[bits]
    key = drv.key(drv.provider("RSA"), rsa_blob(private.public_key()), "RSAPUBLICBLOB")
    digest = digest_of(name)
    signature = private.sign(MESSAGE, padding.PKCS1v15(), HASHES[name])
    info = drv.pkcs1(name)
    assert drv.verify(key, info, digest, signature, PAD_PKCS1) == SUCCESS
    assert drv.verify(key, info, flip(digest, 77), signature, PAD_PKCS1) == INVALID_SIGNATURE
    assert drv.verify(key, info, digest, flip(signature, 1000), PAD_PKCS1) == INVALID_SIGNATURE
    assert drv.verify(key, info, digest, signature[:-1], PAD_PKCS1) == INVALID_SIGNATURE
    # the same signature is no PSS signature
    assert drv.verify(key, drv.pss(name, 32), digest, signature, PAD_PSS) == INVALID_SIGNATURE
    assert (drv.cng.verify_calls, drv.cng.signatures_verified) == (5, 1)


@pytest.mark.parametrize(
    ("name", "salt", "checked_salt"),
    [
        ("SHA256", 32, 32),  # salt = digest length, as signtool makes them
        ("SHA384", 48, 48),
        ("SHA512", 64, 64),
        ("SHA1", 20, 20),
        ("SHA256", 0, 0),
        ("SHA384", 20, 20),
        ("SHA256", 20, 32),  # verified with another salt length: no
    ],
)
def test_rsa_pss(
    drv: Driver, rsa_keys: dict[int, rsa.RSAPrivateKey], name: str, salt: int, checked_salt: int
) -> None:
    private = rsa_keys[2048]
    key = drv.key(drv.provider("RSA"), rsa_blob(private.public_key()), "RSAPUBLICBLOB")
    algorithm = HASHES[name]
    pss = padding.PSS(mgf=padding.MGF1(algorithm), salt_length=salt)
    signature = private.sign(MESSAGE, pss, algorithm)
    digest, info = digest_of(name), drv.pss(name, checked_salt)
    expected = SUCCESS if salt == checked_salt else INVALID_SIGNATURE
    assert drv.verify(key, info, digest, signature, PAD_PSS) == expected
    assert drv.verify(key, info, flip(digest, 3), signature, PAD_PSS) == INVALID_SIGNATURE
    assert drv.verify(key, info, digest, flip(signature, 9), PAD_PSS) == INVALID_SIGNATURE
    # a PSS signature is no PKCS#1 v1.5 one
    assert drv.verify(key, drv.pkcs1(name), digest, signature, PAD_PKCS1) == INVALID_SIGNATURE


def test_rsa_bad_padding_arguments(drv: Driver, rsa_keys: dict[int, rsa.RSAPrivateKey]) -> None:
    private = rsa_keys[2048]
    key = drv.key(drv.provider("RSA"), rsa_blob(private.public_key()), "RSAPUBLICBLOB")
    digest = digest_of("SHA256")
    signature = private.sign(MESSAGE, padding.PKCS1v15(), hashes.SHA256())
    info = drv.pkcs1("SHA256")
    assert drv.verify(key, info, digest, signature, PAD_PKCS1) == SUCCESS
    for flags in (0, 0x1, 0x4, PAD_PKCS1 | PAD_PSS, 0x10):  # none, NONE, OAEP, both, PQ
        assert drv.verify(key, info, digest, signature, flags) == INVALID_PARAMETER
    assert drv.verify(key, 0, digest, signature, PAD_PKCS1) == INVALID_PARAMETER
    assert drv.verify(key, 0, digest, signature, PAD_PSS) == INVALID_PARAMETER
    # pszAlgId naming another hash (of another size), an unknown one, or a misspelt one
    for alg_id in ("SHA384", "SHA1", "MD5", "sha256", "SHA-256"):
        assert drv.verify(key, drv.pkcs1(alg_id), digest, signature, PAD_PKCS1) == (
            INVALID_PARAMETER
        ), alg_id
    assert drv.verify(key, drv.pss(None, 32), digest, signature, PAD_PSS) == INVALID_PARAMETER
    # a salt longer than the key can hold
    assert drv.verify(key, drv.pss("SHA256", 256 - 32 - 1), digest, signature, PAD_PSS) == (
        INVALID_PARAMETER
    )
    assert drv.verify(key, info, b"", signature, PAD_PKCS1) == INVALID_PARAMETER


def test_rsa_pkcs1_without_algorithm(drv: Driver, rsa_keys: dict[int, rsa.RSAPrivateKey]) -> None:
    """pszAlgId NULL: the hash buffer is what is signed, no DigestInfo added."""
    private = rsa_keys[2048]
    key = drv.key(drv.provider("RSA"), rsa_blob(private.public_key()), "RSAPUBLICBLOB")
    digest = digest_of("SHA256")
    digest_info = bytes.fromhex("3031300d060960864801650304020105000420") + digest
    signature = private.sign(MESSAGE, padding.PKCS1v15(), hashes.SHA256())
    assert drv.verify(key, drv.pkcs1(None), digest_info, signature, PAD_PKCS1) == SUCCESS
    assert drv.verify(key, drv.pkcs1(None), digest, signature, PAD_PKCS1) == INVALID_SIGNATURE


# -- ECDSA --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("curve", "name"),
    [
        ("ECDSA_P256", "SHA256"),
        ("ECDSA_P384", "SHA384"),
        ("ECDSA_P521", "SHA512"),
        ("ECDSA_P256", "SHA384"),  # a longer digest, truncated (FIPS 186-4)
        ("ECDSA_P384", "SHA256"),
        ("ECDSA_P521", "SHA1"),
    ],
)
def test_ecdsa(
    drv: Driver, ec_keys: dict[str, ec.EllipticCurvePrivateKey], curve: str, name: str
) -> None:
    private = ec_keys[curve]
    key = drv.key(drv.provider(curve), ecc_blob(private.public_key(), curve), "ECCPUBLICBLOB")
    der = private.sign(MESSAGE, ec.ECDSA(HASHES[name]))
    signature, digest = raw_ecdsa(der, curve), digest_of(name)
    assert drv.verify(key, 0, digest, signature, 0) == SUCCESS
    assert drv.verify(key, 0, flip(digest, 5), signature, 0) == INVALID_SIGNATURE
    assert drv.verify(key, 0, digest, flip(signature, 3), 0) == INVALID_SIGNATURE  # r
    assert drv.verify(key, 0, digest, flip(signature, 8 * len(signature) - 1), 0) == (
        INVALID_SIGNATURE  # s
    )
    assert drv.verify(key, 0, digest, der, 0) == INVALID_SIGNATURE  # DER, not r||s
    assert drv.verify(key, 0, digest, signature + b"\0", 0) == INVALID_SIGNATURE
    # no padding for ECDSA
    assert drv.verify(key, drv.pkcs1(name), digest, signature, PAD_PKCS1) == INVALID_PARAMETER
    assert drv.verify(key, drv.pkcs1(name), digest, signature, 0) == INVALID_PARAMETER
    assert drv.verify(key, 0, digest, signature, PAD_PSS) == INVALID_PARAMETER
    assert (drv.cng.verify_calls, drv.cng.signatures_verified) == (9, 1)


def test_ecdsa_zero_signature(drv: Driver, ec_keys: dict[str, ec.EllipticCurvePrivateKey]) -> None:
    blob = ecc_blob(ec_keys["ECDSA_P256"].public_key(), "ECDSA_P256")
    key = drv.key(drv.provider("ECDSA_P256"), blob, "ECCPUBLICBLOB")
    assert drv.verify(key, 0, digest_of("SHA256"), bytes(64), 0) == INVALID_SIGNATURE


# -- key blobs and handles ----------------------------------------------------


def _rsa_variants(blob: bytes) -> dict[str, bytes]:
    magic, bits, cb_exp, cb_mod, _, _ = struct.unpack_from("<6I", blob)
    body = blob[24:]

    def header(**changes: int) -> bytes:
        fields = {"magic": magic, "bits": bits, "exp": cb_exp, "mod": cb_mod, "p1": 0, "p2": 0}
        fields.update(changes)
        return struct.pack("<6I", *fields.values())

    return {
        "private magic": header(magic=RSA2) + body,
        "ECC magic": header(magic=0x31534345) + body,
        "one byte short": blob[:-1],
        "one byte over": blob + b"\0",
        "header only": blob[:24],
        "truncated header": blob[:23],
        "empty": b"",
        "cbPrime1": header(p1=1) + body,
        "cbPrime2": header(p2=1) + body,
        "BitLength too long": header(bits=bits + 1) + body,
        "BitLength too short": header(bits=bits - 1) + body,
        "exponent with a zero byte": header(exp=cb_exp + 1) + b"\0" + body,
        "modulus with a zero byte": header(mod=cb_mod + 1, bits=bits + 8)
        + body[:cb_exp]
        + b"\0"
        + body[cb_exp:],
        "even exponent": header() + b"\x01\x00\x00" + body[cb_exp:],
        "sizes swapped": header(exp=cb_mod, mod=cb_exp) + body,
    }


def test_rsa_blob_checks(drv: Driver, rsa_keys: dict[int, rsa.RSAPrivateKey]) -> None:
    blob = rsa_blob(rsa_keys[2048].public_key())
    provider = drv.provider("RSA")
    assert drv.import_key(provider, blob, "RSAPUBLICBLOB")[0] == SUCCESS
    assert drv.import_key(provider, blob, "PUBLICBLOB")[0] == SUCCESS  # generic: by its magic
    for what, bad in _rsa_variants(blob).items():
        assert drv.import_key(provider, bad, "RSAPUBLICBLOB")[0] == INVALID_PARAMETER, what
    # blob types this provider does not import, and arguments that must be NULL / 0
    for blob_type in ("ECCPUBLICBLOB", "RSAPRIVATEBLOB", "RSAFULLPRIVATEBLOB", "rsapublicblob"):
        assert drv.import_key(provider, blob, blob_type)[0] == NOT_SUPPORTED, blob_type
    assert drv.import_key(provider, blob, "RSAPUBLICBLOB", import_key=0x7E000010)[0] == (
        INVALID_PARAMETER
    )
    assert drv.import_key(provider, blob, "RSAPUBLICBLOB", flags=0x8)[0] == SUCCESS
    assert drv.import_key(provider, blob, "RSAPUBLICBLOB", flags=0x1)[0] == INVALID_PARAMETER
    assert drv.cng.keys_imported == 3


@pytest.mark.parametrize("curve", sorted(CURVES))
def test_ecc_blob_checks(
    drv: Driver, ec_keys: dict[str, ec.EllipticCurvePrivateKey], curve: str
) -> None:
    blob = ecc_blob(ec_keys[curve].public_key(), curve)
    provider = drv.provider(curve)
    magic, size = ECS[curve]
    assert drv.import_key(provider, blob, "ECCPUBLICBLOB")[0] == SUCCESS
    assert drv.import_key(provider, blob, "PUBLICBLOB")[0] == SUCCESS
    x, y = blob[8 : 8 + size], blob[8 + size :]
    bad = {
        "private magic": struct.pack("<II", magic + 0x01000000, size) + x + y,  # ECS2/4/6
        "ECDH magic": struct.pack("<II", magic - 0x00080000, size) + x + y,  # ECK1/3/5
        "RSA magic": struct.pack("<II", RSA1, size) + x + y,
        "cbKey one less": struct.pack("<II", magic, size - 1) + x[1:] + y[1:],
        "one byte short": blob[:-1],
        "one byte over": blob + b"\0",
        "header only": blob[:8],
        "point off the curve": blob[:-1] + bytes([blob[-1] ^ 1]),
        "x not below p": struct.pack("<II", magic, size) + b"\xff" * size + y,
    }
    for what, data in bad.items():
        assert drv.import_key(provider, data, "ECCPUBLICBLOB")[0] == INVALID_PARAMETER, what
    # another curve's key, on this curve's provider
    for other in sorted(set(CURVES) - {curve}):
        other_blob = ecc_blob(ec_keys[other].public_key(), other)
        assert drv.import_key(provider, other_blob, "ECCPUBLICBLOB")[0] == INVALID_PARAMETER
    assert drv.import_key(provider, blob, "RSAPUBLICBLOB")[0] == NOT_SUPPORTED
    assert drv.import_key(provider, blob, "ECCPRIVATEBLOB")[0] == NOT_SUPPORTED


def test_keys_only_under_their_provider(
    drv: Driver,
    rsa_keys: dict[int, rsa.RSAPrivateKey],
    ec_keys: dict[str, ec.EllipticCurvePrivateKey],
) -> None:
    rsa_pub = rsa_blob(rsa_keys[2048].public_key())
    p256 = ecc_blob(ec_keys["ECDSA_P256"].public_key(), "ECDSA_P256")
    assert drv.import_key(drv.provider("ECDSA_P256"), rsa_pub, "RSAPUBLICBLOB")[0] == (
        NOT_SUPPORTED
    )
    assert drv.import_key(drv.provider("ECDSA_P256"), rsa_pub, "PUBLICBLOB")[0] == (
        INVALID_PARAMETER
    )
    assert drv.import_key(drv.provider("RSA"), p256, "ECCPUBLICBLOB")[0] == NOT_SUPPORTED
    assert drv.import_key(drv.provider("RSA"), p256, "PUBLICBLOB")[0] == INVALID_PARAMETER
    assert drv.import_key(drv.provider("SHA256"), rsa_pub, "RSAPUBLICBLOB")[0] == NOT_SUPPORTED
    assert drv.cng.keys == {}


def test_key_handles(
    drv: Driver,
    rsa_keys: dict[int, rsa.RSAPrivateKey],
    ec_keys: dict[str, ec.EllipticCurvePrivateKey],
) -> None:
    rsa_provider, sha256 = drv.provider("RSA"), drv.provider("SHA256")
    blob = rsa_blob(rsa_keys[2048].public_key())
    first, second = (
        drv.key(rsa_provider, blob, "RSAPUBLICBLOB"),
        drv.key(rsa_provider, blob, "RSAPUBLICBLOB"),
    )
    _, h = drv.create_hash(sha256)
    assert len({first, second, rsa_provider, sha256, h}) == 5
    digest = digest_of("SHA256")
    signature = rsa_keys[2048].sign(MESSAGE, padding.PKCS1v15(), hashes.SHA256())
    info = drv.pkcs1("SHA256")
    assert drv.verify(second, info, digest, signature, PAD_PKCS1) == SUCCESS
    assert drv.cng.destroy_key(drv.emu, [first]) == SUCCESS
    assert drv.cng.destroy_key(drv.emu, [first]) == INVALID_HANDLE
    assert drv.verify(first, info, digest, signature, PAD_PKCS1) == INVALID_HANDLE
    assert drv.verify(second, info, digest, signature, PAD_PKCS1) == SUCCESS
    # handles of other kinds, and none at all, are no keys
    for not_a_key in (h, rsa_provider, sha256, 0, 0xDEADBEEF):
        assert drv.verify(not_a_key, info, digest, signature, PAD_PKCS1) == INVALID_HANDLE
        assert drv.cng.destroy_key(drv.emu, [not_a_key]) == INVALID_HANDLE
    assert drv.cng.destroy_hash(drv.emu, [second]) == INVALID_HANDLE
    assert drv.hash_data(second, b"x") == INVALID_HANDLE
    assert drv.cng.destroy_key(drv.emu, [second]) == SUCCESS
    assert drv.cng.keys == {}
    # a key from a fresh import never reuses a destroyed one's handle
    assert drv.key(rsa_provider, blob, "RSAPUBLICBLOB") not in {first, second}
    assert (drv.cng.verify_calls, drv.cng.signatures_verified) == (8, 2)


# -- openssl as the independent oracle -----------------------------------------

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="no openssl command")


def _openssl(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *args], capture_output=True, check=check)


@dataclass
class OpensslCase:
    algorithm: str  # the provider's
    genpkey: tuple[str, ...]
    options: tuple[str, ...]  # -pkeyopt values for sign and verify
    flags: int
    salt: int = 0


OPENSSL_CASES = {
    "rsa-pkcs1-sha256": OpensslCase(
        "RSA", ("-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"), (), PAD_PKCS1
    ),
    "rsa-pss-sha384": OpensslCase(
        "RSA",
        ("-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"),
        ("rsa_padding_mode:pss", "rsa_pss_saltlen:48", "rsa_mgf1_md:sha384"),
        PAD_PSS,
        48,
    ),
    "ecdsa-p256-sha256": OpensslCase(
        "ECDSA_P256", ("-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"), (), 0
    ),
    "ecdsa-p521-sha512": OpensslCase(
        "ECDSA_P521", ("-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"), (), 0
    ),
}


@needs_openssl
@pytest.mark.parametrize("case", sorted(OPENSSL_CASES))
def test_against_openssl(drv: Driver, tmp_path: Path, case: str) -> None:
    """openssl makes the key and signs; the hooks must verify it. Then a
    signature with one bit flipped: the hooks and `openssl pkeyutl -verify`
    must both refuse it, and openssl accept the original."""
    c = OPENSSL_CASES[case]
    name = case.rsplit("-", 1)[1].upper()
    digest = digest_of(name)
    key_pem, pub_pem = tmp_path / "key.pem", tmp_path / "pub.pem"
    (tmp_path / "digest").write_bytes(digest)
    _openssl("genpkey", *c.genpkey, "-out", str(key_pem))
    _openssl("pkey", "-in", str(key_pem), "-pubout", "-out", str(pub_pem))
    options = [x for o in (f"digest:{name.lower()}", *c.options) for x in ("-pkeyopt", o)]
    _openssl(
        "pkeyutl", "-sign", "-inkey", str(key_pem), "-in", str(tmp_path / "digest"),
        "-out", str(tmp_path / "sig"), *options,
    )  # fmt: skip
    public = serialization.load_pem_public_key(pub_pem.read_bytes())
    signature = (tmp_path / "sig").read_bytes()
    if isinstance(public, rsa.RSAPublicKey):
        blob, blob_type = rsa_blob(public), "RSAPUBLICBLOB"
        info = drv.pss(name, c.salt) if c.flags == PAD_PSS else drv.pkcs1(name)
        tampered = ours = flip(signature, 100)
    else:
        assert isinstance(public, ec.EllipticCurvePublicKey)
        blob, blob_type, info = ecc_blob(public, c.algorithm), "ECCPUBLICBLOB", 0
        raw = raw_ecdsa(signature, c.algorithm)
        size = ECS[c.algorithm][1]
        r, s = int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big") ^ 1
        tampered = utils.encode_dss_signature(r, s)  # for openssl, DER
        signature, ours = raw, raw[:size] + s.to_bytes(size, "big")
    key = drv.key(drv.provider(c.algorithm), blob, blob_type)
    assert drv.verify(key, info, digest, signature, c.flags) == SUCCESS

    def openssl_verifies(sig: bytes) -> bool:
        (tmp_path / "check").write_bytes(sig)
        proc = _openssl(
            "pkeyutl", "-verify", "-pubin", "-inkey", str(pub_pem),
            "-in", str(tmp_path / "digest"), "-sigfile", str(tmp_path / "check"), *options,
            check=False,
        )  # fmt: skip
        return proc.returncode == 0 and b"Signature Verified Successfully" in proc.stdout

    original = (tmp_path / "sig").read_bytes()
    assert openssl_verifies(original)
    assert not openssl_verifies(tampered)
    assert drv.verify(key, info, digest, ours, c.flags) == INVALID_SIGNATURE
