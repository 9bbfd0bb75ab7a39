/* The exewhitelist kernel driver: declarations shared by the glue files.
 *
 * driver.c   DriverEntry / DriverUnload and the one idempotent cleanup
 * pool.c     pool allocations (ExAllocatePool2 where the system has it)
 * policy.c   the registry value -> validated, refcounted, immutable policy
 * path.c     the image's normalized Win32 path; the path variables' values
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

/* The path variables' values on this system, folded (path.c). */
#define EWL_PATH_VARIABLE_WINDIR 0
#define EWL_PATH_VARIABLE_SYSTEM32 1
#define EWL_PATH_VARIABLE_PROGRAMFILES 2
#define EWL_PATH_VARIABLE_PROGRAMFILES_X86 3 /* follows PROGRAMFILES: one table */
#define EWL_PATH_VARIABLE_OSDRIVE 4
#define EWL_PATH_VARIABLE_COUNT 5
/* MAX_PATH and "\System32": a longer value keeps the default. */
#define EWL_PATH_VARIABLE_MAX_UNITS 280

typedef struct _EWL_PATH_VARIABLES {
    ewl_vars_t Vars; /* the core's view: points into Values */
    ewl_u16str_t Values[EWL_PATH_VARIABLE_COUNT];
    WCHAR Units[EWL_PATH_VARIABLE_COUNT][EWL_PATH_VARIABLE_MAX_UNITS];
} EWL_PATH_VARIABLES, *PEWL_PATH_VARIABLES;

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
    BOOLEAN HasPathRules;   /* PATH_RULES non-empty: the image's path is needed */
    BOOLEAN HasDenyPaths;   /* a deny path rule: an image without a path is denied */
    EWL_PATH_VARIABLES Variables; /* read at load: the values this policy matches */
    PUINT32 HashIndex;            /* Blob.hash_index's memory (NonPagedPoolNx), or NULL */
    SIZE_T Size;
    UCHAR Data[1];
} EWL_POLICY, *PEWL_POLICY;

/* pool.c: zeroed blocks tagged EWL_POOL_TAG; free with ExFreePoolWithTag. */
_IRQL_requires_(PASSIVE_LEVEL) VOID EwlPoolInitialize(VOID);
_IRQL_requires_max_(APC_LEVEL) PVOID EwlAllocatePool(_In_ BOOLEAN NonPaged, _In_ SIZE_T Bytes);

/* path.c */
typedef struct _EWL_IMAGE_PATH {
    UNICODE_STRING Win32;  /* "X:\dir\file.exe" or "\\server\share\...", as stored */
    UNICODE_STRING Folded; /* the same, upcased: what path rules match */
} EWL_IMAGE_PATH, *PEWL_IMAGE_PATH;

_IRQL_requires_(PASSIVE_LEVEL)
NTSTATUS EwlImagePathQuery(_In_ PFILE_OBJECT FileObject, _Out_ PEWL_IMAGE_PATH Path);
VOID EwlImagePathFree(_Inout_ PEWL_IMAGE_PATH Path);
_IRQL_requires_(PASSIVE_LEVEL) VOID EwlPathVariablesQuery(_Out_ PEWL_PATH_VARIABLES Variables);

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
    UNICODE_STRING Image;      /* the matched path, else the creator's name; empty if none */
    NTSTATUS PathStatus;       /* why there is no matched path; 0 when there is */
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
