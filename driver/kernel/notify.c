/* The process-creation callback (PsSetCreateProcessNotifyRoutineEx), at
 * PASSIVE_LEVEL in the creating thread (docs/driver.md, "Decide"):
 *
 *   1. a CreationStatus that is already a failure is left alone;
 *   2. no policy: allow (the load reported why);
 *   3. the image's stream (filter.c): a stream whose executable section was
 *      made while a writer was open, or that changed afterwards, is denied
 *      (reported in audit mode) with its own reason, whatever the rules say;
 *   4. a verdict cached in the stream context for this policy generation and
 *      this unchanged stream decides at once;
 *   5. otherwise the core's staged decision (ewl_decide_staged) asks for the
 *      facts it needs, in its order: the path (the file system's normalized
 *      name in its Win32 spelling, path.c), then the digests (read on the
 *      driver's own file object, hash.c). A fact that cannot be had is
 *      MISSING, and the core turns a decision that needed it into a deny with
 *      a reason (never a silent allow);
 *   6. a verdict decided by the rules (not by a missing fact) on a local
 *      stream is cached;
 *   7. every deny and audit would-deny is reported (DbgPrintEx and ETW, with
 *      the reason and the path and hash NTSTATUS); in enforce mode the
 *      creation fails with STATUS_ACCESS_DISABLED_BY_POLICY_DEFAULT. */
#include "ewl_kernel.h"

static BOOLEAN g_Registered;
static BOOLEAN g_UserinitSeen; /* the boot-complete mark is written: no more name checks */

/* The System process: the parent of what the kernel itself starts (smss.exe,
 * Registry, MemCompression). Its id is 4 on every Windows since XP. */
#define EWL_SYSTEM_PROCESS_ID ((HANDLE)(ULONG_PTR)4)

/* Never denied (docs/driver.md, "Boot safety"): a process the kernel itself
 * creates. Its parent is the System process, or it has neither an image file
 * nor an image name (a minimal process). */
static BOOLEAN EwlKernelCreated(_In_ const PS_CREATE_NOTIFY_INFO *CreateInfo)
{
    return CreateInfo->ParentProcessId == EWL_SYSTEM_PROCESS_ID ||
           (CreateInfo->FileObject == NULL && CreateInfo->ImageFileName == NULL);
}

/* Name ends with "\userinit.exe", case-insensitively: winlogon starts it
 * once a user logged on, which is what the boot-complete mark means. */
static BOOLEAN EwlIsUserinit(_In_opt_ PCUNICODE_STRING Name)
{
    UNICODE_STRING userinit = RTL_CONSTANT_STRING(L"\\userinit.exe");
    UNICODE_STRING tail;

    if (Name == NULL || Name->Buffer == NULL || Name->Length < userinit.Length) {
        return FALSE;
    }
    tail.Buffer = (PWCH)((PUCHAR)Name->Buffer + Name->Length - userinit.Length);
    tail.Length = userinit.Length;
    tail.MaximumLength = userinit.Length;
    return RtlEqualUnicodeString(&tail, &userinit, TRUE);
}

/* The kill switch or the boot fallback is on: report, never deny. */
static BOOLEAN EwlAuditOverride(VOID)
{
    return g_EwlSettings.ForceAudit || g_EwlSettings.BootFallback;
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
 * deciding rule, and why the path or the hash is missing when one is) and
 * the same as an ETW event (etw.c). Image is the matched path, else the
 * creator's ImageFileName. Reason, when given, replaces the rule id. */
