"""Publisher rules and exceptions on the authoring side: policy files (TOML and JSON), their
errors, ``policy from-scan --level``, and ``check`` deciding from a file's own signatures.

Semantics are the WDAC and AppLocker documentation's (``../shared/reference/signers.md``
§4-§5); real files are the Microsoft-signed DLLs of the msvc-runtime wheel (tests/samples.py)
and files signed here by test chains (tests/signing.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pe_edit import offsets
from signing import Chains
from strategies import policies

from exewhitelist.errors import PolicyError
from exewhitelist.policy import Action, Policy, Query, decide
from exewhitelist.policycheck import check_policy
from exewhitelist.policyfile import (
    canonical,
    dumps_json,
    dumps_toml,
    loads_json,
    loads_toml,
    validate_policy_text,
)
from exewhitelist.policylint import patterns_may_overlap
from exewhitelist.policyops import Level, policy_from_hashes, policy_from_scan
from exewhitelist.rules import (
    CertificateId,
    FileAttribute,
    FileVersion,
    PathPattern,
    PathRule,
    Pin,
    Publisher,
    PublisherRule,
    Signer,
    SignerFacts,
    signer_facts,
)
from exewhitelist.scan import ScanOptions, examine_file, scan

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

PCA = "sha256:" + "22" * 32
LEAF = "sha256:" + "33" * 32
HEADER = '[policy]\nname = "t"\nversion = 1\nmode = "enforce"\n'


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exewhitelist", *args], capture_output=True, text=True, check=False
    )


# --- file forms: exact round trips ---------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(policies(signers=True))
def test_toml_round_trip_with_publishers_and_exceptions(policy: Policy) -> None:
    text = dumps_toml(policy)
    assert loads_toml(text) == canonical(policy)
    assert dumps_toml(loads_toml(text)) == text


@settings(max_examples=200, deadline=None)
@given(policies(signers=True))
def test_json_round_trip_with_publishers_and_exceptions(policy: Policy) -> None:
    text = dumps_json(policy)
    assert loads_json(text) == canonical(policy)
    assert loads_toml(dumps_toml(loads_json(text))) == loads_json(text)


WINDOWS = (
    HEADER
    + r"""
