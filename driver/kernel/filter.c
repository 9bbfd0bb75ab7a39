/* The minifilter: which volumes it watches, and the state of each stream that
 * matters to an image decision (docs/driver.md, "Stream state").
 *
 * A stream context (one per stream: FCB/SCB, shared by every open and hard
 * link) records:
 *   - Writers: file objects opened with FILE_WRITE_DATA/FILE_APPEND_DATA that
 *     have not been cleaned up (post-create counts them and marks the file
 *     object with a stream handle context; pre-cleanup uncounts);
 *   - ModifiedSeq: every non-paging write, end-of-file/allocation/valid-data
 *     change, writable section and successful write open;
 *   - NameSeq: renames and hard links (the verdict cache, when it depended on
 *     the path);
 *   - ImageSeen/ImageTainted: an executable section was created
 *     (IRP_MJ_ACQUIRE_FOR_SECTION_SYNCHRONIZATION, SyncTypeCreateSection, an
 *     executable page protection) while the filter watched; tainted when a
 *     writer was open at that moment, or when the stream was modified while
 *     the image section could exist. A taint lasts as long as the context:
 *     until a successful write open (the file system purges the image
 *     section before it lets a writer in, or fails the open) or until the
 *     stream is torn down.
 *   - the verdict cache (notify.c).
 * A stream handle context (one per file object) marks a writer (counted in
 * Writers until its cleanup) and a program's image section whose report
 * waits for the process callback or the cleanup (imageload.c).
 *
 * Every callback only counts and never fails the operation, except the
 * creation of an executable section whose state cannot be recorded (no
 * memory for the context): that one fails with STATUS_INSUFFICIENT_RESOURCES,
 * the one failure its contract allows; and an image load refused by the
 * policy (imageload.c, EWL_STATUS_IMAGE_LOAD_DENIED). Paging writes are not counted: they
 * write back data whose modification was counted when it was made (a write,
 * or the writable section it went through). */
#include "ewl_kernel.h"

typedef struct _EWL_HANDLE_CONTEXT {
    volatile LONG Writer; /* 1 while this file object is counted in Writers */
    /* 1 while a program's image section made from this file object waits
     * to be reported as an image load: cleared by the process callback (the
     * section was its process's), reported at cleanup otherwise (imageload.c). */
    volatile LONG ImageReport;
} EWL_HANDLE_CONTEXT, *PEWL_HANDLE_CONTEXT;

#define EWL_WRITE_ACCESS (FILE_WRITE_DATA | FILE_APPEND_DATA)
#define EWL_EXECUTE_PROTECTION \
    (PAGE_EXECUTE | PAGE_EXECUTE_READ | PAGE_EXECUTE_READWRITE | PAGE_EXECUTE_WRITECOPY)
#define EWL_WRITE_PROTECTION (PAGE_READWRITE | PAGE_EXECUTE_READWRITE)
#define EWL_FILE_RENAME_INFORMATION_EX 65
#define EWL_FILE_LINK_INFORMATION_EX 72

static PFLT_FILTER g_Filter;
static BOOLEAN g_Started;

static FLT_INSTANCE_SETUP_CALLBACK EwlInstanceSetup;
static FLT_POST_OPERATION_CALLBACK EwlPostCreate;
static FLT_PRE_OPERATION_CALLBACK EwlPreWrite;
static FLT_PRE_OPERATION_CALLBACK EwlPreSetInformation;
static FLT_PRE_OPERATION_CALLBACK EwlPreCleanup;
static FLT_PRE_OPERATION_CALLBACK EwlPreAcquireForSection;
extern FLT_FILTER_UNLOAD_CALLBACK EwlFilterUnload; /* driver.c */

static const FLT_CONTEXT_REGISTRATION g_Contexts[] = {
    {FLT_STREAM_CONTEXT, 0, NULL, sizeof(EWL_STREAM_CONTEXT), EWL_TAG_STREAM, NULL, NULL, NULL},
    {FLT_STREAMHANDLE_CONTEXT, 0, NULL, sizeof(EWL_HANDLE_CONTEXT), EWL_TAG_HANDLE, NULL, NULL,
     NULL},
    {FLT_INSTANCE_CONTEXT, 0, NULL, sizeof(EWL_INSTANCE_CONTEXT), EWL_TAG_INSTANCE, NULL, NULL,
     NULL},
    {FLT_CONTEXT_END, 0, NULL, 0, 0, NULL, NULL, NULL},
};

