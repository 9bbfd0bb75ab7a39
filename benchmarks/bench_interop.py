"""Benchmark of WDAC import and export: a SiPolicy of ``--rules`` (default 100,000) hash rules.

The file is written as ConfigCI writes hash rules (``Allow ID FriendlyName Hash``,
each referenced from the user-mode scenario). Import and export each run in a
separate process, so their peak RSS is theirs: reported with the RSS of a
process that only imports the package (the baseline) and the growth above it,
against the XML file's size, and the time as a ratio to ``load_policy_json`` in
the same run (a loaded machine slows both). Goal (issue 17): each ≤ 5 s and ≤ 2x
the XML size. ``from-events`` runs twice: 3076 events alone (hash rules), and each
with its 3089 signature event at ``--level publisher`` (20 signers).
The baseline for memory: ``load_policy`` of the same policy as JSON (the
same Python objects, built by the project's own loader).

    python benchmarks/bench_interop.py [--rules N] [--json]
    python benchmarks/bench_interop.py --quick --json   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

_CHILD = r"""
import json, resource, sys, time
from exewhitelist.interop import ForeignFormat, export_policy, import_policy
from exewhitelist.policyfile import load_policy
from exewhitelist.fileio import write_atomically
what, source, target = sys.argv[1:4]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
rules = 0
if what == "import":
    result = import_policy(source)
    assert result.policy is not None, [str(f) for f in result.findings[:3]]
    rules = len(result.policy.rules)
elif what in ("events", "events-publisher"):
    from exewhitelist.interop.events import Level, rules_from_events
    level = Level.PUBLISHER if what == "events-publisher" else Level.HASH
    result = rules_from_events([source], level=level)
    assert result.policy is not None
    rules = sum(result.event_counts.values())
elif what == "load":
    rules = len(load_policy(source).rules)
elif what == "export":
    policy = load_policy(source)
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = export_policy(policy, ForeignFormat.WDAC)
    write_atomically(target, result.data)
    rules = len(policy.rules)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"s": seconds, "rules": rules, "baseline_rss_kib": before, "peak_rss_kib": peak}))
