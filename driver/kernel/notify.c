/* The process-creation callback (PsSetCreateProcessNotifyRoutineEx), at
 * PASSIVE_LEVEL in the creating thread:
 *
 *   1. a CreationStatus that is already a failure is left alone;
 *   2. no policy: allow (the load reported why);
 *   3. decide by path first (the folded Win32 path of ImageFileName); hash
 *      only when the decision can depend on a hash: a matching deny path rule
 *      decides at once, a matching allow path rule only when the policy has
 *      no deny hash rules;
 *   4. otherwise hash the image through CreateInfo->FileObject (hash.c) and
 *      decide again with the digests;
 *   5. report every deny and audit would-deny (DbgPrintEx and ETW); in
 *      enforce mode set STATUS_ACCESS_DISABLED_BY_POLICY_DEFAULT. */
#include "ewl_kernel.h"

/* Path spellings this slice understands: "\??\X:\...", "\\?\X:\..." and
 * "X:\...". Anything else (\Device\HarddiskVolumeN\..., UNC) has no Win32
 * path here: path rules cannot match it, hash rules still can. */
#define EWL_MAX_PATH_UNITS 32767u

/* The path variables' values on a default installation on drive C, folded
 * (the same as exewhitelist.policy.DEFAULT_VARIABLES). */
static const ewl_u16str_t g_Windir[] = {{(const uint16_t *)L"C:\\WINDOWS", 10}};
static const ewl_u16str_t g_System32[] = {{(const uint16_t *)L"C:\\WINDOWS\\SYSTEM32", 19}};
static const ewl_u16str_t g_ProgramFiles[] = {
    {(const uint16_t *)L"C:\\PROGRAM FILES", 16},
    {(const uint16_t *)L"C:\\PROGRAM FILES (X86)", 22},
};
static const ewl_u16str_t g_OsDrive[] = {{(const uint16_t *)L"C:", 2}};
static const ewl_vars_t g_Vars = {
    {g_Windir, g_System32, g_ProgramFiles, g_OsDrive},
    {1, 1, 2, 1},
};

static BOOLEAN g_Registered;

static BOOLEAN EwlIsDrivePath(_In_reads_(Length) const WCHAR *Units, _In_ USHORT Length)
{
    WCHAR letter;
    if (Length < 3) {
        return FALSE;
    }
    letter = (WCHAR)(Units[0] | 0x20);
    return letter >= L'a' && letter <= L'z' && Units[1] == L':' && Units[2] == L'\\';
}

/* The folded Win32 path of Image into *Folded (PagedPool; free with
 * ExFreePoolWithTag), or STATUS_OBJECT_PATH_SYNTAX_BAD when it has none. */
_IRQL_requires_(PASSIVE_LEVEL)
static NTSTATUS EwlFoldedPath(_In_ PCUNICODE_STRING Image, _Out_ PUNICODE_STRING Folded)
{
    NTSTATUS status;
    UNICODE_STRING source;
    USHORT units;

    PAGED_CODE();
    RtlZeroMemory(Folded, sizeof(*Folded));
    source = *Image;
    units = (USHORT)(source.Length / sizeof(WCHAR));
    if (units >= 4 && source.Buffer[0] == L'\\' &&
        (source.Buffer[1] == L'?' || source.Buffer[1] == L'\\') && source.Buffer[2] == L'?' &&
        source.Buffer[3] == L'\\') {
        source.Buffer += 4;
        source.Length = (USHORT)(source.Length - 4 * sizeof(WCHAR));
        source.MaximumLength = source.Length;
        units = (USHORT)(units - 4);
    }
    if (!EwlIsDrivePath(source.Buffer, units) || units > EWL_MAX_PATH_UNITS) {
        status = STATUS_OBJECT_PATH_SYNTAX_BAD;
        goto Exit;
    }
    Folded->Buffer = (PWCH)ExAllocatePoolWithTag(PagedPool, source.Length, EWL_POOL_TAG);
    if (Folded->Buffer == NULL) {
        status = STATUS_INSUFFICIENT_RESOURCES;
        goto Exit;
    }
    Folded->Length = 0;
    Folded->MaximumLength = source.Length;
    status = RtlUpcaseUnicodeString(Folded, &source, FALSE);

Exit:
    if (!NT_SUCCESS(status) && Folded->Buffer != NULL) {
        ExFreePoolWithTag(Folded->Buffer, EWL_POOL_TAG);
        RtlZeroMemory(Folded, sizeof(*Folded));
    }
    return status;
}

