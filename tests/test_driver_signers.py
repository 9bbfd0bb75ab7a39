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

import dataclasses
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
from test_driver_imageload import _load

from exewhitelist.blob import compile_policy, read_blob
from exewhitelist.imagecheck import decide_file
from exewhitelist.pe import parse_layout
from exewhitelist.policy import Action, Mode, Policy
from exewhitelist.rules import (
    CertificateId,
    FileAttribute,
    FileVersion,
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
from exewhitelist.scan import examine_file


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
    """What ``check`` knows of the file: its valid signers and version resource."""
    hashes, version = examine_file(str(path))
    return signer_facts(hashes.signatures, version)


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
    vendor_auth, _ = _digests(str(signed["vendor"]))
    by_hash = compile_policy(
        Policy("hash", 7, Mode.ENFORCE, (hash_rule(RuleKind.AUTHENTICODE_SHA256, vendor_auth),))
    )
    # The vendor's own signature goes first, so that its second launch is cached.
    order = ["vendor", "vendor", "microsoft", "vendor-sha1", "unsigned", "tampered-section",
             "tampered-signed_attributes", "no-intermediate", "other-vendor",
             "hostile"]  # fmt: skip
    calls = [_call(f"C:\\Apps\\{name}.exe", name, signed) for name in order]
    for call in calls[:2]:  # one stream: the second launch finds the verdict cached
        call["stream"] = "vendor"
    spec = _spec("publishers", blob, calls)
    spec["streams"] = {"vendor": _stream("C:\\Apps\\vendor.exe", "vendor", signed)}
    hash_spec = _spec("hash", by_hash, [_call("C:\\Apps\\vendor.exe", "vendor", signed)])
    result, hashed = run_emulation([spec, hash_spec], tmp_path, count_instructions=True)
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
    # The deny events say what the signer stage found: the other vendor's valid
    # signer (not pinned by any rule), none for the unsigned and the tampered files.
    denied = [e["fields"] for e in result["etw"]["events"] if e["name"] == "ProcessDenied"]
    assert [(e["SignerStatus"], e["Signers"], e["Signer"]) for e in denied] == [
        (0, 0, ""),  # unsigned
        (0, 0, ""),  # tampered section: digest mismatch
        (0, 0, ""),  # tampered signed attributes
        (0, 1, _facts(signed["no-intermediate"]).signers[0].common_name),
        (0, 1, "EC Leaf"),  # other vendor
        (0, 0, ""),  # hostile
    ]
    (by_digest,) = hashed["calls"]
    assert by_digest["status"] == 0
    with capsys.disabled():
        print(
            f"\npublisher-decided launch: first {first['instructions']} instructions "
            f"(crypto in the hooks), cached {second['instructions']}; the same image decided "
            f"by its digest: {by_digest['instructions']} "
            f"({first['instructions'] / by_digest['instructions']:.1f}x)"
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


def test_file_publisher_conditions_read_the_version_resource(
    sample_files: dict[str, Path], tmp_path: Path
) -> None:
    """A FilePublisher rule (publisher, original file name, minimum version) allows the
    file whose version resource matches, compared case-insensitively, and nothing else;
    a version bound above the file's keeps it out."""
    files = {
        name: sample_files[f"msvc-runtime-win_amd64/{name}.dll"]
        for name in ("vcruntime140", "vcruntime140_1", "msvcp140")
    }
    facts = _facts(files["vcruntime140"])
    original = facts.attributes[FileAttribute.ORIGINAL_FILENAME]
    assert facts.version is not None and original.lower() != original.upper()
    publisher = Publisher(
        _issuer(files["vcruntime140"]),
        common_name=facts.signers[0].common_name,
        attribute=FileAttribute.ORIGINAL_FILENAME,
        attribute_value=original.swapcase(),
        min_version=facts.version,
    )
    a, b, c, d = facts.version.parts
    newer = FileVersion((a, b, c, d + 1))
    too_new = dataclasses.replace(publisher, min_version=newer)
    cases = []
    for name, condition in (("matching", publisher), ("too_new", too_new)):
        blob = compile_policy(
            Policy(name, 7, Mode.ENFORCE, (PublisherRule.of("runtime", Action.ALLOW, condition),))
        )
        calls = [_call(f"C:\\Apps\\{f}.dll", f, files) for f in files]
        cases.append((name, blob, _spec(name, blob, calls)))
    results = {r["name"]: r for r in run_emulation([c for _, _, c in cases], tmp_path)}
    for name, blob, _ in cases:
        _check_clean(results[name])
        got = [c["status"] for c in results[name]["calls"]]
        assert got == [_expected(blob, f"C:\\Apps\\{f}.dll", p) for f, p in files.items()], name
    assert [c["status"] for c in results["matching"]["calls"]] == [0, DENIED, DENIED]
    assert {c["status"] for c in results["too_new"]["calls"]} == {DENIED}


def test_dll_loads_are_decided_by_publisher_rules(
    sample_files: dict[str, Path], signed: dict[str, Path], tmp_path: Path
) -> None:
    """Image loads (``ImageLoads=2``) go through the same signer stage: the publisher's DLL
    loads, an unsigned DLL and a tampered signed one are refused at section creation."""
    files = {
        "runtime": sample_files["msvc-runtime-win_amd64/vcruntime140_1.dll"],
        "unsigned": sample_files["mingw/hello64.dll"],
        "tampered": signed["tampered-section"],
    }
    microsoft = PublisherRule.of("microsoft", Action.ALLOW, Publisher(_issuer(files["runtime"])))
    blob = compile_policy(Policy("dlls", 7, Mode.ENFORCE, (microsoft,)))
    loads = [_load(f"C:\\Apps\\{name}.dll", name, files) for name in files]
    spec = _spec("dlls", blob, loads)
    spec["parameters"] = {"ImageLoads": 2}
    (result,) = run_emulation([spec], tmp_path)
    _check_clean(result)
    calls = [c for c in result["calls"] if c.get("image_load")]
    assert [c["refused"] for c in calls] == [False, True, True]
    assert [c["refused"] for c in calls] == [
        _expected(blob, f"C:\\Apps\\{name}.dll", path) != 0 for name, path in files.items()
    ]
