/* The exewhitelist kernel driver: declarations shared by the glue files.
 *
 * driver.c   DriverEntry, the filter's unload and the one idempotent cleanup
 * filter.c   the minifilter: instances, stream state, section creation
 * pool.c     pool allocations (ExAllocatePool2 where the system has it)
 * policy.c   the registry value -> validated, refcounted, immutable policy
 * path.c     the image's normalized Win32 path; the path variables' values
 * hash.c     Authenticode / flat SHA-256 of the image, read on the driver's own
 *            file object (FltCreateFileEx2 + FltReadFileEx), with the
 *            certificate table and the version resource when the policy has
 *            publisher conditions
 * signer.c   signer facts: the table's signatures verified with CNG
 * decide.c   the image decision shared by processes and image loads: verdict
 *            cache, staged decision (path, hashes), cache store
 * notify.c   the process-creation callback: decision, report, subsystem processes
 * imageload.c image loads: executable image sections decided at section creation
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
#include "ewl_flt.h"
#include "ewl_table.h"
#include "ewl_versioninfo.h"

/* One pool tag per allocation kind ("Exw?" in pool dumps, !poolused). */
#define EWL_POOL_TAG 'lwxE'          /* "Exwl": miscellaneous (registry reads) */
#define EWL_TAG_POLICY 'PwxE'        /* "ExwP": policy objects and their hash index */
#define EWL_TAG_NAME 'NwxE'          /* "ExwN": image paths and names */
#define EWL_TAG_HASH 'HwxE'          /* "ExwH": the hashing scratch buffer */
#define EWL_TAG_STREAM 'SwxE'        /* "ExwS": stream contexts (Filter Manager) */
#define EWL_TAG_HANDLE 'WwxE'        /* "ExwW": stream handle contexts (writers, program sections) */
#define EWL_TAG_INSTANCE 'IwxE'      /* "ExwI": instance contexts */
#define EWL_TAG_REGISTRY 'RwxE'      /* "ExwR": the registry callback's key suffix */
#define EWL_TAG_WORKITEM 'QwxE'      /* "ExwQ": the reload work item (IoSizeofWorkItem) */
#define EWL_TAG_SIGNER 'GwxE'        /* "ExwG": certificate tables, the signer stage's work */
/* (The loading process's name from SeLocateProcessImageName is the kernel's
 * allocation, freed with ExFreePool: no tag of ours.) */
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
 * it. Every reader runs at PASSIVE_LEVEL (the process callback, the loads),
 * so it lives in PagedPool: `Data` points into the registry value read into
 * the same allocation, after this header, and is validated there. */
typedef struct _EWL_POLICY {
    volatile LONG RefCount;
    ewl_blob_t Blob;
    BOOLEAN HasDenyHashes;  /* AUTHENTICODE_DENY or FILE_DENY non-empty */
    BOOLEAN HasAnyHashes;   /* any hash section non-empty */
    BOOLEAN HasFlatHashes;  /* FILE_ALLOW or FILE_DENY non-empty */
    BOOLEAN HasPathRules;   /* PATH_RULES non-empty: the image's path is needed */
    BOOLEAN HasDenyPaths;   /* a deny path rule: an image without a path is denied */
    BOOLEAN HasSigners;     /* publisher rules or exceptions: the hashing pass keeps the
                               certificate table for the signer stage */
    ULONG Generation;       /* unique per installed policy: keys the verdict cache */
    EWL_PATH_VARIABLES Variables; /* read at load: the values this policy matches */
    PUINT32 HashIndex;            /* Blob.hash_index's memory (PagedPool), or NULL */
    SIZE_T Size;
    PUCHAR Data;                  /* Size bytes, in this allocation */
} EWL_POLICY, *PEWL_POLICY;

/* pool.c: zeroed blocks tagged EWL_POOL_TAG; free with ExFreePoolWithTag. */
_IRQL_requires_(PASSIVE_LEVEL) VOID EwlPoolInitialize(VOID);
_IRQL_requires_max_(APC_LEVEL)
PVOID EwlAllocatePool(_In_ BOOLEAN NonPaged, _In_ SIZE_T Bytes, _In_ ULONG Tag);

/* path.c */
typedef struct _EWL_IMAGE_PATH {
    UNICODE_STRING Win32;  /* "X:\dir\file.exe" or "\\server\share\...", as stored */
    UNICODE_STRING Folded; /* the same, upcased: what path rules match */
    UNICODE_STRING NtName; /* the normalized NT name (the driver's own open), or empty:
                            * points into NameInfo */
    PFLT_FILE_NAME_INFORMATION NameInfo; /* referenced until EwlImagePathFree */
    NTSTATUS NameStatus;   /* the Filter Manager name query's status */
} EWL_IMAGE_PATH, *PEWL_IMAGE_PATH;

