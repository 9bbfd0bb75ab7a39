"""CNG (cng.sys): hashes by hashlib, public-key signature checks by cryptography.

What the driver may call, as bcrypt.h documents it (MS sdk-api
``nf-bcrypt-*.md``): algorithm providers for SHA1/SHA256/SHA384/SHA512, RSA
and ECDSA_P256/P384/P521; hash objects; public keys imported from
BCRYPT_RSAPUBLIC_BLOB / BCRYPT_ECCPUBLIC_BLOB; BCryptVerifySignature with
PKCS#1 v1.5 or PSS padding (RSA) or none (ECDSA, r||s). Everything else is
refused rather than guessed: the emulator accepts only what Windows surely
accepts, so a driver that passes here passes there.

Statuses, from the functions' documented return codes:
- a handle that is not (or no longer) one of ours, or of the wrong kind:
  STATUS_INVALID_HANDLE;
- an unknown algorithm name, or implementation: STATUS_NOT_FOUND;
- a blob type the provider does not import (RSA blob on an ECDSA provider,
  any key on a hash provider): STATUS_NOT_SUPPORTED;
- a malformed blob (magic, curve, sizes that do not add up exactly, a point off
  the curve, a modulus whose length is not BitLength) and any other bad
  argument (flags, padding info, a hash length that is not the named
  algorithm's, a finish buffer that is not the digest size):
  STATUS_INVALID_PARAMETER (NTE_BAD_DATA is an HRESULT; BCrypt reports
  NTSTATUS);
- a signature that does not verify, including one of the wrong length:
  STATUS_INVALID_SIGNATURE.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from .common import (
    STATUS_INVALID_HANDLE,
    STATUS_INVALID_PARAMETER,
    STATUS_NOT_FOUND,
    STATUS_NOT_SUPPORTED,
    HarnessBase,
    read_unicode_z,
    u32,
    u64,
)

STATUS_INVALID_SIGNATURE = 0xC000A000
BCRYPT_PROV_DISPATCH = 0x1
BCRYPT_HASH_REUSABLE_FLAG = 0x20
BCRYPT_NO_KEY_VALIDATION = 0x8
BCRYPT_PAD_PKCS1 = 0x2
BCRYPT_PAD_PSS = 0x8
BCRYPT_RSAPUBLIC_MAGIC = 0x31415352  # "RSA1"
MS_PRIMITIVE_PROVIDER = "Microsoft Primitive Provider"
RSA_BLOB_HEADER = 24  # BCRYPT_RSAKEY_BLOB: six ULONGs
ECC_BLOB_HEADER = 8  # BCRYPT_ECCKEY_BLOB: dwMagic, cbKey

HASH_ALGORITHMS: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA1": hashes.SHA1,
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
}


@dataclass(frozen=True)
class Curve:
    magic: int  # BCRYPT_ECDSA_PUBLIC_P*_MAGIC
    size: int  # cbKey
    curve: ec.EllipticCurve


CURVES = {
    "ECDSA_P256": Curve(0x31534345, 32, ec.SECP256R1()),  # "ECS1"
    "ECDSA_P384": Curve(0x33534345, 48, ec.SECP384R1()),  # "ECS3"
    "ECDSA_P521": Curve(0x35534345, 66, ec.SECP521R1()),  # "ECS5"
}
ALGORITHMS = frozenset({*HASH_ALGORITHMS, "RSA", *CURVES})
# the blob types each signature provider imports (BCRYPT_PUBLIC_KEY_BLOB: by its magic)
BLOB_TYPES = {"RSA": ("RSAPUBLICBLOB", "PUBLICBLOB")} | {
    name: ("ECCPUBLICBLOB", "PUBLICBLOB") for name in CURVES
}
# ECDSA signs a digest of any length (truncated to the curve, FIPS 186-4 6.4);
# cryptography takes it with the hash algorithm of that size.
ECDSA_DIGESTS: dict[int, hashes.HashAlgorithm] = {
    20: hashes.SHA1(),  # noqa: S303  (verifying what Windows verifies)
    28: hashes.SHA224(),
    32: hashes.SHA256(),
    48: hashes.SHA384(),
    64: hashes.SHA512(),
}


class Digest(Protocol):
    """The part of a hashlib object a hash handle uses."""

    @property
    def digest_size(self) -> int: ...
    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...


@dataclass
class HashObject:
    """A BCRYPT_HASH_HANDLE: its algorithm and running state."""

    algorithm: str
    state: Digest
    reusable: bool
    finished: bool = False


@dataclass
class KeyObject:
    """A BCRYPT_KEY_HANDLE: the provider it was imported under and its key."""

    provider: int
    algorithm: str  # the provider's: "RSA" or "ECDSA_P*"
    key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey


def _digest(algorithm: str) -> Digest:
    return hashlib.new(algorithm.lower())  # "SHA256" -> "sha256"


class CngMixin(HarnessBase):
    def init_cng(self) -> None:
        self.hashes = {}
        self.providers = {}  # algorithm handle -> algorithm name
        self.keys: dict[int, KeyObject] = {}
        self.providers_opened = 0
        self.keys_imported = 0
        self.verify_calls = 0  # BCryptVerifySignature calls, whatever their outcome
        self.signatures_verified = 0  # ... that returned STATUS_SUCCESS

    # -- algorithm providers --------------------------------------------------

    def open_provider(self, emu: Any, a: list[int]) -> int:
        if not a[0] or not a[1]:
            return STATUS_INVALID_PARAMETER
        name = read_unicode_z(emu, a[1])
        if name not in ALGORITHMS:
            return STATUS_NOT_FOUND
        if a[2] and read_unicode_z(emu, a[2]) != MS_PRIMITIVE_PROVIDER:
            return STATUS_NOT_FOUND
        if (a[3] & 0xFFFFFFFF) & ~BCRYPT_PROV_DISPATCH:  # HMAC and the rest: not modelled
            return STATUS_INVALID_PARAMETER
        self.providers_opened += 1
        handle = 0x5A000 + self.providers_opened
        self.providers[handle] = name
        emu.mem_write(a[0], struct.pack("<Q", handle))
        return 0

    def close_provider(self, emu: Any, a: list[int]) -> int:
        return 0 if self.providers.pop(a[0], None) is not None else STATUS_INVALID_HANDLE

    # -- hashes ---------------------------------------------------------------

    def create_hash(self, emu: Any, a: list[int]) -> int:
        algorithm = self.providers.get(a[0])
        if algorithm is None:
            return STATUS_INVALID_HANDLE
        if algorithm not in HASH_ALGORITHMS:
            return STATUS_NOT_SUPPORTED
        flags = a[6] & 0xFFFFFFFF
        if not a[1] or flags & ~BCRYPT_HASH_REUSABLE_FLAG or a[4] or a[5] & 0xFFFFFFFF:
            return STATUS_INVALID_PARAMETER  # no secret: these are plain hashes
        handle = 0x6B0000 + len(self.hashes) + 16 * self.next_handle
        self.next_handle += 1
        self.hashes[handle] = HashObject(
            algorithm, _digest(algorithm), bool(flags & BCRYPT_HASH_REUSABLE_FLAG)
        )
        emu.mem_write(a[1], struct.pack("<Q", handle))
        return 0

    def _live_hash(self, handle: int) -> HashObject | None:
        h = self.hashes.get(handle)
        # after BCryptFinishHash only BCryptDestroyHash may take a one-shot hash
        return None if h is None or h.finished else h

    def hash_data(self, emu: Any, a: list[int]) -> int:
        h = self._live_hash(a[0])
        if h is None:
            return STATUS_INVALID_HANDLE
        size = a[2] & 0xFFFFFFFF
        if a[3] & 0xFFFFFFFF or (size and not a[1]):
            return STATUS_INVALID_PARAMETER
        if size:
            h.state.update(bytes(emu.mem_read(a[1], size)))
        return 0

    def finish_hash(self, emu: Any, a: list[int]) -> int:
        h = self._live_hash(a[0])
        if h is None:
            return STATUS_INVALID_HANDLE
        if (a[2] & 0xFFFFFFFF) != h.state.digest_size or not a[1] or a[3] & 0xFFFFFFFF:
            return STATUS_INVALID_PARAMETER
        emu.mem_write(a[1], h.state.digest())
        if h.reusable:
            h.state = _digest(h.algorithm)
        else:
            h.finished = True
        return 0

    def destroy_hash(self, emu: Any, a: list[int]) -> int:
        return 0 if self.hashes.pop(a[0], None) is not None else STATUS_INVALID_HANDLE

    # -- public keys ----------------------------------------------------------

    def import_key_pair(self, emu: Any, a: list[int]) -> int:
        """BCryptImportKeyPair(hAlgorithm, hImportKey, pszBlobType, phKey,
        pbInput, cbInput, dwFlags)."""
        algorithm = self.providers.get(a[0])
        if algorithm is None:
            return STATUS_INVALID_HANDLE
        if a[1] or not a[2] or not a[3] or not a[4]:
            return STATUS_INVALID_PARAMETER
        if (a[6] & 0xFFFFFFFF) & ~BCRYPT_NO_KEY_VALIDATION:
            return STATUS_INVALID_PARAMETER
        if read_unicode_z(emu, a[2]) not in BLOB_TYPES.get(algorithm, ()):
            return STATUS_NOT_SUPPORTED
        blob = bytes(emu.mem_read(a[4], a[5] & 0xFFFFFFFF))
        key = _rsa_public_key(blob) if algorithm == "RSA" else _ecc_public_key(blob, algorithm)
        if key is None:
            return STATUS_INVALID_PARAMETER
        self.keys_imported += 1
        handle = 0x7E000000 + 0x10 * self.keys_imported
        self.keys[handle] = KeyObject(a[0], algorithm, key)
        emu.mem_write(a[3], struct.pack("<Q", handle))
        return 0

    def destroy_key(self, emu: Any, a: list[int]) -> int:
        return 0 if self.keys.pop(a[0], None) is not None else STATUS_INVALID_HANDLE

    def verify_signature(self, emu: Any, a: list[int]) -> int:
        """BCryptVerifySignature(hKey, pPaddingInfo, pbHash, cbHash,
        pbSignature, cbSignature, dwFlags)."""
        self.verify_calls += 1
        status = self._verify(emu, a)
        if status == 0:
            self.signatures_verified += 1
        return status

    def _verify(self, emu: Any, a: list[int]) -> int:
        k = self.keys.get(a[0])
        if k is None:
            return STATUS_INVALID_HANDLE
        info, cb_hash, cb_sig, flags = a[1], a[3] & 0xFFFFFFFF, a[5] & 0xFFFFFFFF, a[6] & 0xFFFFFFFF
        if not cb_hash or not a[2] or not cb_sig or not a[4]:
            return STATUS_INVALID_PARAMETER
        digest = bytes(emu.mem_read(a[2], cb_hash))
        signature = bytes(emu.mem_read(a[4], cb_sig))
        if isinstance(k.key, rsa.RSAPublicKey):
            return _verify_rsa(emu, k.key, info, flags, digest, signature)
        if info or flags:
            return STATUS_INVALID_PARAMETER  # ECDSA takes no padding
        return _verify_ecdsa(k.key, digest, signature, CURVES[k.algorithm].size)


def _rsa_public_key(blob: bytes) -> rsa.RSAPublicKey | None:
    """A BCRYPT_RSAKEY_BLOB public key, or None if it is malformed."""
    if len(blob) < RSA_BLOB_HEADER:
        return None
    magic, bits, cb_exp, cb_mod, cb_p1, cb_p2 = struct.unpack_from("<6I", blob)
    if magic != BCRYPT_RSAPUBLIC_MAGIC or cb_p1 or cb_p2:
        return None
    if len(blob) != RSA_BLOB_HEADER + cb_exp + cb_mod or not 512 <= bits <= 16384:
        return None
    exp = blob[RSA_BLOB_HEADER : RSA_BLOB_HEADER + cb_exp]
    mod = blob[RSA_BLOB_HEADER + cb_exp :]
    e, n = int.from_bytes(exp, "big"), int.from_bytes(mod, "big")
    # big-endian without leading zero bytes, the modulus exactly BitLength long
    if not exp or exp[0] == 0 or cb_mod != (bits + 7) // 8 or n.bit_length() != bits:
        return None
    try:
        return rsa.RSAPublicNumbers(e, n).public_key()
    except ValueError:  # e even, e < 3 or e >= n
        return None


def _ecc_public_key(blob: bytes, algorithm: str) -> ec.EllipticCurvePublicKey | None:
    """A BCRYPT_ECCKEY_BLOB public key on the provider's curve, or None."""
    curve = CURVES[algorithm]
    if len(blob) < ECC_BLOB_HEADER:
        return None
    magic, cb_key = struct.unpack_from("<II", blob)
    if magic != curve.magic or cb_key != curve.size:
        return None
    if len(blob) != ECC_BLOB_HEADER + 2 * cb_key:
        return None
    try:  # coordinates below p, the point on the curve
        return ec.EllipticCurvePublicKey.from_encoded_point(
            curve.curve, b"\x04" + blob[ECC_BLOB_HEADER:]
        )
    except ValueError:
        return None


