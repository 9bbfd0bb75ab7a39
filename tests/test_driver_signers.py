"""Blob 1.1 in the driver, end to end under emulation (docs/driver.md, "Signers").

Publisher rules and publisher exceptions are decided in the driver: the hashing
pass keeps the certificate table, the signer stage verifies every signature with
CNG (the emulator's CNG is ``cryptography``: tests/emulation/cng.py), and the
verdict is cached like any other. Every decision is compared with exewhitelist's
own (:func:`exewhitelist.imagecheck.decide_file` with the file's signer facts):
allowed by a publisher rule (a Microsoft-signed DLL from PyPI, a binary signed
by a test chain), denied when a section byte or the signed attributes change,
when the chain lacks the pinned certificate, for an unsigned file, and for a
hostile certificate table. A 1.1 policy whose exceptions test only paths and
digests is enforced too. The blobs come from ``exewhitelist.blob.compile_policy``
and ``tests/blob11.py`` (the second writer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from blob11 import write
from signing import Chains
from test_core_signature import _tamper
from test_driver_emulation import (
    CLI,
    DENIED,
    HELLO,
    PARAMETERS_KEY,
    VOLUMES,
    _check_clean,
    _digests,
    run_emulation,
)
from test_driver_enforcement import _call, _stream

from exewhitelist.blob import compile_policy, read_blob
from exewhitelist.hashing import hash_file
from exewhitelist.imagecheck import decide_file
from exewhitelist.pe import parse_layout
from exewhitelist.policy import Action, Mode, Policy
from exewhitelist.rules import (
    CertificateId,
    HashCondition,
    PathCondition,
    PathRule,
    Publisher,
    PublisherRule,
    RuleKind,
    SignerFacts,
    hash_rule,
    signer_facts,
)


def _spec(name: str, blob: bytes, calls: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "policy": {"type": 3, "hex": blob.hex()},
        "dos_devices": {device: dos for dos, device in VOLUMES.items()},
        "calls": calls,
    }


def _reload(blob: bytes) -> dict[str, Any]:
    return {
        "reload": {
            "policy": {"type": 3, "hex": blob.hex()},
            "key": PARAMETERS_KEY,
            "value_name": "Policy",
            "operation": "set",
            "status": 0,
        }
    }


def _events(result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (e["name"], e["fields"])
        for e in result["etw"]["events"]
        if e["name"] in ("PolicyLoaded", "PolicyRejected")
    ]


VARIABLES = {
    "WINDIR": ("C:\\Windows",),
    "SYSTEM32": ("C:\\Windows\\System32",),
    "PROGRAMFILES": ("C:\\Program Files", "C:\\Program Files (x86)"),
    "OSDRIVE": ("C:",),
}
MICROSOFT_DLL = "msvc-runtime-win_amd64/vcruntime140.dll"


def _facts(path: Path) -> SignerFacts:
    return signer_facts(hash_file(path).signatures, None)


def _expected(blob: bytes, windows_path: str, path: Path) -> int:
    """The driver's CreationStatus per exewhitelist's decision on the same facts."""
    auth, flat = _digests(str(path))
    decision, _, _ = decide_file(
        read_blob(blob), VARIABLES, windows_path, auth, flat, signer=_facts(path)
    )
    return 0 if decision.action is Action.ALLOW or not decision.enforced else DENIED


@pytest.fixture(scope="module")
def signed(
    sample_files: dict[str, Path], chains: Chains, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """The images of the cases, by name."""
    tmp = tmp_path_factory.mktemp("signed")
    exe = sample_files[HELLO]
    files = {
        "microsoft": sample_files[MICROSOFT_DLL],
        "unsigned": exe,
        "vendor": chains.rsa3.sign(exe, tmp / "vendor.exe", "-h", "sha256"),
        "vendor-sha1": chains.rsa3.sign(exe, tmp / "vendor1.exe", "-h", "sha1"),
        "no-intermediate": chains.missing_intermediate.sign(exe, tmp / "missing.exe"),
        "other-vendor": chains.ecdsa.sign(exe, tmp / "ecdsa.exe", "-h", "sha256"),
    }
    for where in ("section", "signed_attributes"):
        out = tmp / f"tampered-{where}.exe"
        out.write_bytes(_tamper(where, files["vendor"], chains, tmp))
        files[f"tampered-{where}"] = out
    # A hostile table: the vendor's, with every byte of its certificates' bag
    # scrambled and the entry's length kept.
    data = bytearray(files["vendor"].read_bytes())
    layout = parse_layout(lambda offset, size: bytes(data[offset : offset + size]), len(data))
    assert layout is not None and layout.certificate_table is not None
    (start, size), *_ = layout.certificate_table.spans
    for i in range(start + 40, start + size, 7):
        data[i] ^= 0x5A
    files["hostile"] = tmp / "hostile.exe"
    files["hostile"].write_bytes(bytes(data))
    return files


def _issuer(path: Path) -> CertificateId:
    (signer, *_) = _facts(path).signers
    return signer.chain[1]


def test_publisher_rules_decided_in_the_driver(
    signed: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    microsoft = _facts(signed["microsoft"]).signers[0]
    vendor = _facts(signed["vendor"]).signers[0]
    assert microsoft.common_name and vendor.common_name
    rules = (
        PublisherRule.of(
            "microsoft",
            Action.ALLOW,
            Publisher(_issuer(signed["microsoft"]), common_name=microsoft.common_name),
        ),
        PublisherRule.of("vendor", Action.ALLOW, Publisher(_issuer(signed["vendor"]))),
    )
    blob = compile_policy(Policy("publishers", 7, Mode.ENFORCE, rules))
    # The vendor's own signature goes first, so that its second launch is cached.
    order = ["vendor", "vendor", "microsoft", "vendor-sha1", "unsigned", "tampered-section",
             "tampered-signed_attributes", "no-intermediate", "other-vendor",
             "hostile"]  # fmt: skip
    calls = [_call(f"C:\\Apps\\{name}.exe", name, signed) for name in order]
    for call in calls[:2]:  # one stream: the second launch finds the verdict cached
        call["stream"] = "vendor"
    spec = _spec("publishers", blob, calls)
    spec["streams"] = {"vendor": _stream("C:\\Apps\\vendor.exe", "vendor", signed)}
    (result,) = run_emulation([spec], tmp_path, count_instructions=True)
    _check_clean(result)
    got = {name: c["status"] for name, c in zip(order, result["calls"], strict=True)}
    expected = {name: _expected(blob, f"C:\\Apps\\{name}.exe", signed[name]) for name in order}
    assert got == expected
    assert [name for name in order if got[name] == 0] == [
        "vendor", "vendor", "microsoft", "vendor-sha1"
    ]  # fmt: skip
    assert result["signatures_verified"] >= 4  # vendor, microsoft (two signatures), vendor-sha1
    first, second = result["calls"][:2]
    assert first["reads"] > 0 and second["reads"] == 0
    unsigned = result["calls"][order.index("unsigned")]["instructions"]
    with capsys.disabled():
        print(
            f"\npublisher-decided launch: first {first['instructions']} instructions "
            f"(crypto in the hooks), cached {second['instructions']}; "
            f"unsigned file denied: {unsigned}"
        )
    assert second["instructions"] < first["instructions"] / 3


def test_publisher_exceptions_and_path_exceptions(
    sample_files: dict[str, Path], signed: dict[str, Path], tmp_path: Path
) -> None:
    """A publisher exception takes the publisher's images out of a path rule; path and
    hash exceptions are enforced as before."""
    files = sample_files
    hello_auth, _ = _digests(str(files[HELLO]))
    apps = PathRule(
        action=Action.ALLOW,
        value="C:\\Apps\\*",
        explicit_id="apps",
        exceptions=(
            HashCondition(RuleKind.AUTHENTICODE_SHA256, hello_auth),
            PathCondition("C:\\Apps\\Old\\*"),
        ),
    )
    exceptions_only = write(Policy("exceptions", 7, Mode.ENFORCE, (apps,)))
    except_vendor = PathRule(
        action=Action.ALLOW,
        value="C:\\Apps\\*",
        explicit_id="apps",
        exceptions=(Publisher(_issuer(signed["vendor"])),),
    )
    publisher_exception = write(Policy("publisher exception", 7, Mode.ENFORCE, (except_vendor,)))
    assert publisher_exception == compile_policy(
        Policy("publisher exception", 7, Mode.ENFORCE, (except_vendor,))
    )
    both = {**files, **signed}
    exception_calls = [("C:\\Apps\\hello64.exe", HELLO), ("C:\\Apps\\cli-64.exe", CLI),
                       ("C:\\Apps\\Old\\cli-64.exe", CLI)]  # fmt: skip
    publisher_calls = [("C:\\Apps\\vendor.exe", "vendor"), ("C:\\Apps\\ms.dll", "microsoft"),
                       ("C:\\Apps\\tampered.exe", "tampered-section")]  # fmt: skip
    cases = [
        _spec("exceptions", exceptions_only, [_call(p, s, both) for p, s in exception_calls]),
        _spec(
            "publisher_exception",
            publisher_exception,
            [_call(p, s, both) for p, s in publisher_calls],
        ),
    ]
    results = {r["name"]: r for r in run_emulation(cases, tmp_path)}
    for result in results.values():
        _check_clean(result)
        assert _events(result)[0][0] == "PolicyLoaded"

    def statuses(name: str) -> list[int]:
        return [c["status"] for c in results[name]["calls"] if "status" in c]

    assert statuses("exceptions") == [DENIED, 0, DENIED]
    assert statuses("publisher_exception") == [DENIED, 0, 0]
    assert statuses("publisher_exception") == [
        _expected(publisher_exception, p, both[s]) for p, s in publisher_calls
    ]
    assert statuses("exceptions") == [
        _expected(exceptions_only, p, both[s]) for p, s in exception_calls
    ]


def test_a_reload_to_a_publisher_policy_takes_effect(
    signed: dict[str, Path], tmp_path: Path
) -> None:
    vendor = PublisherRule.of("vendor", Action.ALLOW, Publisher(_issuer(signed["vendor"])))
    publisher = compile_policy(Policy("publisher", 7, Mode.ENFORCE, (vendor,)))
    only_unsigned = compile_policy(
        Policy(
            "unsigned",
            7,
            Mode.ENFORCE,
            (hash_rule(RuleKind.AUTHENTICODE_SHA256, _digests(str(signed["unsigned"]))[0]),),
        )
    )
    call = _call("C:\\Apps\\vendor.exe", "vendor", signed)
    (result,) = run_emulation(
        [_spec("reload", only_unsigned, [call, _reload(publisher), call])], tmp_path
    )
    _check_clean(result)
    assert [c["status"] for c in result["calls"] if "status" in c] == [0, 0]
    assert [name for name, _ in _events(result)] == ["PolicyLoaded", "PolicyLoaded"]