static VOID EwlHex(_In_reads_(EWL_HASH_SIZE) const UCHAR *Digest,
                   _Out_writes_(2 * EWL_HASH_SIZE + 1) char *Out)
{
    static const char digits[] = "0123456789abcdef";
    ULONG i;
    for (i = 0; i < EWL_HASH_SIZE; i++) {
        Out[2 * i] = digits[Digest[i] >> 4];
        Out[2 * i + 1] = digits[Digest[i] & 15];
    }
    Out[2 * EWL_HASH_SIZE] = '\0';
}

/* Every deny and audit would-deny: one DbgPrintEx line (pid, image, hash,
 * deciding rule) and the same as an ETW event (etw.c). */
static VOID EwlReport(_In_ HANDLE ProcessId, _In_ const PS_CREATE_NOTIFY_INFO *CreateInfo,
                      _In_ const EWL_IMAGE_HASHES *Hashes, _In_ NTSTATUS HashStatus,
                      _In_ const ewl_decision_t *Decision)
{
    char hash[2 * EWL_HASH_SIZE + 1];
    char rule[EWL_DEFAULT_ID_MAX + 1];
    EWL_DENY_REPORT report;
    ANSI_STRING defaultDeny = RTL_CONSTANT_STRING("(default deny)");
    ANSI_STRING authenticode = RTL_CONSTANT_STRING("authenticode");
    ANSI_STRING file = RTL_CONSTANT_STRING("file");
    UNICODE_STRING none = RTL_CONSTANT_STRING(L"(unknown)");

    RtlZeroMemory(&report, sizeof(report));
    report.ProcessId = ProcessId;
    report.ParentProcessId = CreateInfo->ParentProcessId;
    if (CreateInfo->ImageFileName != NULL) {
        report.Image = *CreateInfo->ImageFileName;
    }
    if (Hashes->HaveAuthenticode) {
        EwlHex(Hashes->Authenticode, hash);
        report.Sha256Kind = authenticode;
    } else if (Hashes->HaveFlat) {
        EwlHex(Hashes->Flat, hash);
        report.Sha256Kind = file;
    }
    if (report.Sha256Kind.Length != 0) {
        report.Sha256.Buffer = hash;
        report.Sha256.Length = 2 * EWL_HASH_SIZE;
        report.Sha256.MaximumLength = sizeof(hash);
    }
    report.HashStatus = HashStatus;
    report.RuleId = defaultDeny;
    if (Decision->default_id) {
        report.RuleId.Buffer = rule;
        report.RuleId.Length = (USHORT)ewl_default_rule_id(Decision, rule, sizeof(rule));
        report.RuleId.MaximumLength = sizeof(rule);
    } else if (Decision->rule_id != NULL) {
        report.RuleId.Buffer = (PCHAR)Decision->rule_id; /* at most 256 bytes (blob format) */
        report.RuleId.Length = (USHORT)Decision->rule_id_len;
        report.RuleId.MaximumLength = report.RuleId.Length;
    }
    report.Enforced = Decision->enforced ? TRUE : FALSE;
    DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_WARNING_LEVEL,
               EWL_DBG_PREFIX "%s pid=%lu image=%wZ sha256=%s hash_status=0x%08lx rule=%.*s\n",
               report.Enforced ? "DENY" : "AUDIT-DENY", (ULONG)(ULONG_PTR)ProcessId,
               CreateInfo->ImageFileName != NULL ? CreateInfo->ImageFileName : &none,
               report.Sha256.Length != 0 ? hash : "-", (ULONG)HashStatus,
               (int)report.RuleId.Length, report.RuleId.Buffer);
    EwlEtwProcessDenied(&report);
}

