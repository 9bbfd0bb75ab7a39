/* Image loads (docs/driver.md, "Image loads"): every executable image
 * section, DLL or program, is decided when it is created, at
 * IRP_MJ_ACQUIRE_FOR_SECTION_SYNCHRONIZATION (SyncTypeCreateSection, an
 * executable page protection, SEC_IMAGE where the system says), with the same
 * rules, the same staged decision and the same verdict cache as a process
 * (decide.c), as WDAC decides every PE image. filter.c calls
 * EwlImageLoadDecide once it has recorded the stream's state (so an image
 * made while a writer is open is denied as image_changed).
 *
 *   - ImageLoads (service value): 0 off (nothing decided here), 1 audit (the
 *     default: decided and reported, never refused), 2 enforce (refused when
 *     the policy is in enforce mode and neither the kill switch nor the boot
 *     fallback is on).
 *   - A DLL (IMAGE_FILE_DLL set) is never a process's main image: decided,
 *     reported and refused here. A program (IMAGE_FILE_DLL clear), or an
 *     image whose header cannot be trusted (it may be one), may be mapped
 *     for a new process (NtCreateUserProcess, in the creator) or as a library
 *     (LoadLibrary("tool.exe")), and nothing in the callback tells which:
 *       . when it can be refused (ImageLoads=2 ...): decided here; a deny
 *         refuses the section whatever maps it, so a denied program never
 *         runs, as a process or as a library, and is reported once, here
 *         (the process never exists); an allow is cached, and the process
 *         callback's decision is the cached one;
 *       . otherwise: its report waits. The file object is marked
 *         (EwlImageReportDefer); the process callback claims it when it
 *         decides the process made from it (reported there, once); a mark
 *         still there when the file object is cleaned up (the loader closes
 *         its file handle right after NtCreateSection) is a library load:
 *         decided and reported then, as an audit, with the process closing
 *         the handle (EwlImageLoadDeferredReport).
 *   - Not decided: sections made in the System process (the kernel's own),
 *     and every image mapped before the driver started (ntdll, KnownDlls:
 *     their sections already exist and are reused without a new section).
 *   - A refusal completes the operation with EWL_STATUS_IMAGE_LOAD_DENIED
 *     (STATUS_ACCESS_DENIED). Inside a critical process (one whose end
 *     bugchecks: ProcessBreakOnTermination) a deny is only reported unless
 *     EnforceImageLoadsInCriticalProcesses=1.
 *   - Every deny and audit would-deny: one DbgPrintEx line and an
 *     ImageLoadDenied / ImageLoadAuditDenied event naming the loading
 *     process (id and image) and the image. */
#include "ewl_kernel.h"

#define EWL_SYSTEM_PROCESS_ID ((HANDLE)(ULONG_PTR)4)
#define EWL_SEC_IMAGE 0x01000000u
#define EWL_IMAGE_FILE_DLL 0x2000u /* IMAGE_FILE_HEADER.Characteristics */

/* Whether the current process is critical (ProcessBreakOnTermination): a
 * refused DLL there may end it, and with it the machine. Unknown: not. */
_IRQL_requires_(PASSIVE_LEVEL)
static BOOLEAN EwlCurrentProcessCritical(VOID)
{
    ULONG critical = 0;
    NTSTATUS status;

    PAGED_CODE();
    status = ZwQueryInformationProcess(ZwCurrentProcess(), ProcessBreakOnTermination, &critical,
                                       sizeof(critical), NULL);
    return NT_SUCCESS(status) && critical != 0;
}

/* The kind kept in the stream context for the unchanged stream, or 0. */
_IRQL_requires_max_(DISPATCH_LEVEL)
static UCHAR EwlCachedKind(_In_ PEWL_STREAM_CONTEXT Stream)
{
    UCHAR kind = 0;
    KIRQL irql;

    KeAcquireSpinLock(&Stream->Lock, &irql);
    if (Stream->Kind != 0 && Stream->KindModifiedSeq == Stream->ModifiedSeq &&
        !Stream->ImageTainted) {
        kind = Stream->Kind;
    }
    KeReleaseSpinLock(&Stream->Lock, irql);
    return kind;
}

/* What the stream's PE header says it is: from the stream context while the
 * stream is unchanged, else read (own file object) and kept. */