[[rule]]
id = "windows"
action = "allow"
path = '%WINDIR%\*'
exceptions = [
    { path = '%WINDIR%\Temp\*' },
    { publisher = { certificate = "SHA256:"""
    + "AB" * 32
    + r"""" } },
]

[[rule]]
id = "contoso"
action = "allow"
publisher = { certificate = """
    + f'"{PCA}"'
    + r""", common_name = "Contoso Tools", original_filename = "TOOL.EXE", min_version = "2.0.0.0" }
exceptions = [ { file_sha256 = """
    + '"'
    + "CC" * 32
    + '"'
    + r""" } ]
"""
)


def test_the_written_form_of_publishers_and_exceptions() -> None:
    policy = loads_toml(WINDOWS)
    windows, contoso = sorted(policy.rules, key=lambda r: r.id)[::-1]
    assert isinstance(windows, PathRule) and len(windows.exceptions) == 2
    assert isinstance(contoso, PublisherRule)
    assert contoso.condition == Publisher(
        CertificateId("sha256", "22" * 32),
        Pin.ISSUER,
        "Contoso Tools",
        FileAttribute.ORIGINAL_FILENAME,
        "TOOL.EXE",
        FileVersion.parse("2.0.0.0"),
    )
    text = dumps_toml(policy)
    # One block per rule: the condition and the exceptions are inline, the pin always written,
    # hex lowercase.
    assert 'publisher = { certificate = "sha256:' + "22" * 32 + '", pin = "issuer", ' in text
    assert "exceptions = [\n    { path = '%WINDIR%\\Temp\\*' }," not in text  # tomli_w quotes
    assert '    { path = "%WINDIR%\\\\Temp\\\\*" },\n' in text
    assert '{ file_sha256 = "' + "cc" * 32 + '" }' in text
    assert text.count("[[rule]]") == 2 and "[rule." not in text
    assert loads_toml(text) == policy
    document = json.loads(dumps_json(policy))
    assert document["rule"][0]["exceptions"][0] == {"path": "%WINDIR%\\Temp\\*"}
    assert document["rule"][1]["publisher"]["pin"] == "issuer"


# --- file forms: every problem positioned ----------------------------------------------------


def _problems(text: str, fmt: str = "toml") -> list[tuple[int | None, str | None, int | None, str]]:
    policy, problems = validate_policy_text(text, fmt)  # type: ignore[arg-type]
    assert policy is None
    return [(p.rule_index, p.rule_id, p.line, p.message) for p in problems]


BAD_RULES: list[tuple[str, str]] = [
    ('publisher = "sha256:00"', "publisher: a publisher condition is a table"),
    ('publisher = { pin = "leaf" }', "publisher: needs a certificate"),
    ('publisher = { certificate = "sha256:' + "ab" * 20 + '" }', "is 64 hex digits, not 40"),
    ('publisher = { certificate = "md5:' + "ab" * 16 + '" }', "unknown TBS hash algorithm 'md5'"),
    ('publisher = { certificate = "' + "ab" * 32 + '" }', "a certificate is written ALGORITHM:"),
    (
        f'publisher = {{ certificate = "{PCA}", pin = "root" }}',
        "pin must be 'issuer', 'leaf' or 'any'",
    ),
    (f'publisher = {{ certificate = "{PCA}", issuer = "x" }}', "unknown key 'issuer'"),
    (
        f'publisher = {{ certificate = "{PCA}", original_filename = "a", product_name = "b" }}',
        "compares one file attribute, not original_filename and product_name",
    ),
    (f'publisher = {{ certificate = "{PCA}", min_version = "1.2.3" }}', "min_version: a file"),
    (f'publisher = {{ certificate = "{PCA}", max_version = "1.2.3.70000" }}', "max_version:"),
    (
        f'publisher = {{ certificate = "{PCA}", min_version = "2.0.0.0", '
        'max_version = "1.0.0.0" }',
        "inverted version range: min_version 2.0.0.0 is above max_version 1.0.0.0",
    ),
    (f'publisher = {{ certificate = "{PCA}", common_name = "" }}', "common_name must not be"),
    (f'publisher = {{ certificate = "{PCA}", common_name = 3 }}', "common_name must be a string"),
    ("path = 'C:\\x\\*'\nexceptions = { path = 'C:\\x\\y' }", "exceptions must be an array"),
    ("path = 'C:\\x\\*'\nexceptions = [ 'C:\\x\\y' ]", "exception 1 must be a table of exactly"),
    (
        "path = 'C:\\x\\*'\nexceptions = [ { path = 'C:\\x\\y', file_sha256 = 'aa' } ]",
        "exception 1 must be a table of exactly one key",
    ),
    ("path = 'C:\\x\\*'\nexceptions = [ { paths = 'C:\\x\\y' } ]", "did you mean 'path'?"),
    ("path = 'C:\\x\\*'\nexceptions = [ { path = 'relative' } ]", "exception 1: path:"),
    ("path = 'C:\\x\\*'\nexceptions = [ { file_sha256 = 'abc' } ]", "exception 1: file_sha256:"),
    (
        "path = 'C:\\x\\*'\nexceptions = [ { path = 'C:\\x\\y' }, { path = 'c:\\X\\Y' } ]",
        "exception 2 is exception 1 again",
    ),
    (
        "path = 'C:\\x\\*'\nexceptions = [ { publisher = { certificate = 'sha1:00' } } ]",
        "exception 1: publisher: certificate: a sha1 TBS hash is 40 hex digits, not 2",
    ),
    (
        "authenticode_sha256 = '" + "ab" * 32 + "'\nexceptions = [ { path = 'C:\\x\\y' } ]",
        "a hash rule has no exceptions",
    ),
    (f'publisher = {{ certificate = "{PCA}" }}\nid = ""', "id must be 1 to"),
]


def _toml_to_json(text: str) -> str:
    return json.dumps(tomllib.loads(text))


@pytest.mark.parametrize(("body", "message"), BAD_RULES)
@pytest.mark.parametrize("fmt", ["toml", "json"])
def test_malformed_publishers_and_exceptions_are_positioned_errors(
    body: str, message: str, fmt: str
) -> None:
    good = '\n[[rule]]\nid = "fine"\naction = "allow"\npath = "C:\\\\ok\\\\*"\n'
    rule = '\n[[rule]]\naction = "allow"\n' + body + "\n"
    if "\nid = " not in body:
        rule = rule.replace('action = "allow"', 'id = "bad"\naction = "allow"')
    text = HEADER + good + rule
    if fmt == "json":
        text = _toml_to_json(text)
    found = _problems(text, fmt)
    matching = [p for p in found if message in p[3]]
    assert matching, found
    index, _, line, _ = matching[0]
    assert index == 2
    assert line == (11 if fmt == "toml" else None)
    assert all(p[0] == 2 for p in found)  # the good rule has none


def test_validate_lists_every_problem_of_every_rule(tmp_path: Path) -> None:
    text = (
        HEADER + '\n[[rule]]\nid = "a"\naction = "allow"\npublisher = { certificate = "sha256:00", '
        'pin = "root", min_version = "2.0.0.0", max_version = "1.0.0.0" }\n'
        + '\n[[rule]]\nid = "b"\naction = "deny"\npath = \'C:\\x\\*\'\n'
        "exceptions = [ { path = 3 }, { publisher = { certificate = 'sha384:00' } } ]\n"
    )
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    proc = run("policy", "validate", "--json", str(path))
    assert proc.returncode == 1, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(r["rule_index"], r["rule_id"], r["line"]) for r in records] == [
        (1, "a", 6),
        (1, "a", 6),
        (1, "a", 6),
        (2, "b", 11),
        (2, "b", 11),
    ]
    assert all(r["severity"] == "error" for r in records)
    messages = " | ".join(r["message"] for r in records)
    assert "sha256 TBS hash is 64 hex digits" in messages
    assert "inverted version range" in messages
    assert "exception 1: path: path must be a string" in messages
    assert "exception 2: publisher: certificate: a sha384 TBS hash is 96" in messages


# --- version semantics, as the WDAC documentation states them, through a policy file -------

# (min, max, action, file version, matches): itpro "select types of rules", note under Table 2.
VERSION_CASES = [
    ("1.0.0.0", "2.0.0.0", "allow", "1.5.0.0", True),
    ("1.0.0.0", "2.0.0.0", "allow", "2.0.0.1", False),
    ("1.0.0.0", "2.0.0.0", "deny", "1.0.0.0", True),
    ("1.0.0.0", "2.0.0.0", "deny", "0.9.0.0", False),
    ("2.0.0.0", None, "allow", "2.0.0.0", True),
    ("2.0.0.0", None, "allow", "10.0.0.0", True),  # numbers, not text
    ("2.0.0.0", None, "allow", "1.9.9.9", False),
    ("2.0.0.0", None, "deny", "1.0.0.0", True),  # a lone minimum denies old versions
    ("2.0.0.0", None, "deny", "2.0.0.0", True),
    ("2.0.0.0", None, "deny", "2.0.0.1", False),
    (None, "3.0.0.0", "allow", "2.0.0.0", True),
    (None, "3.0.0.0", "allow", "3.0.0.1", False),
    (None, "3.0.0.0", "deny", "4.0.0.0", True),  # a lone maximum denies new versions
    (None, "3.0.0.0", "deny", "2.9.0.0", False),
]


def _signer(version: str | None, cn: str = "Contoso Tools") -> SignerFacts:
    return SignerFacts(
        (Signer((CertificateId.parse(LEAF), CertificateId.parse(PCA)), cn),),
        {FileAttribute.ORIGINAL_FILENAME: "tool.exe"},
        FileVersion.parse(version) if version is not None else None,
    )


@pytest.mark.parametrize(("low", "high", "action", "version", "matches"), VERSION_CASES)
def test_version_bounds_from_a_policy_file(
    low: str | None, high: str | None, action: str, version: str, matches: bool
) -> None:
    bounds = "".join(
        f', {key} = "{value}"' for key, value in (("min_version", low), ("max_version", high))
        if value is not None
    )  # fmt: skip
    text = (
        HEADER + f'\n[[rule]]\nid = "v"\naction = "{action}"\n'
        f'publisher = {{ certificate = "{PCA}", original_filename = "TOOL.EXE"{bounds} }}\n'
    )
    policy = loads_toml(text)
    decision = decide(policy, Query(signer_facts=_signer(version)))
    assert (decision.rule is not None) is matches
    # A file without a version never satisfies a bound, in either direction.
    assert decide(policy, Query(signer_facts=_signer(None))).rule is None


def test_an_exception_uses_the_allow_direction_of_a_lone_bound() -> None:
    text = (
        HEADER + '\n[[rule]]\nid = "all"\naction = "allow"\npath = "C:\\\\App\\\\*"\n'
        f'exceptions = [ {{ publisher = {{ certificate = "{PCA}", min_version = "2.0.0.0" }} }} ]\n'
    )
    policy = loads_toml(text)
    path = "C:\\App\\tool.exe"
    # v >= 2.0 matches the exception (allow direction): the path rule does not apply.
    assert decide(policy, Query(path, signer_facts=_signer("3.0.0.0"))).rule is None
    assert decide(policy, Query(path, signer_facts=_signer("1.0.0.0"))).action is Action.ALLOW


def test_common_name_is_exact_and_attributes_ignore_case() -> None:
    text = (
        HEADER + '\n[[rule]]\nid = "cn"\naction = "allow"\n'
        f'publisher = {{ certificate = "{PCA}", common_name = "Contoso Tools", '
        'original_filename = "TOOL.EXE" }\n'
    )
    policy = loads_toml(text)
    assert decide(policy, Query(signer_facts=_signer("1.0.0.0"))).action is Action.ALLOW
    lower = _signer("1.0.0.0", cn="contoso tools")
    assert decide(policy, Query(signer_facts=lower)).rule is None


# --- from-scan levels on synthetic records -----------------------------------------------------


def _certificate(subject: str, tbs: str, key: str = "rsa-2048") -> dict[str, Any]:
    return {
        "subject": subject, "issuer": "", "publisher": "", "serial": "01",
        "not_before": "", "not_after": "", "sha256": "00" * 32,
        "tbs_hash": tbs, "tbs_algorithm": "sha256", "key": key,
    }  # fmt: skip


def _signature(status: str = "valid", key: str = "rsa-2048", pca: str = "22") -> dict[str, Any]:
    return {
        "status": status, "reason": "", "entry": 0, "nesting": 0,
        "digest_algorithm": "sha256", "digest": "00", "digest_matches": status == "valid",
        "signing_time": None, "chain_complete": False,
        "chain": [
            _certificate("CN=Contoso Tools,O=Contoso", "33" * 32, key),
            _certificate("CN=Contoso PCA,O=Contoso", pca * 32),
        ],
    }  # fmt: skip


def _record(
    name: str,
    digest: str,
    *,
    signatures: list[dict[str, Any]] | None = None,
    original: str | None = "tool.exe",
    version: str | None = "1.2.0.0",
    catalog: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "path": f"/img/App/{name}",
        "windows_path": f"C:\\App\\{name}",
        "sha256": digest * 32,
        "authenticode_sha256": digest[::-1] * 32,
        "signatures": [_signature()] if signatures is None else signatures,
        "version_strings": {"OriginalFilename": original} if original else {},
        "fixed_file_version": version,
        "catalog": catalog,
        "error": None,
    }


def _publishers(policy: Policy) -> dict[str, Publisher]:
    return {r.id: r.condition for r in policy.rules if isinstance(r, PublisherRule)}


def test_filepublisher_folds_files_and_takes_the_lowest_version() -> None:
    records = [
        _record("tool.exe", "a1", version="1.5.0.0"),
        _record("copy.exe", "a2", version="1.2.0.0"),  # renamed: same OriginalFilename
        _record("other.exe", "a3", original="OTHER.EXE"),
    ]
    policy, skipped, notes = policy_from_scan(records, name="t", level=Level.FILEPUBLISHER)
    assert not skipped and not notes
    found = _publishers(policy)
    assert sorted(found) == [
        "filepublisher:Contoso Tools:OTHER.EXE",
        "filepublisher:Contoso Tools:tool.exe",
    ]
    tool = found["filepublisher:Contoso Tools:tool.exe"]
    assert tool == Publisher(
        CertificateId.parse(PCA), Pin.ISSUER, "Contoso Tools",
        FileAttribute.ORIGINAL_FILENAME, "tool.exe", FileVersion.parse("1.2.0.0"),
    )  # fmt: skip
    assert loads_toml(dumps_toml(policy)) == policy


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (Level.PUBLISHER, Publisher(CertificateId.parse(PCA), Pin.ISSUER, "Contoso Tools")),
        (
            Level.SIGNEDVERSION,
            Publisher(
                CertificateId.parse(PCA),
                Pin.ISSUER,
                "Contoso Tools",
                min_version=FileVersion.parse("1.2.0.0"),
            ),
        ),
        (Level.PCACERTIFICATE, Publisher(CertificateId.parse(PCA), Pin.ISSUER)),
        (Level.LEAFCERTIFICATE, Publisher(CertificateId.parse(LEAF), Pin.LEAF)),
    ],
)
def test_each_publisher_level_writes_one_folded_rule(level: Level, expected: Publisher) -> None:
    records = [_record("a.exe", "a1", version="1.3.0.0"), _record("b.exe", "a2")]
    policy, skipped, _ = policy_from_scan(records, name="t", level=level)
    assert not skipped
    (rule,) = policy.rules
    assert isinstance(rule, PublisherRule) and rule.condition == expected
    assert rule.action is Action.ALLOW and rule.id.startswith(level.value + ":")