_IRQL_requires_(PASSIVE_LEVEL)
static VOID EwlCreateProcessNotify(_Inout_ PEPROCESS Process, _In_ HANDLE ProcessId,
                                   _Inout_opt_ PPS_CREATE_NOTIFY_INFO CreateInfo)
{
    PEWL_POLICY policy = NULL;
    UNICODE_STRING folded = {0, 0, NULL};
    EWL_IMAGE_HASHES hashes;
    NTSTATUS hashStatus = STATUS_NOT_FOUND; /* not attempted */
    ewl_query_t query = {NULL, NULL, NULL, 0};
    ewl_decision_t decision;
    BOOLEAN needHash;

    UNREFERENCED_PARAMETER(Process);
    PAGED_CODE();
    RtlZeroMemory(&hashes, sizeof(hashes));
    if (CreateInfo == NULL || !NT_SUCCESS(CreateInfo->CreationStatus)) {
        goto Exit; /* process exit, or already failed: never overwrite */
    }
    policy = EwlPolicyAcquire();
    if (policy == NULL) {
        goto Exit;
    }
    if (CreateInfo->ImageFileName != NULL && CreateInfo->FileOpenNameAvailable &&
        NT_SUCCESS(EwlFoldedPath(CreateInfo->ImageFileName, &folded))) {
        query.path = (const uint16_t *)folded.Buffer;
        query.path_len = folded.Length / sizeof(WCHAR);
    }
    ewl_decide(&policy->Blob, &query, &g_Vars, &decision);
    needHash = policy->HasAnyHashes &&
               !(decision.decided == EWL_DECIDED_PATH &&
                 (decision.action == EWL_ACTION_DENY || !policy->HasDenyHashes));
    if (needHash) {
        if (CreateInfo->FileObject != NULL) {
            hashStatus = EwlHashImage(CreateInfo->FileObject, policy->HasFlatHashes, &hashes);
        }
        if (hashes.HaveAuthenticode) {
            query.authenticode_sha256 = hashes.Authenticode;
        }
        if (hashes.HaveFlat) {
            query.file_sha256 = hashes.Flat;
        }
        ewl_decide(&policy->Blob, &query, &g_Vars, &decision);
    }
    if (decision.action == EWL_ACTION_DENY) {
        EwlReport(ProcessId, CreateInfo, &hashes, hashStatus, &decision);
        if (decision.enforced) {
            CreateInfo->CreationStatus = STATUS_ACCESS_DISABLED_BY_POLICY_DEFAULT;
        }
    }

Exit:
    if (folded.Buffer != NULL) {
        ExFreePoolWithTag(folded.Buffer, EWL_POOL_TAG);
    }
    EwlPolicyRelease(policy);
}

_IRQL_requires_(PASSIVE_LEVEL)
NTSTATUS EwlNotifyRegister(VOID)
{
    NTSTATUS status;

    PAGED_CODE();
    status = PsSetCreateProcessNotifyRoutineEx(EwlCreateProcessNotify, FALSE);
    if (NT_SUCCESS(status)) {
        g_Registered = TRUE;
    }
    return status;
}

/* Returns once every callback in flight has finished. */
_IRQL_requires_(PASSIVE_LEVEL)
VOID EwlNotifyUnregister(VOID)
{
    PAGED_CODE();
    if (g_Registered) {
        (VOID)PsSetCreateProcessNotifyRoutineEx(EwlCreateProcessNotify, TRUE);
        g_Registered = FALSE;
    }
}