static const FLT_OPERATION_REGISTRATION g_Operations[] = {
    {IRP_MJ_CREATE, 0, NULL, EwlPostCreate, NULL},
    {IRP_MJ_WRITE, 0, EwlPreWrite, NULL, NULL},
    {IRP_MJ_SET_INFORMATION, 0, EwlPreSetInformation, NULL, NULL},
    {IRP_MJ_CLEANUP, 0, EwlPreCleanup, NULL, NULL},
    {IRP_MJ_ACQUIRE_FOR_SECTION_SYNCHRONIZATION, 0, EwlPreAcquireForSection, NULL, NULL},
    {IRP_MJ_OPERATION_END, 0, NULL, NULL, NULL},
};

static const FLT_REGISTRATION g_Registration = {
    sizeof(FLT_REGISTRATION),
    FLT_REGISTRATION_VERSION,
    0, /* supports service stop: a development choice (docs/driver.md, "Unload") */
    g_Contexts,
    g_Operations,
    EwlFilterUnload,
    EwlInstanceSetup,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
};

_IRQL_requires_(PASSIVE_LEVEL)
PFLT_FILTER EwlFilter(VOID)
{
    return g_Filter;
}

_IRQL_requires_(PASSIVE_LEVEL)
NTSTATUS EwlFilterRegister(_In_ PDRIVER_OBJECT DriverObject)
{
    NTSTATUS status;

    PAGED_CODE();
    status = FltRegisterFilter(DriverObject, &g_Registration, &g_Filter);
    if (!NT_SUCCESS(status)) {
        g_Filter = NULL;
    }
    return status;
}

_IRQL_requires_(PASSIVE_LEVEL)
NTSTATUS EwlFilterStart(VOID)
{
    NTSTATUS status;

    PAGED_CODE();
    status = FltStartFiltering(g_Filter);
    if (NT_SUCCESS(status)) {
        g_Started = TRUE;
    }
    return status;
}

/* Idempotent. Waits for the callbacks in flight; tears the instances and
 * their contexts down. */
_IRQL_requires_(PASSIVE_LEVEL)
VOID EwlFilterUnregister(VOID)
{
    PAGED_CODE();
    if (g_Filter != NULL) {
        FltUnregisterFilter(g_Filter);
        g_Filter = NULL;
        g_Started = FALSE;
    }
}

/* Local disk and CD/DVD file systems, and the network redirector (MUP: SMB
 * and WebDAV). Nothing else holds images (named pipes and mailslots are not
 * even offered without registration flags). */
_IRQL_requires_(PASSIVE_LEVEL)
static NTSTATUS EwlInstanceSetup(_In_ PCFLT_RELATED_OBJECTS FltObjects,
                                 _In_ FLT_INSTANCE_SETUP_FLAGS Flags,
                                 _In_ DEVICE_TYPE VolumeDeviceType,
                                 _In_ FLT_FILESYSTEM_TYPE VolumeFilesystemType)
{
    NTSTATUS status;
    PEWL_INSTANCE_CONTEXT context = NULL;

    UNREFERENCED_PARAMETER(Flags);
    UNREFERENCED_PARAMETER(VolumeFilesystemType);
    PAGED_CODE();
    if (VolumeDeviceType != FILE_DEVICE_DISK_FILE_SYSTEM &&
        VolumeDeviceType != FILE_DEVICE_CD_ROM_FILE_SYSTEM &&
        VolumeDeviceType != FILE_DEVICE_NETWORK_FILE_SYSTEM) {
        status = STATUS_FLT_DO_NOT_ATTACH;
        goto Exit;
    }
    /* Without its context the instance still attaches: the process callback
     * then treats the volume as untrusted for hashes (no hash). */
    status = FltAllocateContext(FltObjects->Filter, FLT_INSTANCE_CONTEXT,
                                sizeof(EWL_INSTANCE_CONTEXT), NonPagedPoolNx,
                                (PFLT_CONTEXT *)&context);
    if (NT_SUCCESS(status)) {
        context->Network = VolumeDeviceType == FILE_DEVICE_NETWORK_FILE_SYSTEM;
        (VOID)FltSetInstanceContext(FltObjects->Instance, FLT_SET_CONTEXT_KEEP_IF_EXISTS, context,
                                    NULL);
    }
    status = STATUS_SUCCESS;

Exit:
    if (context != NULL) {
        FltReleaseContext(context);
    }
    return status;
}