/* The Win32 path's status is returned; NtName is set whenever Filter Manager
 * named the file (also for a named stream or a volume without a DOS name). */
_IRQL_requires_(PASSIVE_LEVEL)
NTSTATUS EwlImagePathQuery(_In_ PFILE_OBJECT FileObject, _In_opt_ PFLT_INSTANCE Instance,
                           _Out_ PEWL_IMAGE_PATH Path);
VOID EwlImagePathFree(_Inout_ PEWL_IMAGE_PATH Path);
_IRQL_requires_(PASSIVE_LEVEL) VOID EwlPathVariablesQuery(_Out_ PEWL_PATH_VARIABLES Variables);

/* policy.c */
_IRQL_requires_(PASSIVE_LEVEL) NTSTATUS EwlPolicyInitialize(_In_ PCUNICODE_STRING RegistryPath);
_IRQL_requires_(PASSIVE_LEVEL) VOID EwlPolicyUninitialize(VOID);

/* Service parameters (Parameters key, REG_DWORD), read once in DriverEntry. */
#define EWL_DEFAULT_MAX_HASH_BYTES (256u * 1024u * 1024u)
#define EWL_DEFAULT_NETWORK_READ_BUDGET_MS 5000u
/* ImageLoads: what image loads (DLLs) decided at section creation do. */
#define EWL_IMAGE_LOADS_OFF 0u     /* not decided at all */
#define EWL_IMAGE_LOADS_AUDIT 1u   /* decided and reported, never refused (the default) */
#define EWL_IMAGE_LOADS_ENFORCE 2u /* refused when the policy is in enforce mode */
/* SubsystemProcesses: what a subsystem (WSL1 Pico) process gets. */
#define EWL_SUBSYSTEM_ALLOW 0u /* allowed, not decided */
#define EWL_SUBSYSTEM_AUDIT 1u /* decided by the rules, reported, never denied */
#define EWL_SUBSYSTEM_RULES 2u /* decided by the rules like any process (the default) */
typedef struct _EWL_SETTINGS {
    BOOLEAN TrustNetworkHashes; /* TrustNetworkHashes=1: hash images on network volumes */
    ULONG MaxHashBytes;         /* MaxHashBytes: larger images get no hash */
    ULONG NetworkReadBudgetMs;  /* NetworkReadBudgetMs: a network pass taking longer: no hash */
    BOOLEAN ForceAudit;         /* ForceAudit=1, the kill switch: report, never deny */
    BOOLEAN BootFallback;       /* the last boot did not reach the boot-complete mark: audit */
    BOOLEAN RequirePolicy;      /* RequirePolicy=1: no policy at all: only %WINDIR% runs */
    ULONG ImageLoads;           /* ImageLoads: EWL_IMAGE_LOADS_* (default AUDIT) */
    BOOLEAN EnforceImageLoadsInCriticalProcesses; /* 1: critical processes are not audit-only */
    ULONG SubsystemProcesses;   /* SubsystemProcesses: EWL_SUBSYSTEM_* (default RULES) */
} EWL_SETTINGS;
extern EWL_SETTINGS g_EwlSettings;
_IRQL_requires_(PASSIVE_LEVEL) VOID EwlSettingsLoad(VOID);
_IRQL_requires_(PASSIVE_LEVEL) NTSTATUS EwlPolicyLoad(_In_ BOOLEAN AtLoad);
_IRQL_requires_max_(APC_LEVEL) PEWL_POLICY EwlPolicyAcquire(VOID);
_IRQL_requires_max_(APC_LEVEL) VOID EwlPolicyRelease(_In_opt_ PEWL_POLICY Policy);
/* The boot-complete mark (docs/driver.md, "Boot safety"): BootStatus in
 * Parameters is 1 from DriverEntry until the first userinit.exe starts,
 * then 2. Found at 1 by DriverEntry: the last boot never got to a logon. */
_IRQL_requires_(PASSIVE_LEVEL) VOID EwlBootCompleteMark(VOID);
/* The folded %WINDIR% of this system, with a trailing backslash (RequirePolicy). */
extern EWL_PATH_VARIABLES g_EwlSystemVariables;

/* hash.c */
typedef struct _EWL_IMAGE_HASHES {
    BOOLEAN HaveAuthenticode;
    BOOLEAN HaveFlat;
    UCHAR Authenticode[EWL_HASH_SIZE];
    UCHAR Flat[EWL_HASH_SIZE];
} EWL_IMAGE_HASHES, *PEWL_IMAGE_HASHES;