def test_fallback_order_and_files_no_level_applies_to() -> None:
    catalog = {
        "path": "C:\\Windows\\System32\\CatRoot\\{F750E6C3}\\nt5.cat",
        "digest": "00",
        "other_catalogs": [],
        "signature": _signature(),
    }
    records = [
        _record("signed.exe", "a1"),
        _record("noversion.exe", "a2", version=None),
        _record("unsigned.exe", "a3", signatures=[]),
        _record("broken.exe", "a4", signatures=[_signature("digest_mismatch")]),
        _record("catalogued.exe", "a5", signatures=[], catalog=catalog),
    ]
    policy, skipped, _ = policy_from_scan(records, name="t", level=Level.FILEPUBLISHER)
    assert sorted(_publishers(policy)) == ["filepublisher:Contoso Tools:tool.exe"]
    assert sorted(str(s["path"]).rsplit("/", 1)[1] for s in skipped) == [
        "broken.exe",
        "noversion.exe",
        "unsigned.exe",
    ]
    assert all("no level applies: filepublisher: " in s["error"] for s in skipped)
    # The catalog-signed file: a hash rule whose comment names the catalog and its signer.
    (hashed,) = [r for r in policy.rules if r.kind.value == "authenticode_sha256"]
    assert hashed.value == "5a" * 32
    assert hashed.comment == "catalog-signed: nt5.cat by Contoso Tools"

    policy, skipped, _ = policy_from_scan(
        records,
        name="t",
        level=Level.FILEPUBLISHER,
        fallback=[Level.SIGNEDVERSION, Level.PUBLISHER, Level.PATH],
    )
    assert not skipped
    # noversion.exe: no version for filepublisher or signedversion, publisher applies; its
    # rule covers signed.exe's filepublisher rule, which is not written (no redundant rule).
    assert sorted(_publishers(policy)) == ["publisher:Contoso Tools"]
    (broad,) = [r for r in policy.rules if isinstance(r, PublisherRule)]
    assert broad.name == "C:\\App\\noversion.exe" and broad.comment == "also: C:\\App\\signed.exe"
    assert not [p for p in check_policy(policy) if p.severity == "warning"]
    paths = sorted(r.value for r in policy.rules if isinstance(r, PathRule))
    # The first level that applies wins: path, before a catalog's hash rule.
    assert paths == ["C:\\App\\broken.exe", "C:\\App\\catalogued.exe", "C:\\App\\unsigned.exe"]