_IRQL_requires_max_(APC_LEVEL)
static UCHAR EwlImageKind(_In_ PCFLT_RELATED_OBJECTS FltObjects,
                          _In_ PEWL_STREAM_CONTEXT Stream, _In_ BOOLEAN OnNetwork,
                          _Inout_ PEWL_IMAGE_DECISION Decision, _In_ const EWL_STREAM_REF *Ref)
{
    UCHAR kind = 0;
    LONG modifiedSeq;
    USHORT characteristics = 0;
    BOOLEAN tainted;
    KIRQL irql;

    PAGED_CODE();
    KeAcquireSpinLock(&Stream->Lock, &irql);
    modifiedSeq = Stream->ModifiedSeq;
    tainted = Stream->ImageTainted;
    if (Stream->Kind != 0 && Stream->KindModifiedSeq == modifiedSeq) {
        kind = Stream->Kind;
    }
    KeReleaseSpinLock(&Stream->Lock, irql);
    if (tainted) {
        kind = 0; /* a writer can change the header after our read: unknown */
        goto Exit;
    }
    if (kind != 0) {
        goto Exit;
    }
    if (OnNetwork && !g_EwlSettings.TrustNetworkHashes) {
        goto Exit; /* the server's header is not the mapped image's: unknown */
    }
    EwlImageDecisionPath(FltObjects->FileObject, Ref, Decision);
    if (Decision->Path.NtName.Length == 0 ||
        !NT_SUCCESS(EwlImageCharacteristics(FltObjects->Instance, FltObjects->FileObject,
                                            &Decision->Path.NtName, &characteristics))) {
        goto Exit; /* unknown: decided here (fail closed) */
    }
    kind = (characteristics & EWL_IMAGE_FILE_DLL) ? EWL_KIND_DLL : EWL_KIND_PROGRAM;
    if (OnNetwork) {
        goto Exit; /* never cached on the network (as verdicts) */
    }
    KeAcquireSpinLock(&Stream->Lock, &irql);
    if (Stream->ModifiedSeq == modifiedSeq && !Stream->ImageTainted) {
        Stream->Kind = kind;
        Stream->KindModifiedSeq = modifiedSeq;
    }
    KeReleaseSpinLock(&Stream->Lock, irql);

Exit:
    return kind;
}

/* One DbgPrintEx line and one ETW event per deny or audit would-deny. */
_IRQL_requires_(PASSIVE_LEVEL)
static VOID EwlImageLoadReport(_In_ const EWL_IMAGE_DECISION *Decision, _In_ BOOLEAN Enforced,
                               _In_ BOOLEAN Critical)
{
    char hash[2 * EWL_HASH_SIZE + 1];
    char rule[EWL_DEFAULT_ID_MAX + 1];
    EWL_DENY_REPORT report;
    const ewl_decision_t *decision = &Decision->Verdict.decision;
    PUNICODE_STRING processImage = NULL;
    ANSI_STRING defaultDeny = RTL_CONSTANT_STRING("(default deny)");
    ANSI_STRING authenticode = RTL_CONSTANT_STRING("authenticode");
    ANSI_STRING file = RTL_CONSTANT_STRING("file");
    UNICODE_STRING none = RTL_CONSTANT_STRING(L"(unknown)");

    PAGED_CODE();
    RtlZeroMemory(&report, sizeof(report));
    report.ProcessId = PsGetCurrentProcessId();
    if (NT_SUCCESS(SeLocateProcessImageName(PsGetCurrentProcess(), &processImage)) &&
        processImage != NULL) {
        report.ProcessImage = *processImage;
    } else {
        processImage = NULL;
    }
    report.Image = Decision->Path.Win32;
    report.PathStatus = Decision->Path.Win32.Length != 0 ? STATUS_SUCCESS : Decision->PathStatus;
    if (Decision->Hashes.HaveAuthenticode) {
        EwlHexDigest(Decision->Hashes.Authenticode, hash);
        report.Sha256Kind = authenticode;
    } else if (Decision->Hashes.HaveFlat) {
        EwlHexDigest(Decision->Hashes.Flat, hash);
        report.Sha256Kind = file;
    }
    if (report.Sha256Kind.Length != 0) {
        report.Sha256.Buffer = hash;
        report.Sha256.Length = 2 * EWL_HASH_SIZE;
        report.Sha256.MaximumLength = sizeof(hash);
    }
    report.HashStatus = Decision->HashStatus;
    report.RuleId = defaultDeny;
    if (Decision->Reason != NULL) {
        report.RuleId = *Decision->Reason;
    } else if (decision->default_id) {
        report.RuleId.Buffer = rule;
        report.RuleId.Length = (USHORT)ewl_default_rule_id(decision, rule, sizeof(rule));
        report.RuleId.MaximumLength = sizeof(rule);
    } else if (decision->rule_id != NULL) {
        report.RuleId.Buffer = (PCHAR)decision->rule_id; /* at most 256 bytes (blob format) */
        report.RuleId.Length = (USHORT)decision->rule_id_len;
        report.RuleId.MaximumLength = report.RuleId.Length;
    }
    report.Reason = *Decision->Kind;
    report.Enforced = Enforced;
    report.CriticalProcess = Critical;
    EwlImageDecisionSigner(Decision, &report);
    DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_WARNING_LEVEL,
               EWL_DBG_PREFIX "%s pid=%lu process=%wZ critical=%u image=%wZ path_status=0x%08lx "
                              "sha256=%s hash_status=0x%08lx reason=%Z rule=%.*s\n",
               Enforced ? "IMAGE-DENY" : "IMAGE-AUDIT-DENY",
               (ULONG)(ULONG_PTR)report.ProcessId,
               report.ProcessImage.Length != 0 ? &report.ProcessImage : &none, (unsigned)Critical,
               report.Image.Length != 0 ? &report.Image : &none, (ULONG)report.PathStatus,
               report.Sha256.Length != 0 ? hash : "-", (ULONG)report.HashStatus, &report.Reason,
               (int)report.RuleId.Length, report.RuleId.Buffer);
    EwlEtwImageLoadDenied(&report);
    if (processImage != NULL) {
        ExFreePool(processImage); /* SeLocateProcessImageName's allocation */
    }
}

