/* The process-creation callback (PsSetCreateProcessNotifyRoutineEx2 with
 * PsCreateProcessNotifySubsystems where the system has it, else
 * PsSetCreateProcessNotifyRoutineEx), at PASSIVE_LEVEL in the creating
 * thread (docs/driver.md, "Decide"):
 *
 *   1. a CreationStatus that is already a failure is left alone; so is a
 *      process the kernel itself creates;
 *   2. a subsystem (WSL1 Pico) process gets what SubsystemProcesses says:
 *      allowed undecided, decided but never denied (audit), or decided by the
 *      rules like any other (the default);
 *   3. no policy: allow (the load reported why), or RequirePolicy's rule;
 *   4. the image is decided by decide.c (stream state, verdict cache, the
 *      core's staged decision: the same as an image load's);
 *   5. every deny and audit would-deny is reported (DbgPrintEx and ETW, with
 *      the reason and the path and hash NTSTATUS); in enforce mode the
 *      creation fails with STATUS_ACCESS_DISABLED_BY_POLICY_DEFAULT. */
#include "ewl_kernel.h"

static BOOLEAN g_Registered;
static BOOLEAN g_UserinitSeen; /* the boot-complete mark is written: no more name checks */
/* PS_CREATE_NOTIFY_INFO.IsSubsystemProcess (bit 1 of Flags; mingw-w64's
 * header predates it): set only for a routine registered with ...Ex2. */
#define EWL_IS_SUBSYSTEM_PROCESS 0x2u

/* The System process: the parent of what the kernel itself starts (smss.exe,
 * Registry, MemCompression). Its id is 4 on every Windows since XP. */
#define EWL_SYSTEM_PROCESS_ID ((HANDLE)(ULONG_PTR)4)

/* Never denied (docs/driver.md, "Boot safety"): a process the kernel itself
 * creates. Its parent is the System process, or it has neither an image file
 * nor an image name (a minimal process) and is no subsystem process (a Pico
 * provider need not pass either: that one is decided, fail closed). */
static BOOLEAN EwlKernelCreated(_In_ const PS_CREATE_NOTIFY_INFO *CreateInfo)
{
    return CreateInfo->ParentProcessId == EWL_SYSTEM_PROCESS_ID ||
           (CreateInfo->FileObject == NULL && CreateInfo->ImageFileName == NULL &&
            !(CreateInfo->Flags & EWL_IS_SUBSYSTEM_PROCESS));
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

/* Every deny and audit would-deny: one DbgPrintEx line (pid, image, hash,
 * deciding rule, and why the path or the hash is missing when one is) and
 * the same as an ETW event (etw.c). Image is the matched path, else the
 * creator's ImageFileName. Reason, when given, replaces the rule id.
 * Decided, when the rules decided, gives the signer stage's result. */
static VOID EwlReport(_In_ HANDLE ProcessId, _In_ const PS_CREATE_NOTIFY_INFO *CreateInfo,
                      _In_opt_ PCUNICODE_STRING Image, _In_ NTSTATUS PathStatus,
                      _In_ const EWL_IMAGE_HASHES *Hashes, _In_ NTSTATUS HashStatus,
                      _In_ const ewl_decision_t *Decision, _In_opt_ const ANSI_STRING *Reason,
                      _In_ const ANSI_STRING *ReasonKind,
                      _In_opt_ const EWL_IMAGE_DECISION *Decided)
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
        EwlHexDigest(Hashes->Authenticode, hash);
        report.Sha256Kind = authenticode;
    } else if (Hashes->HaveFlat) {
        EwlHexDigest(Hashes->Flat, hash);
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
    EwlImageDecisionSigner(Decided, &report);
    DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_WARNING_LEVEL,
               EWL_DBG_PREFIX "%s pid=%lu image=%wZ path_status=0x%08lx sha256=%s "
                              "hash_status=0x%08lx reason=%Z rule=%.*s\n",
               report.Enforced ? "DENY" : "AUDIT-DENY", (ULONG)(ULONG_PTR)ProcessId,
               Image != NULL ? Image : &none, (ULONG)PathStatus,
               report.Sha256.Length != 0 ? hash : "-", (ULONG)HashStatus, &report.Reason,
               (int)report.RuleId.Length, report.RuleId.Buffer);
    EwlEtwProcessDenied(&report);
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
              &decision, &noPolicy, &kindNoPolicy, NULL);
    if (decision.enforced) {
        CreateInfo->CreationStatus = STATUS_ACCESS_DISABLED_BY_POLICY_DEFAULT;
    }

Exit:
    EwlStreamRelease(&stream);
    EwlImagePathFree(&path);
}

/* A subsystem process (WSL1 Pico: registered with ...Ex2 only): what the
 * SubsystemProcesses setting says (docs/driver.md, "Subsystem processes").
 * TRUE when it is not to be decided at all. Audit decides it by the rules
 * but never denies. */
static BOOLEAN EwlSubsystemSkip(_In_ const PS_CREATE_NOTIFY_INFO *CreateInfo, _Out_ PBOOLEAN Audit)
{
    *Audit = FALSE;
    if (!(CreateInfo->Flags & EWL_IS_SUBSYSTEM_PROCESS)) {
        return FALSE; /* a Win32 process */
    }
    if (g_EwlSettings.SubsystemProcesses == EWL_SUBSYSTEM_ALLOW) {
        return TRUE;
    }
    *Audit = g_EwlSettings.SubsystemProcesses == EWL_SUBSYSTEM_AUDIT;
    return FALSE;
}