def test_default_level_is_what_from_hashes_writes() -> None:
    records = [_record("a.exe", "a1"), _record("b.exe", "a2", signatures=[])]
    assert policy_from_scan(records, name="t")[0] == policy_from_hashes(records, name="t")[0]


def test_ecdsa_only_signers_are_noted() -> None:
    records = [_record("ec.exe", "a1", signatures=[_signature(key="ec-secp256r1")])]
    policy, _, notes = policy_from_scan(records, name="t", level=Level.PUBLISHER)
    assert len(_publishers(policy)) == 1
    assert notes == ["C:\\App\\ec.exe: " + notes[0].split(": ", 1)[1]]
    assert "WDAC does not accept ECDSA signer rules" in notes[0]


def test_a_level_list_cli_error() -> None:
    proc = run("policy", "from-scan", "-", "--fallback", "hash,nope")
    assert proc.returncode == 2 and "levels are filepublisher" in proc.stderr


# --- real files: a Microsoft-signed DLL, end to end ---------------------------------------------


def _facts(path: Path) -> SignerFacts:
    hashes, version = examine_file(str(path))
    return signer_facts(hashes.signatures, version)


def test_from_scan_filepublisher_on_a_microsoft_dll_end_to_end(
    sample_files: dict[str, Path], chains: Chains, tmp_path: Path
) -> None:
    dll = sample_files["msvc-runtime-win_amd64/vcruntime140.dll"]
    folder = tmp_path / "image" / "App"
    folder.mkdir(parents=True)
    shutil.copy(dll, folder / "vcruntime140.dll")
    scan_file = tmp_path / "scan.jsonl"
    with scan_file.open("w") as out:
        for record in scan([tmp_path / "image"], ScanOptions()):
            out.write(json.dumps(record.to_json()) + "\n")
    policy_file = tmp_path / "policy.toml"
    proc = run(
        "policy", "from-scan", str(scan_file), "--level", "filepublisher", "-o", str(policy_file)
    )
    assert proc.returncode == 0, proc.stderr
    text = policy_file.read_text(encoding="utf-8")
    assert 'original_filename = "vcruntime140.dll"' in text
    (rule,) = loads_toml(text).rules
    assert isinstance(rule, PublisherRule)
    publisher = rule.condition
    assert publisher.pin is Pin.ISSUER and publisher.attribute is FileAttribute.ORIGINAL_FILENAME
    assert publisher.min_version == _facts(dll).version
    policy = loads_toml(text)

    renamed = Path(shutil.copy(dll, tmp_path / "renamed.dll"))
    data = bytearray(dll.read_bytes())
    _, pointer, size = offsets(bytes(data)).sections[0]
    data[pointer + size // 2] ^= 0x01
    changed = tmp_path / "changed.dll"
    changed.write_bytes(bytes(data))
    other = chains.rsa3.sign(
        sample_files["mingw/hello64.exe"], tmp_path / "test.exe", "-h", "sha256"
    )

    # The model, on each file's own signer facts.
    for allowed in (dll, renamed):
        assert decide(policy, Query(signer_facts=_facts(allowed))).rule == rule
    assert not _facts(changed).signers  # digest mismatch: no valid signer
    assert _facts(other).signers
    for denied in (changed, other):
        assert decide(policy, Query(signer_facts=_facts(denied))).rule is None

    # check, on the policy file (the model) and on its compiled blob: the same answers.
    blob = tmp_path / "policy.bin"
    proc = run("compile", "--allow-unbootable", str(policy_file), "-o", str(blob))
    assert proc.returncode == 0, proc.stderr
    files = [str(dll), str(renamed), str(changed), str(other)]
    answers = []
    for decider in (policy_file, blob):
        proc = run("check", "--json", str(decider), *files)
        verdicts = [json.loads(line) for line in proc.stdout.splitlines()]
        assert [v["decision"] for v in verdicts] == ["allow", "allow", "deny", "deny"], proc.stderr
        assert proc.returncode == 1
        assert verdicts[0]["decided_by"] == "publisher" and verdicts[0]["rule"] == rule.id
        used = verdicts[1]["signer_facts"]
        assert used["attributes"]["original_filename"] == "vcruntime140.dll"
        assert used["version"] == str(publisher.min_version)
        assert any(str(publisher.certificate) in s["chain"][1:] for s in used["signers"])
        assert verdicts[2]["signer_facts"]["signers"] == []
        answers.append(verdicts)

        # check --scan builds the same signer facts from the scan's records.
        proc = run("check", "--json", str(decider), "--scan", str(scan_file))
        (verdict,) = [json.loads(line) for line in proc.stdout.splitlines()]
        assert verdict["decision"] == "allow"
        assert verdict["signer_facts"] == verdicts[0]["signer_facts"]
    assert answers[0] == answers[1]


def test_check_notes_ecdsa_only_files(
    sample_files: dict[str, Path], chains: Chains, tmp_path: Path
) -> None:
    signed = chains.ecdsa.sign(
        sample_files["mingw/hello64.exe"], tmp_path / "ec.exe", "-h", "sha256"
    )
    policy_file = tmp_path / "p.toml"
    policy_file.write_text(HEADER + _publisher("any", "allow", ""), encoding="utf-8")
    proc = run("check", "--json", str(policy_file), str(signed))
    (verdict,) = [json.loads(line) for line in proc.stdout.splitlines()]
    assert verdict["signer_facts"]["signers"], "the test chain's signature verifies"
    assert verdict["decision"] == "deny"  # another certificate
    # A policy without publisher rules: no signer facts used.
    policy_file.write_text(HEADER, encoding="utf-8")
    proc = run("check", "--json", str(policy_file), str(signed))
    (verdict,) = [json.loads(line) for line in proc.stdout.splitlines()]
    assert verdict["signer_facts"] is None and verdict["notes"]
    assert any("WDAC does not accept ECDSA signer rules" in n for n in verdict["notes"])
    assert "WDAC does not accept ECDSA signer rules" in proc.stderr


def test_publisher_rules_refuse_bad_data_from_code() -> None:
    with pytest.raises(PolicyError):
        Publisher.from_data(
            {"certificate": PCA, "min_version": "3.0.0.0", "max_version": "1.0.0.0"}
        )


# --- lints -----------------------------------------------------------------------------------


def _warnings(body: str) -> list[tuple[int | None, str | None, str]]:
    policy, problems = validate_policy_text(HEADER + body, "toml")
    assert policy is not None, problems
    return [(p.rule_index, p.rule_id, p.message) for p in problems if p.severity == "warning"]


def _publisher(rule_id: str, action: str, fields: str, exceptions: str = "") -> str:
    more = f"exceptions = [ {exceptions} ]\n" if exceptions else ""
    return (
        f'\n[[rule]]\nid = "{rule_id}"\naction = "{action}"\n'
        f'publisher = {{ certificate = "{PCA}"{fields} }}\n{more}'
    )


def test_a_publisher_rule_under_a_broader_one_is_reported() -> None:
    body = (
        _publisher("contoso", "allow", ', common_name = "Contoso"')
        + _publisher("tool", "allow", ', common_name = "Contoso", original_filename = "t.exe"')
        + _publisher("v1", "allow", ', common_name = "Contoso", min_version = "1.0.0.0"')
        + _publisher("other-cn", "allow", ', common_name = "Fabrikam"')
        + _publisher("leaf", "allow", ', pin = "leaf"')
    )
    found = _warnings(body)
    assert found == [
        (2, "tool", "redundant: rule 1 (id 'contoso') already allows every file it matches"),
        (3, "v1", "redundant: rule 1 (id 'contoso') already allows every file it matches"),
    ]


def test_deny_version_bounds_shadow_as_wdac_reads_them() -> None:
    # deny min 2.0 denies 2.0 and earlier (WDAC): it covers an allow of 0.1-1.0...
    body = _publisher("old", "deny", ', min_version = "2.0.0.0"') + _publisher(
        "range", "allow", ', min_version = "0.1.0.0", max_version = "1.0.0.0"'
    )
    assert _warnings(body) == [
        (2, "range", "never applies: rule 1 (id 'old') denies every file it matches")
    ]
    # ...and not an allow of 3.0 and later, nor a rule matching files without a version.
    body = (
        _publisher("old", "deny", ', min_version = "2.0.0.0"')
        + _publisher("new", "allow", ', min_version = "3.0.0.0"')
        + _publisher("any", "allow", ', common_name = "x"')
    )
    assert _warnings(body) == []


def test_a_broader_rule_with_exceptions_shadows_nothing() -> None:
    body = _publisher("contoso", "allow", "", '{ file_sha256 = "' + "ab" * 32 + '" }') + _publisher(
        "tool", "allow", ', original_filename = "t.exe"'
    )
    assert _warnings(body) == []
    path = (
        "\n[[rule]]\nid = 'all'\naction = 'allow'\npath = 'C:\\Apps\\*'\n"
        "exceptions = [ { path = 'C:\\Apps\\Temp\\*' } ]\n"
        "\n[[rule]]\nid = 'one'\naction = 'allow'\npath = 'C:\\Apps\\Temp\\x.exe'\n"
    )
    assert _warnings(path) == []


def test_exceptions_no_file_can_match_and_exceptions_that_match_everything() -> None:
    body = (
        "\n[[rule]]\nid = 'apps'\naction = 'allow'\npath = 'C:\\Apps\\*'\n"
        "exceptions = [ { path = 'D:\\Apps\\*' }, { path = 'C:\\Apps\\Temp\\*' }, "
        "{ path = '*\\x.exe' }, { path = '%PROGRAMFILES%\\*' }, "
        "{ file_sha256 = '" + "ab" * 32 + "' } ]\n"
        "\n[[rule]]\nid = 'tools'\naction = 'allow'\npath = 'C:\\Tools\\*.exe'\n"
        "exceptions = [ { path = 'C:\\*' } ]\n"
        + _publisher(
            "tool",
            "allow",
            ', original_filename = "t.exe", min_version = "2.0.0.0"',
            "{ publisher = { certificate = '" + PCA + "', original_filename = 'T.EXE' } }, "
            "{ publisher = { certificate = '" + PCA + "', original_filename = 'u.exe' } }, "
            "{ publisher = { certificate = '" + PCA + "', max_version = '1.0.0.0' } }, "
            "{ publisher = { certificate = '" + PCA + "', min_version = '1.0.0.0' } }",
        )
    )
    found = _warnings(body)
    assert found == [
        (
            1,
            "apps",
            "the exception { path = 'D:\\Apps\\*' } can never match: no path the rule matches "
            "can match D:\\APPS\\*",
        ),
        (
            2,
            "tools",
            "never applies: the exception { path = 'C:\\*' } matches every path the rule matches",
        ),
        (
            3,
            "tool",
            'the exception { publisher = {"certificate":"' + PCA + '","pin":"issuer",'
            '"max_version":"1.0.0.0"} } can never match: the rule\'s version range and the '
            "exception's do not meet",
        ),
        (
            3,
            "tool",
            'the exception { publisher = {"certificate":"' + PCA + '","pin":"issuer",'
            '"original_filename":"u.exe"} } can never match: the rule needs original_filename '
            "'t.exe', the exception 'u.exe'",
        ),
    ]


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ("C:\\A\\*", "C:\\A\\B\\*", True),
        ("C:\\A\\*", "D:\\*", False),
        ("*.exe", "*.dll", False),
        ("*.exe", "C:\\*", True),
        ("C:\\?\\x", "C:\\ab\\x", False),
        ("C:\\??\\x", "C:\\a*\\x", True),
        ("%WINDIR%\\*", "C:\\*", True),  # a variable's values are not known here
        ("%WINDIR%\\A\\*", "%WINDIR%\\B\\*", False),
        ("%WINDIR%\\*", "%PROGRAMFILES%\\*", True),
    ],
)
def test_patterns_may_overlap(a: str, b: str, overlap: bool) -> None:
    x, y = PathPattern.parse(a).tokens, PathPattern.parse(b).tokens
    assert patterns_may_overlap(x, y) is overlap
    assert patterns_may_overlap(y, x) is overlap


