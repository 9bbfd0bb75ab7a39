/* The exewhitelist kernel driver: declarations shared by the glue files.
 *
 * driver.c   DriverEntry / DriverUnload and the one idempotent cleanup
 * policy.c   the registry value -> validated, refcounted, immutable policy
 * hash.c     Authenticode / flat SHA-256 of the image through its FileObject
 * notify.c   the process-creation callback: path, hashes, decision, report
 * reload.c   live reload: a registry callback on the Policy value
 * etw.c      ETW: the TraceLogging provider and its events
 *
 * All of it runs at PASSIVE_LEVEL. The decision logic is the portable core
 * (driver/core/), which validates the blob once and never fails afterwards. */
#ifndef EWL_KERNEL_H
#define EWL_KERNEL_H

#include <ntifs.h>
#include <ntddk.h>
#include <bcrypt.h>

#include "ewl_authenticode.h"
#include "ewl_blob.h"

#define EWL_POOL_TAG 'lwxE' /* "Exwl" in pool dumps */
#define EWL_DBG_PREFIX "exewhitelist: "

/* Policy values larger than this are refused before any allocation. */
#define EWL_POLICY_MAX_BYTES EWL_MAX_BLOB_SIZE

/* An immutable, validated policy. Readers take a reference with
 * EwlPolicyAcquire and drop it with EwlPolicyRelease; the last release frees
 * it. `blob` points into `data`, which follows the header in the same
 * NonPagedPoolNx allocation. */
typedef struct _EWL_POLICY {
    volatile LONG RefCount;
    ewl_blob_t Blob;
    BOOLEAN HasDenyHashes;  /* AUTHENTICODE_DENY or FILE_DENY non-empty */
    BOOLEAN HasAnyHashes;   /* any hash section non-empty */
    BOOLEAN HasFlatHashes;  /* FILE_ALLOW or FILE_DENY non-empty */
    SIZE_T Size;
    UCHAR Data[1];
} EWL_POLICY, *PEWL_POLICY;

/* policy.c */
_IRQL_requires_(PASSIVE_LEVEL) NTSTATUS EwlPolicyInitialize(_In_ PCUNICODE_STRING RegistryPath);
_IRQL_requires_(PASSIVE_LEVEL) VOID EwlPolicyUninitialize(VOID);
_IRQL_requires_(PASSIVE_LEVEL) NTSTATUS EwlPolicyLoad(VOID);
_IRQL_requires_max_(APC_LEVEL) PEWL_POLICY EwlPolicyAcquire(VOID);
_IRQL_requires_max_(DISPATCH_LEVEL) VOID EwlPolicyRelease(_In_opt_ PEWL_POLICY Policy);

/* hash.c */
typedef struct _EWL_IMAGE_HASHES {
    BOOLEAN HaveAuthenticode;
    BOOLEAN HaveFlat;
    UCHAR Authenticode[EWL_HASH_SIZE];
    UCHAR Flat[EWL_HASH_SIZE];
} EWL_IMAGE_HASHES, *PEWL_IMAGE_HASHES;

_IRQL_requires_(PASSIVE_LEVEL) NTSTATUS EwlHashInitialize(VOID);
_IRQL_requires_(PASSIVE_LEVEL) VOID EwlHashUninitialize(VOID);
_IRQL_requires_(PASSIVE_LEVEL)
NTSTATUS EwlHashImage(_In_ PFILE_OBJECT FileObject, _In_ BOOLEAN WantFlat,
                      _Out_ PEWL_IMAGE_HASHES Hashes);

/* reload.c */
_IRQL_requires_(PASSIVE_LEVEL)
NTSTATUS EwlReloadRegister(_In_ PDRIVER_OBJECT DriverObject, _In_ PCUNICODE_STRING RegistryPath);
_IRQL_requires_(PASSIVE_LEVEL) VOID EwlReloadUnregister(VOID);

/* etw.c. A failed EtwRegister only costs the events: every report is also
 * a DbgPrintEx line. */
typedef struct _EWL_DENY_REPORT {
    HANDLE ProcessId;
    HANDLE ParentProcessId;
    UNICODE_STRING Image;      /* the image name the callback saw; empty if none */
    ANSI_STRING Sha256;        /* lower-case hex, or empty when not hashed */
    ANSI_STRING Sha256Kind;    /* "authenticode", "file", or empty */
    NTSTATUS HashStatus;
    ANSI_STRING RuleId;        /* UTF-8: the deciding rule's id or "(default deny)" */
    BOOLEAN Enforced;
} EWL_DENY_REPORT;

_IRQL_requires_(PASSIVE_LEVEL) NTSTATUS EwlEtwRegister(VOID);
_IRQL_requires_(PASSIVE_LEVEL) VOID EwlEtwUnregister(VOID);
_IRQL_requires_max_(DISPATCH_LEVEL) VOID EwlEtwProcessDenied(_In_ const EWL_DENY_REPORT *Report);
_IRQL_requires_max_(DISPATCH_LEVEL) VOID EwlEtwPolicyLoaded(_In_ const EWL_POLICY *Policy);
_IRQL_requires_max_(DISPATCH_LEVEL)
VOID EwlEtwPolicyRejected(_In_ NTSTATUS Status, _In_ ULONG BlobCheck,
                          _In_ BOOLEAN PreviousPolicyKept);

/* notify.c */
_IRQL_requires_(PASSIVE_LEVEL) NTSTATUS EwlNotifyRegister(VOID);
_IRQL_requires_(PASSIVE_LEVEL) VOID EwlNotifyUnregister(VOID);

#endif /* EWL_KERNEL_H */