def _hash_named(emu: Any, pointer: int) -> hashes.HashAlgorithm | None:
    if not pointer:
        return None
    cls = HASH_ALGORITHMS.get(read_unicode_z(emu, pointer))
    return cls() if cls is not None else None


def _verify_rsa(
    emu: Any, key: rsa.RSAPublicKey, info: int, flags: int, digest: bytes, signature: bytes
) -> int:
    if flags not in (BCRYPT_PAD_PKCS1, BCRYPT_PAD_PSS) or not info:
        return STATUS_INVALID_PARAMETER
    name_pointer = u64(emu, info)  # pszAlgId, first in both padding infos
    algorithm = _hash_named(emu, name_pointer)
    pad: padding.AsymmetricPadding
    if flags == BCRYPT_PAD_PKCS1 and not name_pointer:
        # no algorithm: the digest is signed as is, without a DigestInfo
        return _verify_rsa_raw(key, digest, signature)
    if algorithm is None or len(digest) != algorithm.digest_size:
        return STATUS_INVALID_PARAMETER
    if flags == BCRYPT_PAD_PKCS1:
        pad = padding.PKCS1v15()
    else:
        salt = u32(emu, info + 8)  # cbSalt
        em_len = (key.key_size - 1 + 7) // 8  # RFC 8017 9.1.1: emLen
        if salt > em_len - algorithm.digest_size - 2:
            return STATUS_INVALID_PARAMETER
        pad = padding.PSS(mgf=padding.MGF1(algorithm), salt_length=salt)
    if len(signature) != (key.key_size + 7) // 8:
        return STATUS_INVALID_SIGNATURE
    try:
        key.verify(signature, digest, pad, utils.Prehashed(algorithm))
    except InvalidSignature:
        return STATUS_INVALID_SIGNATURE
    return 0


def _verify_rsa_raw(key: rsa.RSAPublicKey, digest: bytes, signature: bytes) -> int:
    if len(signature) != (key.key_size + 7) // 8:
        return STATUS_INVALID_SIGNATURE
    try:
        recovered = key.recover_data_from_signature(signature, padding.PKCS1v15(), None)
    except InvalidSignature:
        return STATUS_INVALID_SIGNATURE
    return 0 if recovered == digest else STATUS_INVALID_SIGNATURE


def _verify_ecdsa(
    key: ec.EllipticCurvePublicKey, digest: bytes, signature: bytes, size: int
) -> int:
    algorithm = ECDSA_DIGESTS.get(len(digest))
    if algorithm is None:
        return STATUS_INVALID_PARAMETER  # not a digest size this emulator models
    if len(signature) != 2 * size:
        return STATUS_INVALID_SIGNATURE
    r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
    try:
        key.verify(utils.encode_dss_signature(r, s), digest, ec.ECDSA(utils.Prehashed(algorithm)))
    except InvalidSignature:
        return STATUS_INVALID_SIGNATURE
    return 0