static VOID EwlReport(_In_ HANDLE ProcessId, _In_ const PS_CREATE_NOTIFY_INFO *CreateInfo,
                      _In_opt_ PCUNICODE_STRING Image, _In_ NTSTATUS PathStatus,
                      _In_ const EWL_IMAGE_HASHES *Hashes, _In_ NTSTATUS HashStatus,
                      _In_ const ewl_decision_t *Decision, _In_opt_ const ANSI_STRING *Reason,
                      _In_ const ANSI_STRING *ReasonKind)
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
    report.Reason = *ReasonKind;
    report.Enforced = Decision->enforced ? TRUE : FALSE;
    DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_WARNING_LEVEL,
               EWL_DBG_PREFIX "%s pid=%lu image=%wZ path_status=0x%08lx sha256=%s "
                              "hash_status=0x%08lx reason=%Z rule=%.*s\n",
               report.Enforced ? "DENY" : "AUDIT-DENY", (ULONG)(ULONG_PTR)ProcessId,
               Image != NULL ? Image : &none, (ULONG)PathStatus,
               report.Sha256.Length != 0 ? hash : "-", (ULONG)HashStatus, &report.Reason,
               (int)report.RuleId.Length, report.RuleId.Buffer);
    EwlEtwProcessDenied(&report);
}

/* The digests, when the image can be trusted to be hashed at all: a local
 * volume we are attached to (or a network one with TrustNetworkHashes=1), a
 * name for the driver's own open. */
_IRQL_requires_(PASSIVE_LEVEL)
static NTSTATUS EwlImageHashes(_In_ PEWL_POLICY Policy, _In_opt_ PFILE_OBJECT FileObject,
                               _In_ const EWL_STREAM_REF *Stream, _Inout_ PEWL_IMAGE_PATH Path,
                               _Inout_ PBOOLEAN PathQueried, _Inout_ PNTSTATUS PathStatus,
                               _Out_ PEWL_IMAGE_HASHES Hashes)
{
    NTSTATUS status;

    PAGED_CODE();
    RtlZeroMemory(Hashes, sizeof(*Hashes));
    if (FileObject == NULL) {
        status = STATUS_INVALID_PARAMETER;
        goto Exit;
    }
    if (Stream->Instance == NULL) {
        status = STATUS_FLT_INSTANCE_NOT_FOUND; /* a volume the filter is not attached to */
        goto Exit;
    }
    if (!Stream->InstanceKnown || (Stream->Network && !g_EwlSettings.TrustNetworkHashes)) {
        status = STATUS_NOT_SUPPORTED; /* the server's answer is not the mapped image */
        goto Exit;
    }
    if (!*PathQueried) {
        *PathStatus = EwlImagePathQuery(FileObject, Stream->Instance, Path);
        *PathQueried = TRUE;
    }
    if (Path->NtName.Length == 0) {
        status = NT_SUCCESS(Path->NameStatus) ? STATUS_OBJECT_NAME_INVALID : Path->NameStatus;
        goto Exit;
    }
    status = EwlHashImage(Stream->Instance, FileObject, &Path->NtName, Policy->HasFlatHashes,
                          Stream->Network ? g_EwlSettings.NetworkReadBudgetMs : 0, Hashes);

Exit:
    return status;
}

/* FNV-1a (64 bits) of a folded path: the cache's key for a verdict that
 * depended on the path. */
static ULONGLONG EwlPathHash(_In_ PCUNICODE_STRING Folded)
{
    ULONGLONG hash = 0xcbf29ce484222325ULL;
    USHORT i;

    for (i = 0; i < Folded->Length / sizeof(WCHAR); i++) {
        hash = (hash ^ Folded->Buffer[i]) * 0x100000001b3ULL;
    }
    return hash;
}

/* No policy and no last known good, with RequirePolicy=1: only images
 * under this system's %WINDIR% run (what Windows needs to boot and to let an
 * administrator deploy a policy); everything else is denied, in enforce mode
 * unless the kill switch or the boot fallback is on. */