/* The stream's context (referenced), created when missing and Create.
 * STATUS_INSUFFICIENT_RESOURCES: no memory for it; STATUS_NOT_SUPPORTED: the
 * file system keeps no stream contexts (the stream stays "never seen"). */
_IRQL_requires_max_(APC_LEVEL)
static NTSTATUS EwlStreamContextGetStatus(_In_ PCFLT_RELATED_OBJECTS FltObjects,
                                          _In_ BOOLEAN Create,
                                          _Outptr_result_maybenull_ PEWL_STREAM_CONTEXT *Stream)
{
    NTSTATUS status;
    PEWL_STREAM_CONTEXT context = NULL;
    PEWL_STREAM_CONTEXT existing = NULL;

    *Stream = NULL;
    status = FltGetStreamContext(FltObjects->Instance, FltObjects->FileObject,
                                 (PFLT_CONTEXT *)&context);
    if (NT_SUCCESS(status)) {
        *Stream = context;
        goto Exit;
    }
    if (!Create || status == STATUS_NOT_SUPPORTED) {
        goto Exit;
    }
    status = FltAllocateContext(FltObjects->Filter, FLT_STREAM_CONTEXT, sizeof(EWL_STREAM_CONTEXT),
                                NonPagedPoolNx, (PFLT_CONTEXT *)&context);
    if (!NT_SUCCESS(status)) {
        goto Exit;
    }
    RtlZeroMemory(context, sizeof(*context));
    KeInitializeSpinLock(&context->Lock);
    status = FltSetStreamContext(FltObjects->Instance, FltObjects->FileObject,
                                 FLT_SET_CONTEXT_KEEP_IF_EXISTS, context,
                                 (PFLT_CONTEXT *)&existing);
    if (NT_SUCCESS(status)) {
        *Stream = context;
        goto Exit;
    }
    FltReleaseContext(context);
    if (status == STATUS_FLT_CONTEXT_ALREADY_DEFINED && existing != NULL) {
        *Stream = existing; /* lost a race: the other one is the stream's, referenced */
        status = STATUS_SUCCESS;
    }

Exit:
    return status;
}

/* The same, NULL when there is none (whatever the reason). */
_IRQL_requires_max_(APC_LEVEL)
static PEWL_STREAM_CONTEXT EwlStreamContextGet(_In_ PCFLT_RELATED_OBJECTS FltObjects,
                                               _In_ BOOLEAN Create)
{
    PEWL_STREAM_CONTEXT stream;

    (VOID)EwlStreamContextGetStatus(FltObjects, Create, &stream);
    return stream;
}

/* A modification: the cache is stale, and an image section that may exist
 * no longer matches the file. */
_IRQL_requires_max_(DISPATCH_LEVEL)
static VOID EwlStreamModified(_Inout_ PEWL_STREAM_CONTEXT Stream)
{
    KIRQL irql;

    KeAcquireSpinLock(&Stream->Lock, &irql);
    Stream->ModifiedSeq++;
    if (Stream->ImageSeen) {
        Stream->ImageTainted = TRUE;
    }
    KeReleaseSpinLock(&Stream->Lock, irql);
}