/* Whether a deny of this section could be refused at all (the loading
 * process's criticality aside): image loads enforced, the policy in enforce
 * mode, neither the kill switch nor the boot fallback. */
static BOOLEAN EwlImageLoadsEnforced(_In_ const EWL_POLICY *Policy)
{
    return g_EwlSettings.ImageLoads == EWL_IMAGE_LOADS_ENFORCE &&
           (Policy->Blob.flags & EWL_FLAG_AUDIT) == 0 && !g_EwlSettings.ForceAudit &&
           !g_EwlSettings.BootFallback;
}

/* The section callback's own view of the stream: its instance and stream
 * context are borrowed (no reference taken); the instance context returned
 * in *Instance is referenced, and the caller releases it. */
_IRQL_requires_max_(APC_LEVEL)
static VOID EwlImageLoadRef(_In_ PCFLT_RELATED_OBJECTS FltObjects,
                            _In_opt_ PEWL_STREAM_CONTEXT Stream, _Out_ PEWL_STREAM_REF Ref,
                            _Outptr_result_maybenull_ PEWL_INSTANCE_CONTEXT *Instance)
{
    RtlZeroMemory(Ref, sizeof(*Ref));
    Ref->Instance = FltObjects->Instance;
    Ref->Stream = Stream;
    if (NT_SUCCESS(FltGetInstanceContext(FltObjects->Instance, (PFLT_CONTEXT *)Instance))) {
        Ref->InstanceKnown = TRUE;
        Ref->Network = (*Instance)->Network;
    } else {
        *Instance = NULL;
    }
}