_IRQL_requires_(PASSIVE_LEVEL)
static VOID EwlCreateProcessNotify(_Inout_ PEPROCESS Process, _In_ HANDLE ProcessId,
                                   _Inout_opt_ PPS_CREATE_NOTIFY_INFO CreateInfo)
{
    PEWL_POLICY policy = NULL;
    PFILE_OBJECT fileObject;
    EWL_STREAM_REF stream;
    EWL_IMAGE_DECISION decision;
    BOOLEAN subsystemAudit = FALSE;

    UNREFERENCED_PARAMETER(Process);
    PAGED_CODE();
    RtlZeroMemory(&stream, sizeof(stream));
    RtlZeroMemory(&decision, sizeof(decision));
    if (CreateInfo == NULL || !NT_SUCCESS(CreateInfo->CreationStatus)) {
        goto Exit; /* process exit, or already failed: never overwrite */
    }
    if (EwlKernelCreated(CreateInfo)) {
        goto Exit; /* the kernel's own: never denied */
    }
    if (EwlSubsystemSkip(CreateInfo, &subsystemAudit)) {
        goto Exit; /* SubsystemProcesses=0: allowed, not decided */
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
    EwlImageDecide(policy, fileObject, &stream, &decision);
    if (stream.Instance != NULL) {
        /* The image section was this process's, not an image load: decided
         * and reported here, once, and not again at the cleanup. */
        EwlImageReportClaim(stream.Instance, fileObject);
    }
    if (EwlAuditOverride() || subsystemAudit) {
        decision.Verdict.decision.enforced = 0;
    }
    if (decision.Verdict.decision.action == EWL_ACTION_DENY) {
        EwlImageDecisionPath(fileObject, &stream, &decision);
        EwlReport(ProcessId, CreateInfo,
                  decision.Path.Win32.Length != 0 ? &decision.Path.Win32
                                                  : CreateInfo->ImageFileName,
                  decision.Path.Win32.Length != 0 ? STATUS_SUCCESS : decision.PathStatus,
                  &decision.Hashes, decision.HashStatus, &decision.Verdict.decision,
                  decision.Reason, decision.Kind, &decision);
        if (decision.Verdict.decision.enforced) {
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
    EwlImageDecisionFree(&decision);
    EwlPolicyRelease(policy);
}

/* PsSetCreateProcessNotifyRoutineEx2 (Windows 10 1703+): resolved at run
 * time (mingw-w64 has no import for it, and older systems do not export it).
 * With it the callback also sees subsystem (WSL1 Pico) processes; without
 * it, PsSetCreateProcessNotifyRoutineEx, which never reports them. */
typedef NTSTATUS NTAPI EWL_SET_NOTIFY_EX2(_In_ ULONG NotifyType, _In_ PVOID NotifyInformation,
                                          _In_ BOOLEAN Remove);
static EWL_SET_NOTIFY_EX2 *g_SetNotifyEx2;
#define EWL_PS_CREATE_PROCESS_NOTIFY_SUBSYSTEMS 0 /* PsCreateProcessNotifySubsystems */

_IRQL_requires_(PASSIVE_LEVEL)
NTSTATUS EwlNotifyRegister(VOID)
{
    NTSTATUS status;
    UNICODE_STRING name = RTL_CONSTANT_STRING(L"PsSetCreateProcessNotifyRoutineEx2");

    PAGED_CODE();
    g_SetNotifyEx2 = (EWL_SET_NOTIFY_EX2 *)MmGetSystemRoutineAddress(&name);
    if (g_SetNotifyEx2 != NULL) {
        status = g_SetNotifyEx2(EWL_PS_CREATE_PROCESS_NOTIFY_SUBSYSTEMS,
                                (PVOID)EwlCreateProcessNotify, FALSE);
        if (NT_SUCCESS(status)) {
            g_Registered = TRUE;
            goto Exit;
        }
        DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_ERROR_LEVEL,
                   EWL_DBG_PREFIX "PsSetCreateProcessNotifyRoutineEx2: 0x%08lx; subsystem "
                                  "processes are not seen\n",
                   (ULONG)status);
        g_SetNotifyEx2 = NULL;
    } else {
        DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_WARNING_LEVEL,
                   EWL_DBG_PREFIX "no PsSetCreateProcessNotifyRoutineEx2 on this system: "
                                  "subsystem processes are not seen\n");
    }
    status = PsSetCreateProcessNotifyRoutineEx(EwlCreateProcessNotify, FALSE);
    if (NT_SUCCESS(status)) {
        g_Registered = TRUE;
    }

Exit:
    return status;
}

/* Returns once every callback in flight has finished (both routines). */
_IRQL_requires_(PASSIVE_LEVEL)
VOID EwlNotifyUnregister(VOID)
{
    PAGED_CODE();
    if (g_Registered) {
        if (g_SetNotifyEx2 != NULL) {
            (VOID)g_SetNotifyEx2(EWL_PS_CREATE_PROCESS_NOTIFY_SUBSYSTEMS,
                                 (PVOID)EwlCreateProcessNotify, TRUE);
            g_SetNotifyEx2 = NULL;
        } else {
            (VOID)PsSetCreateProcessNotifyRoutineEx(EwlCreateProcessNotify, TRUE);
        }
        g_Registered = FALSE;
    }
}