/* What a hashing pass keeps for the signer stage: the certificate table
 * (NULL: unsigned, or larger than EWL_TABLE_MAX_BYTES, TableSize then
 * telling which) and the Authenticode digests its signatures need. */
typedef struct _EWL_IMAGE_SIGNED {
    PUCHAR Table; /* EWL_TAG_SIGNER; freed by EwlImageSignedFree */
    ULONG TableSize;
    ewl_sig_image_t Digests;
    /* The version resource's FileAttribute strings ([EWL_ATTRIBUTE_* - 1]),
     * folded as paths are, one after another in Strings (EWL_TAG_SIGNER;
     * NULL when there are none); Units 0: the file has no such string. */
    PWCHAR Strings;
    USHORT Units[EWL_ATTRIBUTE_COUNT];
    BOOLEAN HasVersion;
    ULONGLONG Version; /* VS_FIXEDFILEINFO's file version, a << 48 | ... | d */
} EWL_IMAGE_SIGNED, *PEWL_IMAGE_SIGNED;

_IRQL_requires_(PASSIVE_LEVEL) NTSTATUS EwlHashInitialize(VOID);
_IRQL_requires_(PASSIVE_LEVEL) VOID EwlHashUninitialize(VOID);
/* The CNG provider of an EWL_HASH_* algorithm (NULL for none), open from
 * EwlHashInitialize to EwlHashUninitialize. */
BCRYPT_ALG_HANDLE EwlHashAlgorithm(_In_ int Algorithm);
/* Opens NtName itself (FltCreateFileEx2 below Instance), checks it is the
 * stream of Image, reads it with FltReadFileEx; Image is never used for I/O.
 * Any failure: no digest, and the NTSTATUS says why. With Signed, the same
 * pass keeps what the signer stage needs (freed and refilled; emptied on
 * failure). */
_IRQL_requires_(PASSIVE_LEVEL)
NTSTATUS EwlHashImage(_In_ PFLT_INSTANCE Instance, _In_ PFILE_OBJECT Image,
                      _In_ PCUNICODE_STRING NtName, _In_ BOOLEAN WantFlat,
                      _In_ ULONG BudgetMs, _Out_ PEWL_IMAGE_HASHES Hashes,
                      _Inout_opt_ PEWL_IMAGE_SIGNED Signed);
VOID EwlImageSignedFree(_Inout_ PEWL_IMAGE_SIGNED Signed);

/* signer.c */
typedef struct _EWL_SIGNER_WORK *PEWL_SIGNER_WORK;
/* The first valid signer's common name (a view into Work; empty: none). */
VOID EwlSignerName(_In_opt_ PEWL_SIGNER_WORK Work, _Out_ PUNICODE_STRING Name);
_IRQL_requires_(PASSIVE_LEVEL) NTSTATUS EwlSignerInitialize(VOID);
_IRQL_requires_(PASSIVE_LEVEL) VOID EwlSignerUninitialize(VOID);
/* The signer facts of what a hashing pass kept: every signature of the
 * table verified; *Facts lives in *Work until EwlSignerFree. Fails only
 * for memory. */
_IRQL_requires_max_(APC_LEVEL)
NTSTATUS EwlSignerFacts(_In_ const EWL_IMAGE_SIGNED *Signed, _Out_ PEWL_SIGNER_WORK *Work,
                        _Out_ const ewl_signer_facts_t **Facts);
VOID EwlSignerFree(_In_opt_ PEWL_SIGNER_WORK Work);
/* The PE file header's Characteristics of Image, read (two small reads) on
 * the driver's own file object as EwlHashImage reads; any failure (not a PE
 * file included) is a failure status. */
_IRQL_requires_max_(APC_LEVEL)
NTSTATUS EwlImageCharacteristics(_In_ PFLT_INSTANCE Instance, _In_ PFILE_OBJECT Image,
                                 _In_ PCUNICODE_STRING NtName, _Out_ PUSHORT Characteristics);

