"""Foreign policies written from the documented formats (interop.md, field.md §2), for the tests."""

from __future__ import annotations

H1 = "9E21F97CA6A5215E2728BBE844BF8655D22FA17EA463383E9DEACCEAA39A2FA5"
H2 = "579A240282175C8D78CE9CCFA29ACD0212BB43A5AEE769DE74D6CB313345791C"
H3 = "7FD7A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E"
SHA1 = "579A240282175C8D78CE9CCFA29ACD0212BB43A5"


def applocker_rule(
    tag: str,
    condition: str,
    *,
    rule_id: str = "921cc481-6e17-4653-8f75-050b80acca20",
    name: str = "rule",
    sid: str = "S-1-1-0",
    action: str = "Allow",
    exceptions: str = "",
) -> str:
    extra = f"<Exceptions>{exceptions}</Exceptions>" if exceptions else ""
    return (
        f'<{tag} Id="{rule_id}" Name="{name}" Description="" UserOrGroupSid="{sid}" '
        f'Action="{action}"><Conditions>{condition}</Conditions>{extra}</{tag}>'
    )


def hash_condition(data: str, kind: str = "SHA256") -> str:
    return (
        f'<FileHashCondition><FileHash Type="{kind}" Data="0x{data}" SourceFileName="BAD.exe" '
        'SourceFileLength="205824"/></FileHashCondition>'
    )


def path_condition(path: str) -> str:
    return f'<FilePathCondition Path="{path}"/>'


PUBLISHER_CONDITION = (
    '<FilePublisherCondition PublisherName="O=MICROSOFT CORPORATION, L=REDMOND, S=WASHINGTON, '
    'C=US" ProductName="BGINFO" BinaryName="BGINFO.EXE"><BinaryVersionRange LowSection="*" '
    'HighSection="4.25.0.0"/></FilePublisherCondition>'
)


def applocker(collections: dict[str, list[str]], modes: dict[str, str] | None = None) -> str:
    modes = modes or {}
    body = "".join(
        f'<RuleCollection Type="{kind}" EnforcementMode="{modes.get(kind, "Enabled")}">'
        + "".join(rules)
        + "</RuleCollection>"
        for kind, rules in collections.items()
    )
    return f'<AppLockerPolicy Version="1">{body}</AppLockerPolicy>'


def wdac(
    file_rules: list[str],
    user_refs: list[str],
    *,
    kernel_refs: tuple[str, ...] = (),
    options: tuple[str, ...] = ("Enabled:Unsigned System Integrity Policy", "Enabled:UMCI"),
    policy_type: str = "Base Policy",
    version: str = "0.0.0.7",
    name: str = "Contoso",
    extra: str = "",
    user_extra: str = "",
) -> str:
    def refs(ids: tuple[str, ...] | list[str]) -> str:
        inner = "".join(f'<FileRuleRef RuleID="{r}" />' for r in ids)
        return f"<FileRulesRef>{inner}</FileRulesRef>" if inner else ""

    rules = "".join(f"<Rule><Option>{o}</Option></Rule>" for o in options)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<SiPolicy xmlns="urn:schemas-microsoft-com:sipolicy" PolicyType="{policy_type}">
  <VersionEx>{version}</VersionEx>
  <PlatformID>{{2E07F7E4-194C-4D20-B7C9-6F44A6C5A234}}</PlatformID>
  <Rules>{rules}</Rules>
  <FileRules>
{chr(10).join(file_rules)}
  </FileRules>
  {extra}
  <SigningScenarios>
    <SigningScenario ID="ID_SIGNINGSCENARIO_DRIVERS" Value="131"><ProductSigners>{
        refs(kernel_refs)
    }</ProductSigners></SigningScenario>
    <SigningScenario ID="ID_SIGNINGSCENARIO_WINDOWS" Value="12"><ProductSigners>{user_extra}{
        refs(user_refs)
    }</ProductSigners></SigningScenario>
  </SigningScenarios>
  <UpdatePolicySigners />
  <Settings>
    <Setting Provider="PolicyInfo" Key="Information" ValueName="Name"><Value><String>{
        name
    }</String></Value></Setting>
  </Settings>