_IRQL_requires_max_(APC_LEVEL)
static FLT_POSTOP_CALLBACK_STATUS EwlPostCreate(_Inout_ PFLT_CALLBACK_DATA Data,
                                                _In_ PCFLT_RELATED_OBJECTS FltObjects,
                                                _In_opt_ PVOID CompletionContext,
                                                _In_ FLT_POST_OPERATION_FLAGS Flags)
{
    PEWL_STREAM_CONTEXT stream = NULL;
    PEWL_HANDLE_CONTEXT handle = NULL;
    PIO_SECURITY_CONTEXT security;
    KIRQL irql;

    UNREFERENCED_PARAMETER(CompletionContext);
    if ((Flags & FLTFL_POST_OPERATION_DRAINING) || !NT_SUCCESS(Data->IoStatus.Status) ||
        Data->IoStatus.Status == STATUS_REPARSE) {
        goto Exit;
    }
    security = Data->Iopb->Parameters.Create.SecurityContext;
    if (security == NULL || !(security->DesiredAccess & EWL_WRITE_ACCESS) ||
        (Data->Iopb->Parameters.Create.Options & FILE_DIRECTORY_FILE)) {
        goto Exit;
    }
    stream = EwlStreamContextGet(FltObjects, TRUE);
    if (stream == NULL) {
        goto Exit; /* no memory: the stream stays unseen (docs: "never saw") */
    }
    /* Counted before the handle context exists: a failure below leaves the
     * writer counted for ever (fail closed: later image sections taint). */
    KeAcquireSpinLock(&stream->Lock, &irql);
    stream->Writers++;
    stream->ModifiedSeq++;
    /* The file system let a writer in: no image section of the stream exists
     * any more (it purges it first, or fails the open). */
    stream->ImageSeen = FALSE;
    stream->ImageTainted = FALSE;
    KeReleaseSpinLock(&stream->Lock, irql);
    if (!NT_SUCCESS(FltAllocateContext(FltObjects->Filter, FLT_STREAMHANDLE_CONTEXT,
                                       sizeof(EWL_HANDLE_CONTEXT), NonPagedPoolNx,
                                       (PFLT_CONTEXT *)&handle))) {
        handle = NULL;
        goto Exit;
    }
    /* Filter Manager does not zero a context: every field is set. */
    handle->Writer = 1;
    handle->ImageReport = 0;
    (VOID)FltSetStreamHandleContext(FltObjects->Instance, FltObjects->FileObject,
                                    FLT_SET_CONTEXT_REPLACE_IF_EXISTS, handle, NULL);

Exit:
    if (handle != NULL) {
        FltReleaseContext(handle);
    }
    if (stream != NULL) {
        FltReleaseContext(stream);
    }
    return FLT_POSTOP_FINISHED_PROCESSING;
}

_IRQL_requires_max_(APC_LEVEL)
static FLT_PREOP_CALLBACK_STATUS EwlPreWrite(_Inout_ PFLT_CALLBACK_DATA Data,
                                             _In_ PCFLT_RELATED_OBJECTS FltObjects,
                                             _Outptr_result_maybenull_ PVOID *CompletionContext)
{
    PEWL_STREAM_CONTEXT stream;

    *CompletionContext = NULL;
    if (!(Data->Iopb->IrpFlags & IRP_PAGING_IO)) {
        stream = EwlStreamContextGet(FltObjects, FALSE);
        if (stream != NULL) {
            EwlStreamModified(stream);
            FltReleaseContext(stream);
        }
    }
    return FLT_PREOP_SUCCESS_NO_CALLBACK;
}

_IRQL_requires_max_(APC_LEVEL)
static FLT_PREOP_CALLBACK_STATUS EwlPreSetInformation(_Inout_ PFLT_CALLBACK_DATA Data,
                                                      _In_ PCFLT_RELATED_OBJECTS FltObjects,
                                                      _Outptr_result_maybenull_ PVOID
                                                          *CompletionContext)
{
    PEWL_STREAM_CONTEXT stream;
    ULONG infoClass = (ULONG)Data->Iopb->Parameters.SetFileInformation.FileInformationClass;
    KIRQL irql;

    *CompletionContext = NULL;
    stream = EwlStreamContextGet(FltObjects, FALSE);
    if (stream == NULL) {
        goto Exit;
    }
    switch (infoClass) {
    case FileEndOfFileInformation:
    case FileAllocationInformation:
    case FileValidDataLengthInformation:
        EwlStreamModified(stream);
        break;
    case FileRenameInformation:
    case FileLinkInformation:
    case EWL_FILE_RENAME_INFORMATION_EX:
    case EWL_FILE_LINK_INFORMATION_EX:
        KeAcquireSpinLock(&stream->Lock, &irql);
        stream->NameSeq++;
        KeReleaseSpinLock(&stream->Lock, irql);
        break;
    default:
        break;
    }
    FltReleaseContext(stream);

Exit:
    return FLT_PREOP_SUCCESS_NO_CALLBACK;
}