/* filter.c: the minifilter and its stream state (docs/driver.md). */
typedef struct _EWL_STREAM_CONTEXT {
    KSPIN_LOCK Lock;       /* guards everything below */
    LONG Writers;          /* open file objects with write access (handle contexts) */
    LONG ModifiedSeq;      /* writes, size changes, writable sections, write opens */
    LONG NameSeq;          /* renames and hard links */
    BOOLEAN ImageSeen;     /* an executable section was made while the filter watched */
    BOOLEAN ImageTainted;  /* ... with a writer open, or the stream changed afterwards */
    /* The verdict cache: valid for Generation, ModifiedSeq and, when the
     * verdict depends on the path, NameSeq and the folded path (its FNV-1a
     * hash and length: hard links share the stream, not the path). */
    BOOLEAN CacheValid;
    ULONG CacheGeneration;
    LONG CacheModifiedSeq;
    LONG CacheNameSeq;
    ULONG CachePathUnits;
    ULONGLONG CachePathHash;
    ewl_verdict_t CacheVerdict;
    EWL_IMAGE_HASHES CacheHashes;
    NTSTATUS CacheSignerStatus; /* the signer stage's result, for reports */
    ULONG CacheSigners;
    /* What the PE header says the image is (imageload.c), valid while
     * ModifiedSeq == KindModifiedSeq: 0 unknown, else EWL_KIND_*. */
    UCHAR Kind;
    LONG KindModifiedSeq;
} EWL_STREAM_CONTEXT, *PEWL_STREAM_CONTEXT;
#define EWL_KIND_DLL 1     /* IMAGE_FILE_DLL set: an image load */
#define EWL_KIND_PROGRAM 2 /* IMAGE_FILE_DLL clear: a program, decided as a process */

/* An instance's context: whether its volume is the network redirector. */
typedef struct _EWL_INSTANCE_CONTEXT {
    BOOLEAN Network;
} EWL_INSTANCE_CONTEXT, *PEWL_INSTANCE_CONTEXT;

/* What the process callback learns about the image's stream. */
typedef struct _EWL_STREAM_REF {
    PFLT_INSTANCE Instance;        /* referenced, or NULL: no instance (volume not attached) */
    PEWL_STREAM_CONTEXT Stream;    /* referenced, or NULL: a stream the filter never saw */
    BOOLEAN Network;               /* the instance is on the network redirector (MUP) */
    BOOLEAN InstanceKnown;         /* the instance context could be read */
} EWL_STREAM_REF, *PEWL_STREAM_REF;

_IRQL_requires_(PASSIVE_LEVEL) NTSTATUS EwlFilterRegister(_In_ PDRIVER_OBJECT DriverObject);
_IRQL_requires_(PASSIVE_LEVEL) NTSTATUS EwlFilterStart(VOID);
_IRQL_requires_(PASSIVE_LEVEL) VOID EwlFilterUnregister(VOID);
_IRQL_requires_(PASSIVE_LEVEL) PFLT_FILTER EwlFilter(VOID);
_IRQL_requires_(PASSIVE_LEVEL)
VOID EwlStreamLookup(_In_ PFILE_OBJECT FileObject, _Out_ PEWL_STREAM_REF Ref);
_IRQL_requires_max_(APC_LEVEL) VOID EwlStreamRelease(_Inout_ PEWL_STREAM_REF Ref);

/* decide.c: one image, decided as docs/driver.md "Decide" says, for a
 * process (notify.c) and for an image load (imageload.c) alike. */
typedef struct _EWL_IMAGE_DECISION {
    ewl_verdict_t Verdict;
    EWL_IMAGE_HASHES Hashes;
    EWL_IMAGE_PATH Path;        /* freed by EwlImageDecisionFree */
    BOOLEAN PathQueried;
    NTSTATUS PathStatus;        /* STATUS_NOT_FOUND: not asked */
    NTSTATUS HashStatus;        /* STATUS_NOT_FOUND: not attempted */
    const ANSI_STRING *Reason;  /* replaces the rule id in reports; NULL: the rule's */
    const ANSI_STRING *Kind;    /* "rule", "no_path", "no_hash", "no_signer", "image_changed" */
    BOOLEAN Cached;             /* the verdict came from the stream's cache */
    BOOLEAN Hashed;             /* the hashing pass ran (HashStatus says how it ended) */
    PEWL_IMAGE_SIGNED Signed;   /* what it kept for the signer stage (EWL_TAG_SIGNER) */
    PEWL_SIGNER_WORK SignerWork; /* the signer stage's facts, when it ran */
    NTSTATUS SignerStatus;      /* STATUS_NOT_FOUND: not asked */
    ULONG Signers;              /* the valid signers the stage found (cached too) */
} EWL_IMAGE_DECISION, *PEWL_IMAGE_DECISION;

/* The caller zeroes *Decision first; Decision->Path may then hold the path
 * already (PathQueried): it is used, and the rest is filled here. */