</SiPolicy>
"""


# --- WDAC signers (signers.md §4; cipolicy.xsd element order) ---------------------------

PCA_2011_TBS = "F6F717A43AD9ABDDC8CEFDDE1C505462535E7D1307E630F9544A2D14FE8BF26E"
"""Microsoft Code Signing PCA 2011's TBS hash (SHA-256), as published policies pin it."""
PCA_SHA1_TBS = "7251ADC0F732CF409EE462E335BB99544F2DD40F"
"""Microsoft Code Signing PCA's TBS hash (SHA-1)."""
DIGICERT_G4_TBS = (
    "65B1D4076A89AE273F57E6EEEDECB3EAE129B4168F76FA76"
    "71914CDF461D542255C59D9B85B916AE0CA6FC0FCF7A8E64"
)
"""DigiCert Trusted G4 Code Signing RSA4096 SHA384 2021 CA1's TBS hash (SHA-384)."""


def wdac_signer(
    signer_id: str,
    root: str,
    *,
    name: str = "signer",
    root_type: str = "TBS",
    publisher: str | None = None,
    attribs: tuple[str, ...] = (),
    inner: str = "",
    sign_time_after: str | None = None,
) -> str:
    """A ``Signer``: CertRoot, (``inner``: CertEKU/CertIssuer), CertPublisher, FileAttribRefs."""
    after = f' SignTimeAfter="{sign_time_after}"' if sign_time_after else ""
    cert_publisher = f'<CertPublisher Value="{publisher}" />' if publisher is not None else ""
    refs = "".join(f'<FileAttribRef RuleID="{a}" />' for a in attribs)
    return (
        f'<Signer ID="{signer_id}" Name="{name}"{after}><CertRoot Type="{root_type}" '
        f'Value="{root}" />{inner}{cert_publisher}{refs}</Signer>'
    )


def wdac_signers(
    allowed: tuple[str | tuple[str, tuple[str, ...]], ...] = (),
    denied: tuple[str | tuple[str, tuple[str, ...]], ...] = (),
) -> str:
    """``AllowedSigners``/``DeniedSigners`` for a scenario's ``ProductSigners``: each a
    SignerId, or (SignerId, the file rule IDs of its ExceptDenyRule/ExceptAllowRule)."""

    def one(tag: str, except_tag: str, key: str, entry: str | tuple[str, tuple[str, ...]]) -> str:
        signer_id, excepts = (entry, ()) if isinstance(entry, str) else entry
        inner = "".join(f'<{except_tag} {key}="{x}" />' for x in excepts)
        return f'<{tag} SignerId="{signer_id}">{inner}</{tag}>'

    out = ""
    if allowed:
        items = "".join(one("AllowedSigner", "ExceptDenyRule", "DenyRuleID", a) for a in allowed)
        out += f"<AllowedSigners>{items}</AllowedSigners>"
    if denied:
        items = "".join(one("DeniedSigner", "ExceptAllowRule", "AllowRuleID", d) for d in denied)
        out += f"<DeniedSigners>{items}</DeniedSigners>"
    return out


# --- events (interop.md §5: CodeIntegrity 3076/3077 and 3089, AppLocker 8003/8004) --------

EVENT_NS = "http://schemas.microsoft.com/win/2004/08/events/event"


def _system(event_id: int, provider: str, activity: str | None) -> str:
    correlation = f'<Correlation ActivityID="{{{activity}}}" />' if activity else "<Correlation />"
    return (
        f'<System><Provider Name="{provider}" /><EventID>{event_id}</EventID><Version>5</Version>'
        f'<TimeCreated SystemTime="2026-12-01T10:00:00.000Z" />{correlation}'
        '<Execution ProcessID="4" ThreadID="8" /><Computer>pc1</Computer></System>'
    )