_IRQL_requires_(PASSIVE_LEVEL)
static VOID EwlRequirePolicyDecide(_In_ HANDLE ProcessId, _Inout_ PPS_CREATE_NOTIFY_INFO CreateInfo)
{
    static const ANSI_STRING noPolicy =
        RTL_CONSTANT_STRING("(no policy and no last known good: RequirePolicy)");
    static const ANSI_STRING kindNoPolicy = RTL_CONSTANT_STRING("no_policy");
    const ewl_u16str_t *windir = &g_EwlSystemVariables.Values[EWL_PATH_VARIABLE_WINDIR];
    EWL_STREAM_REF stream;
    EWL_IMAGE_PATH path;
    EWL_IMAGE_HASHES hashes;
    ewl_decision_t decision;
    NTSTATUS pathStatus = STATUS_INVALID_PARAMETER; /* no FileObject */
    SIZE_T units;

    PAGED_CODE();
    RtlZeroMemory(&stream, sizeof(stream));
    RtlZeroMemory(&path, sizeof(path));
    RtlZeroMemory(&hashes, sizeof(hashes));
    RtlZeroMemory(&decision, sizeof(decision));
    if (CreateInfo->FileObject != NULL) {
        EwlStreamLookup(CreateInfo->FileObject, &stream);
        pathStatus = EwlImagePathQuery(CreateInfo->FileObject, stream.Instance, &path);
    }
    units = path.Folded.Length / sizeof(WCHAR);
    if (NT_SUCCESS(pathStatus) && windir->len != 0 && units > windir->len &&
        path.Folded.Buffer[windir->len] == L'\\' &&
        RtlCompareMemory(path.Folded.Buffer, windir->units, windir->len * sizeof(WCHAR)) ==
            windir->len * sizeof(WCHAR)) {
        goto Exit; /* under %WINDIR% */
    }
    decision.action = EWL_ACTION_DENY;
    decision.index = EWL_NO_INDEX;
    decision.enforced = EwlAuditOverride() ? 0 : 1;
    EwlReport(ProcessId, CreateInfo, path.Win32.Length != 0 ? &path.Win32 : CreateInfo->ImageFileName,
              path.Win32.Length != 0 ? STATUS_SUCCESS : pathStatus, &hashes, STATUS_NOT_FOUND,
              &decision, &noPolicy, &kindNoPolicy);
    if (decision.enforced) {
        CreateInfo->CreationStatus = STATUS_ACCESS_DISABLED_BY_POLICY_DEFAULT;
    }

Exit:
    EwlStreamRelease(&stream);
    EwlImagePathFree(&path);
}

