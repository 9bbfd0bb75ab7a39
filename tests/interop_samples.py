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