_IRQL_requires_max_(APC_LEVEL)
VOID EwlImageDecide(_In_ PEWL_POLICY Policy, _In_opt_ PFILE_OBJECT FileObject,
                    _In_ const EWL_STREAM_REF *Stream, _Inout_ PEWL_IMAGE_DECISION Decision);
/* The path of the image (for a report), asked for now if it was not. */
_IRQL_requires_max_(APC_LEVEL)
VOID EwlImageDecisionPath(_In_opt_ PFILE_OBJECT FileObject, _In_ const EWL_STREAM_REF *Stream,
                          _Inout_ PEWL_IMAGE_DECISION Decision);
VOID EwlImageDecisionFree(_Inout_ PEWL_IMAGE_DECISION Decision);
/* A digest in lower-case hex, NUL-terminated (reports). */
VOID EwlHexDigest(_In_reads_(EWL_HASH_SIZE) const UCHAR *Digest,
                  _Out_writes_(2 * EWL_HASH_SIZE + 1) char *Out);

/* imageload.c: called by the section callback for an executable image
 * section, once the stream's state is recorded. FLT_PREOP_COMPLETE (with
 * Data->IoStatus set) refuses the section. */
_IRQL_requires_max_(APC_LEVEL)
FLT_PREOP_CALLBACK_STATUS EwlImageLoadDecide(_Inout_ PFLT_CALLBACK_DATA Data,
                                             _In_ PCFLT_RELATED_OBJECTS FltObjects,
                                             _In_ PEWL_STREAM_CONTEXT Stream);
/* A program's image section whose report waits (docs/driver.md, "Image
 * loads"): marked on its file object (filter.c), claimed by the process
 * callback when it becomes a process, else reported at the file object's
 * cleanup by EwlImageLoadDeferredReport. */
_IRQL_requires_max_(APC_LEVEL) BOOLEAN EwlImageReportDefer(_In_ PCFLT_RELATED_OBJECTS FltObjects);
_IRQL_requires_max_(APC_LEVEL)
VOID EwlImageReportClaim(_In_ PFLT_INSTANCE Instance, _In_ PFILE_OBJECT FileObject);
_IRQL_requires_(PASSIVE_LEVEL)
VOID EwlImageLoadDeferredReport(_In_ PCFLT_RELATED_OBJECTS FltObjects,
                                _In_opt_ PEWL_STREAM_CONTEXT Stream);
/* What a refused image section returns (docs/driver.md, "Image loads"). */
#define EWL_STATUS_IMAGE_LOAD_DENIED STATUS_ACCESS_DENIED

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
    NTSTATUS SignerStatus;     /* the signer stage's; STATUS_NOT_FOUND when not asked */
    ULONG Signers;             /* valid signers found (at most 8 counted) */
    UNICODE_STRING Signer;     /* the first one's common name; empty when none, or cached */
    ANSI_STRING Reason;        /* "rule", "no_hash", "no_path", "no_signer" or "image_changed" */
    BOOLEAN Enforced;
    /* Image loads only: the loading process's image (NT name, empty when
     * unknown), and whether it is critical (its end bugchecks). */
    UNICODE_STRING ProcessImage;
    BOOLEAN CriticalProcess;
} EWL_DENY_REPORT;

/* decide.c: The signer stage's result into a report (Decision NULL: not asked). */
VOID EwlImageDecisionSigner(_In_opt_ const EWL_IMAGE_DECISION *Decision,
                            _Inout_ EWL_DENY_REPORT *Report);

_IRQL_requires_(PASSIVE_LEVEL) NTSTATUS EwlEtwRegister(VOID);
_IRQL_requires_(PASSIVE_LEVEL) VOID EwlEtwUnregister(VOID);
_IRQL_requires_max_(DISPATCH_LEVEL) VOID EwlEtwProcessDenied(_In_ const EWL_DENY_REPORT *Report);
_IRQL_requires_max_(DISPATCH_LEVEL) VOID EwlEtwImageLoadDenied(_In_ const EWL_DENY_REPORT *Report);
_IRQL_requires_max_(APC_LEVEL) VOID EwlEtwPolicyLoaded(_In_ const EWL_POLICY *Policy);
_IRQL_requires_max_(DISPATCH_LEVEL)
VOID EwlEtwPolicyRejected(_In_ NTSTATUS Status, _In_ ULONG BlobCheck,
                          _In_ BOOLEAN PreviousPolicyKept);

/* notify.c */
_IRQL_requires_(PASSIVE_LEVEL) NTSTATUS EwlNotifyRegister(VOID);
_IRQL_requires_(PASSIVE_LEVEL) VOID EwlNotifyUnregister(VOID);

#endif /* EWL_KERNEL_H */