def ci_event(
    event_id: int,
    file_name: str,
    sha256: str = "",
    flat: str = "",
    *,
    activity: str | None = "6a5b2c1d-0000-0000-0000-000000000001",
) -> str:
    """A CodeIntegrity 3076/3077 event, fields by name as a real Version-5 event has them."""
    data = {
        "File Name": file_name,
        "Process Name": "\\Device\\HarddiskVolume3\\Windows\\explorer.exe",
        "SHA1 Hash": "AB" * 20,
        "SHA256 Hash": sha256.upper(),
        "SHA256 Flat Hash": flat.upper(),
        "PolicyName": "Contoso audit",
        "UserWriteable": "true",
    }
    items = "".join(f'<Data Name="{k}">{v}</Data>' for k, v in data.items())
    return (
        f'<Event xmlns="{EVENT_NS}">'
        f"{_system(event_id, 'Microsoft-Windows-CodeIntegrity', activity)}"
        f"<EventData>{items}</EventData></Event>"
    )


def signature_event(
    activity: str | None,
    *,
    publisher: str = "Contoso Corporation",
    issuer: str = "Microsoft Code Signing PCA 2011",
    publisher_tbs: str = "1F" * 32,
    issuer_tbs: str = PCA_2011_TBS,
    total: int = 1,
    index: int = 0,
    verification_error: str = "21",
) -> str:
    """A CodeIntegrity 3089 event: one signature of the file a 3076/3077 names (joined by the
    activity); ``PublisherTBSHash`` is the leaf's, ``IssuerTBSHash`` the highest certificate's."""
    data = {
        "TotalSignatureCount": str(total),
        "Signature": str(index),
        "Hash": "AB" * 32,
        "PageHash": "false",
        "SignatureType": "1",
        "ValidatedSigningLevel": "4",
        "VerificationError": verification_error,
        "Flags": "0",
        "NotValidBefore": "2024-01-01T00:00:00.000Z",
        "NotValidAfter": "2025-01-01T00:00:00.000Z",
        "PublisherName": publisher,
        "IssuerName": issuer,
        "PublisherTBSHash": publisher_tbs,
        "IssuerTBSHash": issuer_tbs,
    }
    items = "".join(f'<Data Name="{k}">{v}</Data>' for k, v in data.items())
    return (
        f'<Event xmlns="{EVENT_NS}">'
        f"{_system(3089, 'Microsoft-Windows-CodeIntegrity', activity)}"
        f"<EventData>{items}</EventData></Event>"
    )


APPLOCKER_ACTIVITY = "6a5b2c1d-0000-0000-0000-0000000000aa"


def applocker_event(event_id: int, file_path: str, file_hash: str, policy: str = "EXE") -> str:
    """An AppLocker 8002-8004 event (its payload under UserData/RuleAndFileData)."""
    return (
        f'<Event xmlns="{EVENT_NS}">'
        f"{_system(event_id, 'Microsoft-Windows-AppLocker', APPLOCKER_ACTIVITY)}"
        '<UserData><RuleAndFileData xmlns="http://schemas.microsoft.com/schemas/event/2007/'
        f'AppLocker"><PolicyName>{policy}</PolicyName>'
        "<RuleId>{00000000-0000-0000-0000-000000000000}</RuleId><RuleName>-</RuleName>"
        "<RuleSddl>-</RuleSddl><TargetUser>S-1-5-21-1-2-3-1001</TargetUser>"
        f"<TargetProcessId>1234</TargetProcessId><FilePath>{file_path}</FilePath>"
        f"<FileHash>{file_hash}</FileHash><Fqbn>-</Fqbn><TargetLogonId>0x1</TargetLogonId>"
        "</RuleAndFileData></UserData></Event>"
    )


# --- the driver's own ETW events (docs/driver.md "ETW"; docs/interop.md §5) ----------------

DRIVER_PROVIDER = ("Exewhitelist.Driver", "802e0a3b-957f-5966-611b-a854b67e7775")
TRACE_NS = "http://schemas.microsoft.com/win/2004/08/events/trace"


