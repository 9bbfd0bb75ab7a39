/* The process-creation callback (PsSetCreateProcessNotifyRoutineEx), at
 * PASSIVE_LEVEL in the creating thread:
 *
 *   1. a CreationStatus that is already a failure is left alone;
 *   2. no policy: allow (the load reported why);
 *   3. decide by path first: the normalized Win32 path of the FileObject
 *      (path.c), never the caller's spelling in ImageFileName; hash only
 *      when the decision can depend on a hash: a matching deny path rule
 *      decides at once, a matching allow path rule only when the policy has
 *      no deny hash rules;
 *   4. otherwise hash the image through CreateInfo->FileObject (hash.c) and
 *      decide again with the digests;
 *   5. an image without a path cannot be checked against deny path rules:
 *      when the policy has any, it is denied (fail closed);
 *   6. report every deny and audit would-deny (DbgPrintEx and ETW); in
 *      enforce mode set STATUS_ACCESS_DISABLED_BY_POLICY_DEFAULT. */
#include "ewl_kernel.h"

static BOOLEAN g_Registered;

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
 * deciding rule, and why the path or the hash is missing when one is) and
 * the same as an ETW event (etw.c). Image is the matched path, else the
 * creator's ImageFileName. Reason, when given, replaces the rule id. */
static VOID EwlReport(_In_ HANDLE ProcessId, _In_ const PS_CREATE_NOTIFY_INFO *CreateInfo,
                      _In_opt_ PCUNICODE_STRING Image, _In_ NTSTATUS PathStatus,
                      _In_ const EWL_IMAGE_HASHES *Hashes, _In_ NTSTATUS HashStatus,
                      _In_ const ewl_decision_t *Decision, _In_opt_ const ANSI_STRING *Reason)
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
    if (Image != NULL) {
        report.Image = *Image;
    }
    report.PathStatus = PathStatus;
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
    if (Reason != NULL) {
        report.RuleId = *Reason;
    } else if (Decision->default_id) {
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
               EWL_DBG_PREFIX "%s pid=%lu image=%wZ path_status=0x%08lx sha256=%s "
                              "hash_status=0x%08lx rule=%.*s\n",
               report.Enforced ? "DENY" : "AUDIT-DENY", (ULONG)(ULONG_PTR)ProcessId,
               Image != NULL ? Image : &none, (ULONG)PathStatus,
               report.Sha256.Length != 0 ? hash : "-", (ULONG)HashStatus,
               (int)report.RuleId.Length, report.RuleId.Buffer);
    EwlEtwProcessDenied(&report);
}

_IRQL_requires_(PASSIVE_LEVEL)
static VOID EwlCreateProcessNotify(_Inout_ PEPROCESS Process, _In_ HANDLE ProcessId,
                                   _Inout_opt_ PPS_CREATE_NOTIFY_INFO CreateInfo)
{
    static const ANSI_STRING noPath = RTL_CONSTANT_STRING("(no path to check deny path rules)");
    PEWL_POLICY policy = NULL;
    EWL_IMAGE_PATH path;
    NTSTATUS pathStatus = STATUS_INVALID_PARAMETER; /* no FileObject */
    EWL_IMAGE_HASHES hashes;
    NTSTATUS hashStatus = STATUS_NOT_FOUND; /* not attempted */
    ewl_query_t query = {NULL, NULL, NULL, 0};
    ewl_decision_t decision;
    const ANSI_STRING *reason = NULL;
    BOOLEAN needHash;

    UNREFERENCED_PARAMETER(Process);
    PAGED_CODE();
    RtlZeroMemory(&path, sizeof(path));
    RtlZeroMemory(&hashes, sizeof(hashes));
    if (CreateInfo == NULL || !NT_SUCCESS(CreateInfo->CreationStatus)) {
        goto Exit; /* process exit, or already failed: never overwrite */
    }
    policy = EwlPolicyAcquire();
    if (policy == NULL) {
        goto Exit;
    }
    /* The name query costs a Filter Manager and a mount manager round trip:
     * only when path rules need it (or, below, a report). */
    if (CreateInfo->FileObject != NULL && policy->HasPathRules) {
        pathStatus = EwlImagePathQuery(CreateInfo->FileObject, &path);
    }
    if (NT_SUCCESS(pathStatus)) {
        query.path = (const uint16_t *)path.Folded.Buffer;
        query.path_len = path.Folded.Length / sizeof(WCHAR);
    }
    ewl_decide(&policy->Blob, &query, &policy->Variables.Vars, &decision);
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
        ewl_decide(&policy->Blob, &query, &policy->Variables.Vars, &decision);
    }
    if (decision.action == EWL_ACTION_ALLOW && !NT_SUCCESS(pathStatus) && policy->HasDenyPaths) {
        decision.action = EWL_ACTION_DENY;
        reason = &noPath;
    }
    if (decision.action == EWL_ACTION_DENY) {
        if (CreateInfo->FileObject != NULL && !policy->HasPathRules) {
            pathStatus = EwlImagePathQuery(CreateInfo->FileObject, &path);
        }
        EwlReport(ProcessId, CreateInfo,
                  NT_SUCCESS(pathStatus) ? &path.Win32 : CreateInfo->ImageFileName, pathStatus,
                  &hashes, hashStatus, &decision, reason);
        if (decision.enforced) {
            CreateInfo->CreationStatus = STATUS_ACCESS_DISABLED_BY_POLICY_DEFAULT;
        }
    }

Exit:
    EwlImagePathFree(&path);
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