"""


def write_wdac(path: Path, n: int, seed: int = 17) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        f.write(
            '<?xml version="1.0" encoding="utf-8"?>\n'
            '<SiPolicy xmlns="urn:schemas-microsoft-com:sipolicy" PolicyType="Base Policy">\n'
            "  <VersionEx>1.0.0.0</VersionEx>\n"
            "  <PlatformID>{2E07F7E4-194C-4D20-B7C9-6F44A6C5A234}</PlatformID>\n"
            "  <Rules><Rule><Option>Enabled:UMCI</Option></Rule>"
            "<Rule><Option>Enabled:Unsigned System Integrity Policy</Option></Rule></Rules>\n"
            "  <FileRules>\n"
        )
        for i in range(n):
            digest = f"{rng.getrandbits(256):064X}"
            f.write(
                f'    <Allow ID="ID_ALLOW_A_{i}" FriendlyName="tool{i}.exe Hash Sha256" '
                f'Hash="{digest}" />\n'
            )
        f.write(
            "  </FileRules>\n  <SigningScenarios>\n"
            '    <SigningScenario Value="12" ID="ID_SIGNINGSCENARIO_WINDOWS">'
            "<ProductSigners><FileRulesRef>\n"
        )
        for i in range(n):
            f.write(f'      <FileRuleRef RuleID="ID_ALLOW_A_{i}" />\n')
        f.write(
            "    </FileRulesRef></ProductSigners></SigningScenario>\n  </SigningScenarios>\n"
            "</SiPolicy>\n"
        )


def write_events(
    path: Path, n: int, programs: int = 1_000, seed: int = 3076, signers: int = 0
) -> None:
    """``n`` CodeIntegrity 3076 events as ``wevtutil qe /f:xml`` prints them, naming
    ``programs`` distinct files; with ``signers``, each followed by its 3089 signature
    event (joined by the activity id), the files signed by that many signers."""
    rng = random.Random(seed)
    digests = [f"{rng.getrandbits(256):064X}" for _ in range(programs)]
    tbs = [f"{rng.getrandbits(256):064X}" for _ in range(max(signers, 1))]
    ns = "http://schemas.microsoft.com/win/2004/08/events/event"
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            k = rng.randrange(programs)
            activity = f"{{6a5b2c1d-0000-0000-0000-{i:012x}}}"
            f.write(
                f'<Event xmlns="{ns}"><System><Provider Name="Microsoft-Windows-CodeIntegrity" '
                f'Guid="{{4ee76bd8-3cf4-44a0-a0ac-3937643e37a3}}" /><EventID>3076</EventID>'
                f"<Version>5</Version>"
                f'<TimeCreated SystemTime="2026-12-01T10:00:00.{i % 1000:03}Z" />'
                f"<EventRecordID>{i}</EventRecordID>"
                f'<Correlation ActivityID="{activity}" /><Channel>Microsoft-Windows-CodeIntegrity/'
                "Operational</Channel><Computer>pc1</Computer></System><EventData>"
                f'<Data Name="File Name">\\Device\\HarddiskVolume3\\Apps\\tool{k}.exe</Data>'
                '<Data Name="Process Name">\\Device\\HarddiskVolume3\\Windows\\explorer.exe'
                f'</Data><Data Name="SHA1 Hash">{digests[k][:40]}</Data>'
                f'<Data Name="SHA256 Hash">{digests[k]}</Data>'
                f'<Data Name="SHA256 Flat Hash">{digests[k][::-1]}</Data>'
                '<Data Name="PolicyName">audit</Data></EventData></Event>\n'
            )
            if signers:
                signer = k % signers
                f.write(
                    f'<Event xmlns="{ns}"><System><Provider Name="Microsoft-Windows-'
                    'CodeIntegrity" /><EventID>3089</EventID><Version>2</Version>'
                    f'<Correlation ActivityID="{activity}" /><Computer>pc1</Computer></System>'
                    '<EventData><Data Name="TotalSignatureCount">1</Data>'
                    '<Data Name="Signature">0</Data><Data Name="VerificationError">21</Data>'
                    f'<Data Name="PublisherName">Publisher {signer}</Data>'
                    '<Data Name="IssuerName">Code Signing PCA</Data>'
                    f'<Data Name="PublisherTBSHash">{digests[signer]}</Data>'
                    f'<Data Name="IssuerTBSHash">{tbs[signer]}</Data></EventData></Event>\n'
                )


def _child(what: str, source: Path, target: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, what, str(source), str(target)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    report: dict[str, Any] = json.loads(out)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rules", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=100_000, help="for from-events")
    parser.add_argument("--quick", action="store_true", help="1,000 rules and events")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    n = 1_000 if args.quick else args.rules
    with tempfile.TemporaryDirectory() as folder:
        xml = Path(folder) / "policy.xml"
        write_wdac(xml, n)
        size = xml.stat().st_size
        policy = Path(folder) / "policy.json"
        imported = _child("import", xml, policy)
        subprocess.run(
            [sys.executable, "-m", "exewhitelist", "policy", "import", str(xml), "-o", str(policy)],
            check=True,
            capture_output=True,
        )
        exported = _child("export", policy, Path(folder) / "out.xml")
        loaded = _child("load", policy, policy)
        events_file = Path(folder) / "ci.xml"
        n_events = 1_000 if args.quick else args.events
        write_events(events_file, n_events)
        events = _child("events", events_file, events_file)
        events_bytes = events_file.stat().st_size
        signed_file = Path(folder) / "ci-signed.xml"
        write_events(signed_file, n_events, signers=20)
        signed = _child("events-publisher", signed_file, signed_file)
        signed_bytes = signed_file.stat().st_size
        out_size = (Path(folder) / "out.xml").stat().st_size
    report: dict[str, Any] = {"rules": n, "xml_bytes": size, "exported_xml_bytes": out_size}
    runs = (("import", imported), ("export", exported), ("load_policy_json", loaded))
    for name, run in runs:
        growth = (run["peak_rss_kib"] - run["baseline_rss_kib"]) * 1024
        report[name] = {
            "s": round(run["s"], 3),
            "peak_rss_bytes": run["peak_rss_kib"] * 1024,
            "rss_growth_bytes": growth,
            "growth_ratio_to_xml": round(growth / size, 2),
        }
    for name, run in (("import", imported), ("export", exported)):
        report[name]["s_ratio_to_load_policy_json"] = round(run["s"] / loaded["s"], 2)
    report["from_events"] = {
        "events": n_events,
        "xml_bytes": events_bytes,
        "s": round(events["s"], 3),
        "events_per_s": round(n_events / events["s"]),
        "rss_growth_bytes": (events["peak_rss_kib"] - events["baseline_rss_kib"]) * 1024,
    }
    report["from_events_publisher"] = {
        "events": 2 * n_events,
        "xml_bytes": signed_bytes,
        "s": round(signed["s"], 3),
        "events_per_s": round(2 * n_events / signed["s"]),
        "rss_growth_bytes": (signed["peak_rss_kib"] - signed["baseline_rss_kib"]) * 1024,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(f"WDAC policy of {n} hash rules: {size / 1e6:.1f} MB of XML")
        for name, _ in runs:
            r = report[name]
            ratio = r.get("s_ratio_to_load_policy_json")
            print(
                f"  {name}: {r['s']:.2f} s"
                + (f" ({ratio}x load_policy_json's time)" if ratio is not None else "")
                + f", peak RSS {r['peak_rss_bytes'] / 1e6:.0f} MB, "
                f"+{r['rss_growth_bytes'] / 1e6:.1f} MB ({r['growth_ratio_to_xml']}x the XML)"
            )
        for key, label in (
            ("from_events", "from-events"),
            ("from_events_publisher", "from-events --level publisher (3076 + 3089)"),
        ):
            e = report[key]
            print(
                f"  {label}: {e['events']} events ({e['xml_bytes'] / 1e6:.0f} MB) in "
                f"{e['s']:.2f} s: {e['events_per_s']} events/s, "
                f"+{e['rss_growth_bytes'] / 1e6:.1f} MB RSS"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