_IRQL_requires_max_(APC_LEVEL)
static FLT_PREOP_CALLBACK_STATUS EwlPreCleanup(_Inout_ PFLT_CALLBACK_DATA Data,
                                               _In_ PCFLT_RELATED_OBJECTS FltObjects,
                                               _Outptr_result_maybenull_ PVOID *CompletionContext)
{
    PEWL_HANDLE_CONTEXT handle = NULL;
    PEWL_STREAM_CONTEXT stream = NULL;
    KIRQL irql;

    UNREFERENCED_PARAMETER(Data);
    *CompletionContext = NULL;
    if (!NT_SUCCESS(FltGetStreamHandleContext(FltObjects->Instance, FltObjects->FileObject,
                                              (PFLT_CONTEXT *)&handle))) {
        handle = NULL;
        goto Exit;
    }
    if (InterlockedExchange(&handle->ImageReport, 0) != 0) {
        stream = EwlStreamContextGet(FltObjects, FALSE);
        EwlImageLoadDeferredReport(FltObjects, stream); /* no process claimed the section */
    }
    if (InterlockedExchange(&handle->Writer, 0) == 0) {
        goto Exit; /* not a writer, or counted off already */
    }
    if (stream == NULL) {
        stream = EwlStreamContextGet(FltObjects, FALSE);
    }
    if (stream != NULL) {
        KeAcquireSpinLock(&stream->Lock, &irql);
        if (stream->Writers > 0) {
            stream->Writers--;
        }
        KeReleaseSpinLock(&stream->Lock, irql);
    }

Exit:
    if (stream != NULL) {
        FltReleaseContext(stream);
    }
    if (handle != NULL) {
        FltReleaseContext(handle);
    }
    return FLT_PREOP_SUCCESS_NO_CALLBACK;
}

/* Marks the file object a program's image section is being made from: its
 * report as an image load waits for the process callback's claim or for
 * the cleanup (imageload.c). FALSE when the mark cannot be kept (no memory):
 * the caller reports now. */
_IRQL_requires_max_(APC_LEVEL)
BOOLEAN EwlImageReportDefer(_In_ PCFLT_RELATED_OBJECTS FltObjects)
{
    PEWL_HANDLE_CONTEXT handle = NULL;
    PEWL_HANDLE_CONTEXT existing = NULL;
    NTSTATUS status;

    if (NT_SUCCESS(FltGetStreamHandleContext(FltObjects->Instance, FltObjects->FileObject,
                                             (PFLT_CONTEXT *)&handle))) {
        goto Mark;
    }
    if (!NT_SUCCESS(FltAllocateContext(FltObjects->Filter, FLT_STREAMHANDLE_CONTEXT,
                                       sizeof(EWL_HANDLE_CONTEXT), NonPagedPoolNx,
                                       (PFLT_CONTEXT *)&handle))) {
        return FALSE;
    }
    handle->Writer = 0; /* not zeroed by Filter Manager; ImageReport is set below */
    status = FltSetStreamHandleContext(FltObjects->Instance, FltObjects->FileObject,
                                       FLT_SET_CONTEXT_KEEP_IF_EXISTS, handle,
                                       (PFLT_CONTEXT *)&existing);
    if (!NT_SUCCESS(status)) {
        FltReleaseContext(handle);
        handle = existing; /* set meanwhile (the writer's post-create), or NULL */
        if (handle == NULL) {
            return FALSE;
        }
    }

Mark:
    InterlockedExchange(&handle->ImageReport, 1);
    FltReleaseContext(handle);
    return TRUE;
}

/* The process callback decided the process made from this file object's
 * image section: that section is no image load, and is not reported as one. */
_IRQL_requires_max_(APC_LEVEL)
VOID EwlImageReportClaim(_In_ PFLT_INSTANCE Instance, _In_ PFILE_OBJECT FileObject)
{
    PEWL_HANDLE_CONTEXT handle = NULL;

    if (NT_SUCCESS(FltGetStreamHandleContext(Instance, FileObject, (PFLT_CONTEXT *)&handle))) {
        InterlockedExchange(&handle->ImageReport, 0);
        FltReleaseContext(handle);
    }
}

/* A section is being created (SyncTypeCreateSection). Executable page
 * protection marks an image section (all SEC_IMAGE sections are created
 * executable; the driver's own reads never create sections): its state is
 * recorded, then an image load is decided (imageload.c), which may refuse
 * it. A writable data section (shared pages, written back to the file) is a
 * modification. */