def test_the_writable_folder_warning_counts_the_rules_exceptions() -> None:
    body = (
        "\n[[rule]]\nid = 'w'\naction = 'allow'\npath = '%WINDIR%\\*'\n"
        "exceptions = [ { path = '%WINDIR%\\Temp\\*' } ]\n"
    )
    (warning,) = _warnings(body)
    assert "%WINDIR%\\Tasks" in warning[2] and "%WINDIR%\\Temp," not in warning[2]


# --- editing: policy rule add|set with publishers and exceptions --------------------------------


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_rule_add_and_set_with_publishers_and_exceptions(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"p{suffix}"
    path.write_text(
        HEADER if suffix == ".toml" else dumps_json(loads_toml(HEADER)), encoding="utf-8"
    )
    toml_table = (
        f'{{ certificate = "{PCA.upper().replace("SHA256", "sha256")}", common_name = "C" }}'
    )
    proc = run(
        "policy", "rule", "add", str(path), "--id", "c", "--publisher", toml_table,
        "--exception", "path=C:\\Temp\\*",
        "--exception", 'publisher={"certificate": "' + LEAF + '", "pin": "leaf"}',
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    proc = run("policy", "rule", "add", str(path), "--id", "w", "--path", "C:\\W\\*")
    assert proc.returncode == 0, proc.stderr
    loaded = loads_toml(path.read_text()) if suffix == ".toml" else loads_json(path.read_text())
    rule = next(r for r in loaded.rules if r.id == "c")
    assert isinstance(rule, PublisherRule)
    assert rule.condition == Publisher(CertificateId.parse(PCA), Pin.ISSUER, "C")
    assert [e.kind.value for e in rule.exceptions] == ["path", "publisher"]

    proc = run("policy", "rule", "set", str(path), "c", "--action", "deny")
    assert proc.returncode == 0, proc.stderr
    proc = run("policy", "rule", "set", str(path), "w", "--exception", "path=C:\\W\\T\\*")
    assert proc.returncode == 0, proc.stderr
    loaded = loads_toml(path.read_text()) if suffix == ".toml" else loads_json(path.read_text())
    by_id = {r.id: r for r in loaded.rules}
    assert by_id["c"].action is Action.DENY and len(by_id["c"].exceptions) == 2
    assert [e.value for e in by_id["w"].exceptions] == [PathPattern.parse("C:\\W\\T\\*").tokens]
    proc = run("policy", "rule", "set", str(path), "c", "--no-exceptions")
    assert proc.returncode == 0, proc.stderr
    loaded = loads_toml(path.read_text()) if suffix == ".toml" else loads_json(path.read_text())
    assert not next(r for r in loaded.rules if r.id == "c").exceptions

    before = path.read_text()
    for bad, message in [
        (["--id", "x", "--publisher", '{ certificate = "sha256:00", pin = "x" }'], "pin must be"),
        (["--id", "x", "--publisher", "not a table"], "not a JSON object or a TOML inline"),
        (["--id", "x", "--path", "C:\\x", "--exception", "nope=1"], "KIND=VALUE"),
        (["--file-sha256", "ab" * 32, "--exception", "path=C:\\x"], "a hash rule has no"),
        (["--publisher", f'{{ certificate = "{PCA}" }}'], "a publisher rule needs an id"),
    ]:
        proc = run("policy", "rule", "add", str(path), *bad)
        assert proc.returncode == 2 and message in proc.stderr, (bad, proc.stderr)
    assert path.read_text() == before


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from([PCA, LEAF, "issuer", "leaf", "1.2.3.4", "C:\\x\\*", "ab" * 32]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "certificate",
                    "pin",
                    "common_name",
                    "original_filename",
                    "product_name",
                    "min_version",
                    "max_version",
                    "path",
                    "publisher",
                    "file_sha256",
                    "authenticode_sha256",
                    "x",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(_json_values, _json_values, st.sampled_from(["path", "publisher", "file_sha256"]))
def test_any_publisher_or_exceptions_value_gives_problems_never_an_exception(
    condition: object, exceptions: object, kind: str
) -> None:
    rule: dict[str, object] = {"id": "r", "action": "allow", kind: condition}
    rule["exceptions"] = exceptions
    document = {"policy": {"name": "t", "version": 1}, "rule": [rule]}
    policy, problems = validate_policy_text(json.dumps(document), "json")
    assert policy is not None or any(p.rule_index == 1 for p in problems)
    if policy is None:
        assert all(p.rule_index == 1 and p.rule_id == "r" for p in problems)