def _etw_value(value: object) -> str:
    """A field value as the decoders render it: booleans ``true``/``false``, the rest as
    text (HexInt32 values are given already formatted, ``0x...``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).replace("&", "&amp;").replace("<", "&lt;")


def driver_event(
    name: str,
    fields: dict[str, object],
    *,
    level: int = 3,
    keyword: int | None = None,
    form: str = "winevent",
    provider: tuple[str, str] = DRIVER_PROVIDER,
) -> str:
    """One of the driver's TraceLogging events as Windows renders it from an ``.etl``.

    ``winevent``: ``Get-WinEvent -Path x.etl | % ToXml()`` / ``wevtutil qe x.etl /lf:true
    /f:xml``: event id 0 (TraceLogging), the keyword in ``System``, the fields as named
    ``EventData/Data``, no event name. ``tracerpt``: one ``<Event>`` of ``tracerpt -of XML``,
    with ``RenderingInfo`` whose ``Task`` is the event name (TDH's task name of a TraceLogging
    event) and ``ExtendedTracingInfo``; no keyword when ``keyword`` is None."""
    items = "".join(f'<Data Name="{k}">{_etw_value(v)}</Data>' for k, v in fields.items())
    keywords = f"<Keywords>0x{keyword:x}</Keywords>" if keyword is not None else ""
    system = (
        f'<System><Provider Name="{provider[0]}" Guid="{{{provider[1]}}}" />'
        f"<EventID>0</EventID><Version>0</Version><Level>{level}</Level><Task>0</Task>"
        f"<Opcode>0</Opcode>{keywords}"
        '<TimeCreated SystemTime="2026-12-01T10:00:00.000000000Z" /><Correlation />'
        '<Execution ProcessID="4" ThreadID="8" ProcessorID="0" KernelTime="0" UserTime="0" />'
        "<Channel /><Computer>pc1</Computer></System>"
    )
    rendering = ""
    if form == "tracerpt":
        rendering = (
            f'<RenderingInfo Culture="en-US"><Level>Warning</Level><Opcode>Info</Opcode>'
            f"<Task>{name}</Task><Message /><Channel /><Provider>{provider[0]}</Provider>"
            f'</RenderingInfo><ExtendedTracingInfo xmlns="{TRACE_NS}">'
            f"<EventGuid>{{00000000-0000-0000-0000-000000000000}}</EventGuid>"
            "</ExtendedTracingInfo>"
        )
    return f'<Event xmlns="{EVENT_NS}">{system}<EventData>{items}</EventData>{rendering}</Event>'


TRACERPT_HEADER_EVENT = (
    f'<Event xmlns="{EVENT_NS}"><System>'
    '<Provider Guid="{68fdd900-4a3e-11d1-84f4-0000f80464e3}" />'
    "<EventID>0</EventID><Version>2</Version><Level>0</Level><Task>0</Task><Opcode>0</Opcode>"
    '<Keywords>0x0</Keywords><TimeCreated SystemTime="2026-12-01T09:59:59.000000000Z" />'
    '<Correlation ActivityID="{00000000-0000-0000-0000-000000000000}" />'
    '<Execution ProcessID="4294967295" ThreadID="4294967295" ProcessorID="0" KernelTime="0" '
    'UserTime="0" /><Channel /><Computer /></System><EventData><Data Name="BufferSize">65536'
    '</Data><Data Name="Version">83951626</Data><Data Name="ProviderVersion">19045</Data>'
    '<Data Name="NumberOfProcessors">4</Data><Data Name="LogFileMode">0x00000001</Data>'
    '</EventData><RenderingInfo Culture="en-US"><Opcode>Header</Opcode>'
    f'<Provider>MSNT_SystemTrace</Provider><EventName xmlns="{TRACE_NS}">EventTrace</EventName>'
    f'</RenderingInfo><ExtendedTracingInfo xmlns="{TRACE_NS}">'
    "<EventGuid>{68fdd900-4a3e-11d1-84f4-0000f80464e3}</EventGuid></ExtendedTracingInfo></Event>"
)
"""The header event tracerpt writes first (the trace's ``EventTrace`` header, MOF)."""


def tracerpt_xml(events: list[str]) -> str:
    """``tracerpt x.etl -of XML -o out.xml``: the events inside an ``<Events>`` root,
    the trace's header event first."""
    body = "\r\n".join([TRACERPT_HEADER_EVENT, *events])
    return f'<?xml version="1.0" encoding="UTF-8"?>\r\n<Events>\r\n{body}\r\n</Events>\r\n'