_IRQL_requires_max_(APC_LEVEL)
static FLT_PREOP_CALLBACK_STATUS EwlPreAcquireForSection(_Inout_ PFLT_CALLBACK_DATA Data,
                                                         _In_ PCFLT_RELATED_OBJECTS FltObjects,
                                                         _Outptr_result_maybenull_ PVOID
                                                             *CompletionContext)
{
    FLT_PREOP_CALLBACK_STATUS result = FLT_PREOP_SUCCESS_NO_CALLBACK;
    PEWL_STREAM_CONTEXT stream = NULL;
    NTSTATUS status;
    ULONG protection = Data->Iopb->Parameters.AcquireForSectionSynchronization.PageProtection;
    BOOLEAN executable = (protection & EWL_EXECUTE_PROTECTION) != 0;
    KIRQL irql;

    *CompletionContext = NULL;
    if (Data->Iopb->Parameters.AcquireForSectionSynchronization.SyncType !=
        EWL_SYNC_TYPE_CREATE_SECTION) {
        goto Exit; /* SyncTypeOther: may not be failed, nothing to record */
    }
    if (executable) {
        status = EwlStreamContextGetStatus(FltObjects, TRUE, &stream);
        if (status == STATUS_INSUFFICIENT_RESOURCES) {
            /* The image's state cannot be recorded: the one failure this
             * operation allows. */
            Data->IoStatus.Status = STATUS_INSUFFICIENT_RESOURCES;
            Data->IoStatus.Information = 0;
            result = FLT_PREOP_COMPLETE;
            goto Exit;
        }
        if (stream == NULL) {
            goto Exit; /* no stream contexts on this file system: never seen */
        }
        KeAcquireSpinLock(&stream->Lock, &irql);
        stream->ImageSeen = TRUE;
        /* Image pages are copy-on-write: even PAGE_EXECUTE_READWRITE never
         * writes the file. A writer that exists now can. */
        if (stream->Writers > 0) {
            stream->ImageTainted = TRUE;
        }
        KeReleaseSpinLock(&stream->Lock, irql);
        /* An image load (not a program's image) is decided now
         * (imageload.c): it may be refused. */
        result = EwlImageLoadDecide(Data, FltObjects, stream);
    } else if (protection & EWL_WRITE_PROTECTION) {
        stream = EwlStreamContextGet(FltObjects, FALSE);
        if (stream != NULL) {
            EwlStreamModified(stream);
        }
    }

Exit:
    if (stream != NULL) {
        FltReleaseContext(stream);
    }
    return result;
}

/* The process callback's view of the image's stream: our instance on its
 * volume, whether that is the network redirector, and the stream context. */
_IRQL_requires_(PASSIVE_LEVEL)
VOID EwlStreamLookup(_In_ PFILE_OBJECT FileObject, _Out_ PEWL_STREAM_REF Ref)
{
    PFLT_VOLUME volume = NULL;
    PEWL_INSTANCE_CONTEXT instanceContext = NULL;

    PAGED_CODE();
    RtlZeroMemory(Ref, sizeof(*Ref));
    if (g_Filter == NULL || !g_Started) {
        goto Exit;
    }
    if (!NT_SUCCESS(FltGetVolumeFromFileObject(g_Filter, FileObject, &volume))) {
        volume = NULL;
        goto Exit;
    }
    if (!NT_SUCCESS(FltGetVolumeInstanceFromName(g_Filter, volume, NULL, &Ref->Instance))) {
        Ref->Instance = NULL;
        goto Exit;
    }
    if (NT_SUCCESS(FltGetInstanceContext(Ref->Instance, (PFLT_CONTEXT *)&instanceContext))) {
        Ref->InstanceKnown = TRUE;
        Ref->Network = instanceContext->Network;
        FltReleaseContext(instanceContext);
    }
    if (!NT_SUCCESS(FltGetStreamContext(Ref->Instance, FileObject, (PFLT_CONTEXT *)&Ref->Stream))) {
        Ref->Stream = NULL;
    }

Exit:
    if (volume != NULL) {
        FltObjectDereference(volume);
    }
}

_IRQL_requires_max_(APC_LEVEL)
VOID EwlStreamRelease(_Inout_ PEWL_STREAM_REF Ref)
{
    if (Ref->Stream != NULL) {
        FltReleaseContext(Ref->Stream);
    }
    if (Ref->Instance != NULL) {
        FltObjectDereference(Ref->Instance);
    }
    RtlZeroMemory(Ref, sizeof(*Ref));
}