_IRQL_requires_max_(APC_LEVEL)
FLT_PREOP_CALLBACK_STATUS EwlImageLoadDecide(_Inout_ PFLT_CALLBACK_DATA Data,
                                             _In_ PCFLT_RELATED_OBJECTS FltObjects,
                                             _In_ PEWL_STREAM_CONTEXT Stream)
{
    FLT_PREOP_CALLBACK_STATUS result = FLT_PREOP_SUCCESS_NO_CALLBACK;
    ULONG attributes = Data->Iopb->Parameters.AcquireForSectionSynchronization.AllocationAttributes;
    PEWL_POLICY policy = NULL;
    PEWL_INSTANCE_CONTEXT instance = NULL;
    EWL_STREAM_REF ref;
    EWL_IMAGE_DECISION decision;
    UCHAR kind;
    BOOLEAN enforced;
    BOOLEAN critical = FALSE;

    PAGED_CODE();
    RtlZeroMemory(&ref, sizeof(ref));
    RtlZeroMemory(&decision, sizeof(decision));
    if (g_EwlSettings.ImageLoads == EWL_IMAGE_LOADS_OFF) {
        goto Exit;
    }
    /* Systems that pass AllocationAttributes say which sections are images;
     * older ones leave it 0 and the execute protection stands for SEC_IMAGE. */
    if (attributes != 0 && !(attributes & EWL_SEC_IMAGE)) {
        goto Exit;
    }
    if (PsGetCurrentProcessId() == EWL_SYSTEM_PROCESS_ID) {
        goto Exit; /* the kernel's own mappings: never decided */
    }
    policy = EwlPolicyAcquire();
    if (policy == NULL) {
        goto Exit; /* no policy: image loads are not decided (docs) */
    }
    /* A program's section that cannot be refused is not decided here: if it
     * becomes a process, the process callback decides and reports it (once);
     * if not (a library), its report waits for its file object's cleanup
     * (EwlImageLoadDeferredReport), the loader's close of the file handle.
     * No memory to mark it: decided and reported now. A known program's
     * stream is the cheapest way out (every process start takes it). */
    if (!EwlImageLoadsEnforced(policy) && EwlCachedKind(Stream) == EWL_KIND_PROGRAM &&
        EwlImageReportDefer(FltObjects)) {
        goto Exit;
    }
    EwlImageLoadRef(FltObjects, Stream, &ref, &instance);
    /* A DLL is never a process's main image; a program (or an image whose
     * header cannot be trusted: it may be one) may be either. */
    kind = EwlImageKind(FltObjects, Stream, ref.Network, &decision, &ref);
    if (kind != EWL_KIND_DLL && !EwlImageLoadsEnforced(policy) &&
        EwlImageReportDefer(FltObjects)) {
        goto Exit;
    }
    /* The path the kind check asked for is the decision's. */
    EwlImageDecide(policy, FltObjects->FileObject, &ref, &decision);
    if (decision.Verdict.decision.action != EWL_ACTION_DENY) {
        goto Exit;
    }
    critical = EwlCurrentProcessCritical();
    enforced = EwlImageLoadsEnforced(policy) &&
               (!critical || g_EwlSettings.EnforceImageLoadsInCriticalProcesses);
    /* A program's deny left to the process callback or the cleanup (as
     * above): decided now, so the process callback's decision is the cached
     * one. */
    if (!enforced && kind != EWL_KIND_DLL && EwlImageReportDefer(FltObjects)) {
        goto Exit;
    }
    EwlImageDecisionPath(FltObjects->FileObject, &ref, &decision);
    EwlImageLoadReport(&decision, enforced, critical);
    if (enforced) {
        Data->IoStatus.Status = EWL_STATUS_IMAGE_LOAD_DENIED;
        Data->IoStatus.Information = 0;
        result = FLT_PREOP_COMPLETE;
    }

Exit:
    EwlImageDecisionFree(&decision);
    if (instance != NULL) {
        FltReleaseContext(instance);
    }
    EwlPolicyRelease(policy);
    return result;
}

/* A program's image section left unreported (EwlImageLoadDecide) whose file
 * object no process callback claimed is being cleaned up: it was mapped as
 * a library (or its process creation failed before the callback). Decided
 * now, with the policy in force now, and reported as an audit: the section
 * exists. The loading process is the one closing the file handle: the
 * loader closes it right after NtCreateSection. */
_IRQL_requires_(PASSIVE_LEVEL)
VOID EwlImageLoadDeferredReport(_In_ PCFLT_RELATED_OBJECTS FltObjects,
                                _In_opt_ PEWL_STREAM_CONTEXT Stream)
{
    PEWL_POLICY policy;
    PEWL_INSTANCE_CONTEXT instance = NULL;
    EWL_STREAM_REF ref;
    EWL_IMAGE_DECISION decision;

    PAGED_CODE();
    RtlZeroMemory(&decision, sizeof(decision));
    policy = EwlPolicyAcquire();
    if (policy == NULL) {
        return; /* the policy went: nothing decides image loads */
    }
    EwlImageLoadRef(FltObjects, Stream, &ref, &instance);
    EwlImageDecide(policy, FltObjects->FileObject, &ref, &decision);
    if (decision.Verdict.decision.action == EWL_ACTION_DENY) {
        EwlImageDecisionPath(FltObjects->FileObject, &ref, &decision);
        EwlImageLoadReport(&decision, FALSE, EwlCurrentProcessCritical());
    }
    EwlImageDecisionFree(&decision);
    if (instance != NULL) {
        FltReleaseContext(instance);
    }
    EwlPolicyRelease(policy);
}
