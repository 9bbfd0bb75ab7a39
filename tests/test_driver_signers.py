"""Blob 1.1 in the driver, end to end under emulation (docs/driver.md, "Fail open or
fail closed").

The driver cannot verify signers yet: a valid policy with a publisher rule or a
publisher exception is refused as an invalid one is (its own status,
0xE0570001, in the ``policy not loaded`` line and the ``PolicyRejected``
event), and the policy in force stays. A 1.1 policy whose exceptions test only
paths and digests loads and is enforced: the exceptions take their images out
of the rule. The blobs come from ``tests/blob11.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from blob11 import write
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
from test_driver_enforcement import _call

from exewhitelist.policy import Action, Mode, Policy
from exewhitelist.rules import (
    CertificateId,
    HashCondition,
    PathCondition,
    PathRule,
    Publisher,
    PublisherRule,
    RuleKind,
    hash_rule,
)

NEEDS_SIGNERS = 0xE0570001
ROOT_CERT = CertificateId("sha256", "11" * 32)


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


def test_signer_policies_are_refused_and_exceptions_enforced(
    sample_files: dict[str, Path], tmp_path: Path
) -> None:
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
    publisher = write(
        Policy(
            "publisher",
            7,
            Mode.ENFORCE,
            (apps, PublisherRule.of("vendor", Action.ALLOW, Publisher(ROOT_CERT))),
        )
    )
    publisher_exception = write(
        Policy(
            "publisher exception",
            7,
            Mode.ENFORCE,
            (
                PathRule(
                    action=Action.ALLOW,
                    value="C:\\Apps\\*",
                    explicit_id="apps",
                    exceptions=(Publisher(ROOT_CERT),),
                ),
            ),
        )
    )
    only_hello = write(
        Policy(
            "hello",
            7,
            Mode.ENFORCE,
            (hash_rule(RuleKind.AUTHENTICODE_SHA256, hello_auth, id="hello"),),
        )
    )
    hello_at_apps = _call("C:\\Apps\\hello64.exe", HELLO, files)
    cli_at_apps = _call("C:\\Apps\\cli-64.exe", CLI, files)
    cli_at_old = _call("C:\\Apps\\Old\\cli-64.exe", CLI, files)
    cases = [
        _spec("exceptions", exceptions_only, [hello_at_apps, cli_at_apps, cli_at_old]),
        # Refused at load: no policy (and no last known good): allow all.
        _spec("publisher", publisher, [hello_at_apps, cli_at_old]),
        _spec("publisher_exception", publisher_exception, [cli_at_old]),
        # Refused on a reload: the policy in force stays.
        _spec(
            "reload",
            only_hello,
            [cli_at_apps, _reload(publisher), cli_at_apps, _reload(exceptions_only), cli_at_apps],
        ),
    ]
    results = {r["name"]: r for r in run_emulation(cases, tmp_path)}
    for result in results.values():
        _check_clean(result)

    def statuses(name: str) -> list[int]:
        return [c["status"] for c in results[name]["calls"] if "status" in c]

    assert statuses("exceptions") == [DENIED, 0, DENIED]
    assert _events(results["exceptions"])[0][0] == "PolicyLoaded"
    for name in ("publisher", "publisher_exception"):
        result = results[name]
        assert set(statuses(name)) == {0}
        assert any("policy refused: it needs signer facts" in p for p in result["prints"])
        (line,) = [p for p in result["prints"] if "policy not loaded" in p]
        assert f"status 0x{NEEDS_SIGNERS:08x}, blob check 0;" in line
        assert _events(result)[0] == (
            "PolicyRejected",
            {"Status": NEEDS_SIGNERS, "BlobCheck": 0, "PreviousPolicyKept": False},
        )
    assert statuses("reload") == [DENIED, DENIED, 0]
    assert [name for name, _ in _events(results["reload"])] == [
        "PolicyLoaded",
        "PolicyRejected",
        "PolicyLoaded",
    ]
    assert _events(results["reload"])[1][1] == {
        "Status": NEEDS_SIGNERS,
        "BlobCheck": 0,
        "PreviousPolicyKept": True,
    }