_IRQL_requires_(PASSIVE_LEVEL)
static VOID EwlCreateProcessNotify(_Inout_ PEPROCESS Process, _In_ HANDLE ProcessId,
                                   _Inout_opt_ PPS_CREATE_NOTIFY_INFO CreateInfo)
{
    static const ANSI_STRING noPath = RTL_CONSTANT_STRING(EWL_REASON_TEXT_NO_PATH);
    static const ANSI_STRING noHash = RTL_CONSTANT_STRING(EWL_REASON_TEXT_NO_HASH);
    static const ANSI_STRING changed = RTL_CONSTANT_STRING("(image stream changed)");
    static const ANSI_STRING kindRule = RTL_CONSTANT_STRING("rule");
    static const ANSI_STRING kindNoPath = RTL_CONSTANT_STRING("no_path");
    static const ANSI_STRING kindNoHash = RTL_CONSTANT_STRING("no_hash");
    static const ANSI_STRING noSigner = RTL_CONSTANT_STRING(EWL_REASON_TEXT_NO_SIGNER);
    static const ANSI_STRING kindNoSigner = RTL_CONSTANT_STRING("no_signer");
    static const ANSI_STRING kindChanged = RTL_CONSTANT_STRING("image_changed");
    PEWL_POLICY policy = NULL;
    PFILE_OBJECT fileObject;
    EWL_STREAM_REF stream;
    EWL_IMAGE_PATH path;
    BOOLEAN pathQueried = FALSE;
    NTSTATUS pathStatus = STATUS_NOT_FOUND; /* not asked */
    EWL_IMAGE_HASHES hashes;
    NTSTATUS hashStatus = STATUS_NOT_FOUND; /* not attempted */
    ewl_facts_t facts;
    ewl_verdict_t verdict;
    const ANSI_STRING *reason = NULL;
    const ANSI_STRING *kind = &kindRule;
    BOOLEAN tainted = FALSE;
    BOOLEAN cached = FALSE;
    LONG modifiedSeq = 0;
    LONG nameSeq = 0;
    ULONGLONG cachedPathHash = 0;
    ULONG cachedPathUnits = 0;
    KIRQL irql;

    UNREFERENCED_PARAMETER(Process);
    PAGED_CODE();
    RtlZeroMemory(&stream, sizeof(stream));
    RtlZeroMemory(&path, sizeof(path));
    RtlZeroMemory(&hashes, sizeof(hashes));
    RtlZeroMemory(&facts, sizeof(facts));
    RtlZeroMemory(&verdict, sizeof(verdict));
    if (CreateInfo == NULL || !NT_SUCCESS(CreateInfo->CreationStatus)) {
        goto Exit; /* process exit, or already failed: never overwrite */
    }
    if (EwlKernelCreated(CreateInfo)) {
        goto Exit; /* the kernel's own: never denied */
    }
    fileObject = CreateInfo->FileObject;
    policy = EwlPolicyAcquire();
    if (policy == NULL) {
        if (g_EwlSettings.RequirePolicy) {
            EwlRequirePolicyDecide(ProcessId, CreateInfo);
        }
        goto Exit;
    }
    if (fileObject != NULL) {
        EwlStreamLookup(fileObject, &stream);
    }
    if (stream.Stream != NULL) {
        PEWL_STREAM_CONTEXT s = stream.Stream;
        KeAcquireSpinLock(&s->Lock, &irql);
        tainted = s->ImageTainted;
        modifiedSeq = s->ModifiedSeq;
        nameSeq = s->NameSeq;
        if (!tainted && s->CacheValid && s->CacheGeneration == policy->Generation &&
            s->CacheModifiedSeq == modifiedSeq &&
            (!(s->CacheVerdict.depends & EWL_DEPENDS_PATH) || s->CacheNameSeq == nameSeq)) {
            verdict = s->CacheVerdict;
            hashes = s->CacheHashes;
            cachedPathHash = s->CachePathHash;
            cachedPathUnits = s->CachePathUnits;
            cached = TRUE;
        }
        KeReleaseSpinLock(&s->Lock, irql);
    }
    if (cached && (IoGetTransactionParameterBlock(fileObject) != NULL || fileObject->DeletePending)) {
        /* This file object sees a transaction's view, or a file going away:
         * decide afresh (hash.c refuses a digest for either). */
        cached = FALSE;
        RtlZeroMemory(&verdict, sizeof(verdict));
        RtlZeroMemory(&hashes, sizeof(hashes));
    }
    if (cached && (verdict.depends & EWL_DEPENDS_PATH)) {
        /* The stream's other hard links have other paths: the cached verdict
         * holds only for the path it was decided on. */
        pathStatus = EwlImagePathQuery(fileObject, stream.Instance, &path);
        pathQueried = TRUE;
        facts.path_state = NT_SUCCESS(pathStatus) ? EWL_FACT_KNOWN : EWL_FACT_MISSING;
        facts.path = (const uint16_t *)path.Folded.Buffer;
        facts.path_len = path.Folded.Length / sizeof(WCHAR);
        if (!NT_SUCCESS(pathStatus) || facts.path_len != cachedPathUnits ||
            EwlPathHash(&path.Folded) != cachedPathHash) {
            cached = FALSE;
            RtlZeroMemory(&verdict, sizeof(verdict));
            RtlZeroMemory(&hashes, sizeof(hashes));
        }
    }
    if (tainted) {
        /* The mapped image may not be the file: whatever the rules say. */
        verdict.decision.action = EWL_ACTION_DENY;
        verdict.decision.enforced = (policy->Blob.flags & EWL_FLAG_AUDIT) == 0;
        hashStatus = STATUS_SHARING_VIOLATION;
        reason = &changed;
        kind = &kindChanged;
        goto Decided;
    }
    if (cached) {
        hashStatus = hashes.HaveAuthenticode || hashes.HaveFlat ? STATUS_SUCCESS : STATUS_NOT_FOUND;
        if (!pathQueried) {
            pathStatus = STATUS_SUCCESS; /* asked for below if a deny is reported */
        }
        goto Decided;
    }
    /* The staged decision: ask for what it needs, in its order. */
    for (;;) {
        ewl_decide_staged(&policy->Blob, &facts, &policy->Variables.Vars, &verdict);
        if (verdict.next == EWL_NEXT_PATH) {
            pathStatus = STATUS_INVALID_PARAMETER; /* no FileObject */
            if (fileObject != NULL) {
                pathStatus = EwlImagePathQuery(fileObject, stream.Instance, &path);
                pathQueried = TRUE;
            }
            facts.path_state = NT_SUCCESS(pathStatus) ? EWL_FACT_KNOWN : EWL_FACT_MISSING;
            facts.path = (const uint16_t *)path.Folded.Buffer;
            facts.path_len = path.Folded.Length / sizeof(WCHAR);
        } else if (verdict.next == EWL_NEXT_HASH) {
            hashStatus = EwlImageHashes(policy, fileObject, &stream, &path, &pathQueried,
                                        &pathStatus, &hashes);
            /* A complete pass is KNOWN even without a digest (not a PE, and
             * no flat rules): the core then decides without one. */
            facts.hash_state =
                NT_SUCCESS(hashStatus) && hashStatus != STATUS_OPLOCK_BREAK_IN_PROGRESS
                    ? EWL_FACT_KNOWN
                    : EWL_FACT_MISSING;
            facts.authenticode_sha256 = hashes.HaveAuthenticode ? hashes.Authenticode : NULL;
            facts.file_sha256 = hashes.HaveFlat ? hashes.Flat : NULL;
        } else if (verdict.next == EWL_NEXT_SIGNER) {
            /* The driver cannot verify signers yet (and refuses policies that
             * need them): not to be had, which fails closed. */
            facts.signer_state = EWL_FACT_MISSING;
        } else {
            break;
        }
    }
    if (verdict.reason == EWL_REASON_NO_HASH) {
        reason = &noHash;
        kind = &kindNoHash;
    } else if (verdict.reason == EWL_REASON_NO_PATH) {
        reason = &noPath;
        kind = &kindNoPath;
    } else if (verdict.reason == EWL_REASON_NO_SIGNER) {
        reason = &noSigner;
        kind = &kindNoSigner;
    } else if (stream.Stream != NULL && !stream.Network) {
        /* Decided by the rules on facts about an unchanged local stream:
         * cache it, unless the stream changed while we decided. */
        PEWL_STREAM_CONTEXT s = stream.Stream;
        ULONGLONG pathHash = (verdict.depends & EWL_DEPENDS_PATH) ? EwlPathHash(&path.Folded) : 0;
        KeAcquireSpinLock(&s->Lock, &irql);
        if (s->ModifiedSeq == modifiedSeq && s->NameSeq == nameSeq && !s->ImageTainted) {
            s->CacheValid = TRUE;
            s->CacheGeneration = policy->Generation;
            s->CacheModifiedSeq = modifiedSeq;
            s->CacheNameSeq = nameSeq;
            s->CacheVerdict = verdict;
            s->CacheHashes = hashes;
            s->CachePathUnits = (ULONG)(path.Folded.Length / sizeof(WCHAR));
            s->CachePathHash = pathHash;
        }
        KeReleaseSpinLock(&s->Lock, irql);
    }

Decided:
    if (EwlAuditOverride()) {
        verdict.decision.enforced = 0;
    }
    if (verdict.decision.action == EWL_ACTION_DENY) {
        if (fileObject != NULL && !pathQueried) {
            pathStatus = EwlImagePathQuery(fileObject, stream.Instance, &path);
            pathQueried = TRUE;
        }
        EwlReport(ProcessId, CreateInfo,
                  path.Win32.Length != 0 ? &path.Win32 : CreateInfo->ImageFileName,
                  path.Win32.Length != 0 ? STATUS_SUCCESS : pathStatus, &hashes, hashStatus,
                  &verdict.decision, reason, kind);
        if (verdict.decision.enforced) {
            CreateInfo->CreationStatus = STATUS_ACCESS_DISABLED_BY_POLICY_DEFAULT;
        }
    }

Exit:
    if (CreateInfo != NULL && !g_UserinitSeen && NT_SUCCESS(CreateInfo->CreationStatus) &&
        EwlIsUserinit(CreateInfo->ImageFileName)) {
        g_UserinitSeen = TRUE;
        EwlBootCompleteMark();
    }
    EwlStreamRelease(&stream);
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
