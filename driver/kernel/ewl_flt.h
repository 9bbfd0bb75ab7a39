/* Filter Manager declarations (fltKernel.h is not part of mingw-w64): only
 * what the driver uses, with the WDK's x64 layouts, each checked by a
 * _Static_assert against the offsets fltKernel.h gives (and that
 * tests/emulation/fltmgr.py writes). The import library is driver/fltmgr.def. */
#ifndef EWL_FLT_H
#define EWL_FLT_H

#include <ntifs.h>

#ifndef OBJ_DONT_REPARSE
#define OBJ_DONT_REPARSE 0x00001000L
#endif

typedef PVOID PFLT_FILTER;
typedef PVOID PFLT_INSTANCE;
typedef PVOID PFLT_VOLUME;
typedef PVOID PFLT_CONTEXT;
typedef PVOID PFLT_DEFERRED_IO_WORKITEM;
typedef USHORT FLT_CONTEXT_TYPE;
typedef ULONG FLT_FILESYSTEM_TYPE;
typedef ULONG FLT_INSTANCE_SETUP_FLAGS;
typedef ULONG FLT_FILTER_UNLOAD_FLAGS;
typedef ULONG FLT_POST_OPERATION_FLAGS;
typedef ULONG FLT_IO_OPERATION_FLAGS;
typedef ULONG FLT_FILE_NAME_OPTIONS;

#define FLT_VOLUME_CONTEXT 0x0001
#define FLT_INSTANCE_CONTEXT 0x0002
#define FLT_STREAM_CONTEXT 0x0010
#define FLT_STREAMHANDLE_CONTEXT 0x0020
#define FLT_CONTEXT_END 0xffff

#define FLT_REGISTRATION_VERSION 0x0202
#define IRP_MJ_ACQUIRE_FOR_SECTION_SYNCHRONIZATION ((UCHAR)-1)
#define IRP_MJ_OPERATION_END ((UCHAR)0x80)

#define FLTFL_POST_OPERATION_DRAINING 0x00000001
#define FLTFL_IO_OPERATION_DO_NOT_UPDATE_BYTE_OFFSET 0x00000004

#define FLT_FILE_NAME_NORMALIZED 0x01
#define FLT_FILE_NAME_QUERY_DEFAULT 0x0100

#ifndef STATUS_FLT_DO_NOT_ATTACH
#define STATUS_FLT_DO_NOT_ATTACH ((NTSTATUS)0xC01C000FL)
#endif
#ifndef STATUS_FLT_CONTEXT_ALREADY_DEFINED
#define STATUS_FLT_CONTEXT_ALREADY_DEFINED ((NTSTATUS)0xC01C0012L)
#endif

typedef enum _FLT_PREOP_CALLBACK_STATUS {
    FLT_PREOP_SUCCESS_WITH_CALLBACK,
    FLT_PREOP_SUCCESS_NO_CALLBACK,
    FLT_PREOP_PENDING,
    FLT_PREOP_DISALLOW_FASTIO,
    FLT_PREOP_COMPLETE,
    FLT_PREOP_SYNCHRONIZE
} FLT_PREOP_CALLBACK_STATUS;

typedef enum _FLT_POSTOP_CALLBACK_STATUS {
    FLT_POSTOP_FINISHED_PROCESSING,
    FLT_POSTOP_MORE_PROCESSING_REQUIRED
} FLT_POSTOP_CALLBACK_STATUS;

typedef enum _FLT_SET_CONTEXT_OPERATION {
    FLT_SET_CONTEXT_REPLACE_IF_EXISTS,
    FLT_SET_CONTEXT_KEEP_IF_EXISTS
} FLT_SET_CONTEXT_OPERATION;

#define EWL_SYNC_TYPE_CREATE_SECTION 1 /* SyncTypeCreateSection */

typedef struct _FLT_RELATED_OBJECTS {
    USHORT Size;
    USHORT TransactionContext;
    PFLT_FILTER Filter;
    PFLT_VOLUME Volume;
    PFLT_INSTANCE Instance;
    PFILE_OBJECT FileObject;
    PVOID Transaction;
} FLT_RELATED_OBJECTS, *PFLT_RELATED_OBJECTS;
typedef const FLT_RELATED_OBJECTS *PCFLT_RELATED_OBJECTS;

/* FLT_PARAMETERS: the members of the union the driver reads. */
typedef union _FLT_PARAMETERS {
    struct {
        PIO_SECURITY_CONTEXT SecurityContext;
        ULONG Options;
        USHORT POINTER_ALIGNMENT FileAttributes;
        USHORT ShareAccess;
        ULONG POINTER_ALIGNMENT EaLength;
        PVOID EaBuffer;
        LARGE_INTEGER AllocationSize;
    } Create;
    struct {
        ULONG Length;
        FILE_INFORMATION_CLASS POINTER_ALIGNMENT FileInformationClass;
        PFILE_OBJECT ParentOfTarget;
        PVOID Reserved;
        PVOID InfoBuffer;
    } SetFileInformation;
    struct {
        ULONG SyncType; /* FS_FILTER_SECTION_SYNC_TYPE */
        ULONG PageProtection;
        PVOID OutputInformation;
        ULONG Flags;                /* newer systems only */
        ULONG AllocationAttributes; /* newer systems only */
    } AcquireForSectionSynchronization;
    struct {
        PVOID Argument1;
        PVOID Argument2;
        PVOID Argument3;
        PVOID Argument4;
        PVOID Argument5;
        LARGE_INTEGER Argument6;
    } Others;
} FLT_PARAMETERS;

typedef struct _FLT_IO_PARAMETER_BLOCK {
    ULONG IrpFlags;
    UCHAR MajorFunction;
    UCHAR MinorFunction;
    UCHAR OperationFlags;
    UCHAR Reserved;
    PFILE_OBJECT TargetFileObject;
    PFLT_INSTANCE TargetInstance;
    FLT_PARAMETERS Parameters;
} FLT_IO_PARAMETER_BLOCK, *PFLT_IO_PARAMETER_BLOCK;

typedef struct _FLT_CALLBACK_DATA {
    ULONG Flags;
    PETHREAD Thread;
    PFLT_IO_PARAMETER_BLOCK Iopb;
    IO_STATUS_BLOCK IoStatus;
    PVOID TagData;
    PVOID FilterContext[4];
    KPROCESSOR_MODE RequestorMode;
} FLT_CALLBACK_DATA, *PFLT_CALLBACK_DATA;

typedef FLT_PREOP_CALLBACK_STATUS NTAPI FLT_PRE_OPERATION_CALLBACK(
    _Inout_ PFLT_CALLBACK_DATA Data, _In_ PCFLT_RELATED_OBJECTS FltObjects,
    _Outptr_result_maybenull_ PVOID *CompletionContext);
typedef FLT_PRE_OPERATION_CALLBACK *PFLT_PRE_OPERATION_CALLBACK;
typedef FLT_POSTOP_CALLBACK_STATUS NTAPI FLT_POST_OPERATION_CALLBACK(
    _Inout_ PFLT_CALLBACK_DATA Data, _In_ PCFLT_RELATED_OBJECTS FltObjects,
    _In_opt_ PVOID CompletionContext, _In_ FLT_POST_OPERATION_FLAGS Flags);
typedef FLT_POST_OPERATION_CALLBACK *PFLT_POST_OPERATION_CALLBACK;
typedef NTSTATUS NTAPI FLT_FILTER_UNLOAD_CALLBACK(_In_ FLT_FILTER_UNLOAD_FLAGS Flags);
typedef FLT_FILTER_UNLOAD_CALLBACK *PFLT_FILTER_UNLOAD_CALLBACK;
typedef NTSTATUS NTAPI FLT_INSTANCE_SETUP_CALLBACK(_In_ PCFLT_RELATED_OBJECTS FltObjects,
                                                   _In_ FLT_INSTANCE_SETUP_FLAGS Flags,
                                                   _In_ DEVICE_TYPE VolumeDeviceType,
                                                   _In_ FLT_FILESYSTEM_TYPE VolumeFilesystemType);
typedef FLT_INSTANCE_SETUP_CALLBACK *PFLT_INSTANCE_SETUP_CALLBACK;
typedef VOID NTAPI FLT_CONTEXT_CLEANUP_CALLBACK(_In_ PFLT_CONTEXT Context,
                                                _In_ FLT_CONTEXT_TYPE ContextType);
typedef FLT_CONTEXT_CLEANUP_CALLBACK *PFLT_CONTEXT_CLEANUP_CALLBACK;

typedef struct _FLT_OPERATION_REGISTRATION {
    UCHAR MajorFunction;
    ULONG Flags;
    PFLT_PRE_OPERATION_CALLBACK PreOperation;
    PFLT_POST_OPERATION_CALLBACK PostOperation;
    PVOID Reserved1;
} FLT_OPERATION_REGISTRATION;

typedef struct _FLT_CONTEXT_REGISTRATION {
    FLT_CONTEXT_TYPE ContextType;
    USHORT Flags;
    PFLT_CONTEXT_CLEANUP_CALLBACK ContextCleanupCallback;
    SIZE_T Size;
    ULONG PoolTag;
    PVOID ContextAllocateCallback;
    PVOID ContextFreeCallback;
    PVOID Reserved1;
} FLT_CONTEXT_REGISTRATION;

typedef struct _FLT_REGISTRATION {
    USHORT Size;
    USHORT Version;
    ULONG Flags;
    const FLT_CONTEXT_REGISTRATION *ContextRegistration;
    const FLT_OPERATION_REGISTRATION *OperationRegistration;
    PFLT_FILTER_UNLOAD_CALLBACK FilterUnloadCallback;
    PFLT_INSTANCE_SETUP_CALLBACK InstanceSetupCallback;
    PVOID InstanceQueryTeardownCallback;
    PVOID InstanceTeardownStartCallback;
    PVOID InstanceTeardownCompleteCallback;
    PVOID GenerateFileNameCallback;
    PVOID NormalizeNameComponentCallback;
    PVOID NormalizeContextCleanupCallback;
    PVOID TransactionNotificationCallback;
    PVOID NormalizeNameComponentExCallback;
    PVOID SectionNotificationCallback;
} FLT_REGISTRATION;

typedef struct _FLT_FILE_NAME_INFORMATION {
    USHORT Size;
    USHORT NamesParsed;
    FLT_FILE_NAME_OPTIONS Format;
    UNICODE_STRING Name;
    UNICODE_STRING Volume;
    UNICODE_STRING Share;
    UNICODE_STRING Extension;
    UNICODE_STRING Stream;
    UNICODE_STRING FinalComponent;
    UNICODE_STRING ParentDir;
} FLT_FILE_NAME_INFORMATION, *PFLT_FILE_NAME_INFORMATION;

/* x64 layouts (fltKernel.h; the harness writes the same offsets). */
_Static_assert(sizeof(FLT_REGISTRATION) == 0x70, "FLT_REGISTRATION");
_Static_assert(FIELD_OFFSET(FLT_REGISTRATION, InstanceSetupCallback) == 0x20, "layout");
_Static_assert(sizeof(FLT_OPERATION_REGISTRATION) == 0x20, "FLT_OPERATION_REGISTRATION");
_Static_assert(sizeof(FLT_CONTEXT_REGISTRATION) == 0x38, "FLT_CONTEXT_REGISTRATION");
_Static_assert(FIELD_OFFSET(FLT_CONTEXT_REGISTRATION, PoolTag) == 0x18, "layout");
_Static_assert(sizeof(FLT_RELATED_OBJECTS) == 0x30, "FLT_RELATED_OBJECTS");
_Static_assert(FIELD_OFFSET(FLT_RELATED_OBJECTS, Instance) == 0x18, "layout");
_Static_assert(FIELD_OFFSET(FLT_RELATED_OBJECTS, FileObject) == 0x20, "layout");
_Static_assert(FIELD_OFFSET(FLT_CALLBACK_DATA, Iopb) == 0x10, "layout");
_Static_assert(FIELD_OFFSET(FLT_CALLBACK_DATA, IoStatus) == 0x18, "layout");
_Static_assert(FIELD_OFFSET(FLT_IO_PARAMETER_BLOCK, TargetFileObject) == 0x08, "layout");
_Static_assert(FIELD_OFFSET(FLT_IO_PARAMETER_BLOCK, Parameters) == 0x18, "layout");
_Static_assert(FIELD_OFFSET(FLT_PARAMETERS, SetFileInformation.FileInformationClass) == 0x08,
               "layout");
_Static_assert(FIELD_OFFSET(FLT_PARAMETERS, AcquireForSectionSynchronization.PageProtection) == 4,
               "layout");
_Static_assert(FIELD_OFFSET(IO_SECURITY_CONTEXT, DesiredAccess) == 0x10, "layout");
_Static_assert(FIELD_OFFSET(FILE_OBJECT, FsContext) == 0x18, "layout");
_Static_assert(FIELD_OFFSET(FILE_OBJECT, SectionObjectPointer) == 0x28, "layout");
_Static_assert(FIELD_OFFSET(FILE_OBJECT, CurrentByteOffset) == 0x68, "layout");

NTSTATUS NTAPI FltRegisterFilter(_In_ PDRIVER_OBJECT Driver, _In_ const FLT_REGISTRATION *Registration,
                                 _Outptr_ PFLT_FILTER *RetFilter);
NTSTATUS NTAPI FltStartFiltering(_In_ PFLT_FILTER Filter);
VOID NTAPI FltUnregisterFilter(_In_ PFLT_FILTER Filter);
NTSTATUS NTAPI FltAllocateContext(_In_ PFLT_FILTER Filter, _In_ FLT_CONTEXT_TYPE ContextType,
                                  _In_ SIZE_T ContextSize, _In_ POOL_TYPE PoolType,
                                  _Outptr_ PFLT_CONTEXT *ReturnedContext);
VOID NTAPI FltReleaseContext(_In_ PFLT_CONTEXT Context);
NTSTATUS NTAPI FltGetStreamContext(_In_ PFLT_INSTANCE Instance, _In_ PFILE_OBJECT FileObject,
                                   _Outptr_ PFLT_CONTEXT *Context);
NTSTATUS NTAPI FltSetStreamContext(_In_ PFLT_INSTANCE Instance, _In_ PFILE_OBJECT FileObject,
                                   _In_ FLT_SET_CONTEXT_OPERATION Operation,
                                   _In_ PFLT_CONTEXT NewContext,
                                   _Outptr_opt_result_maybenull_ PFLT_CONTEXT *OldContext);
NTSTATUS NTAPI FltGetStreamHandleContext(_In_ PFLT_INSTANCE Instance, _In_ PFILE_OBJECT FileObject,
                                         _Outptr_ PFLT_CONTEXT *Context);
NTSTATUS NTAPI FltSetStreamHandleContext(_In_ PFLT_INSTANCE Instance, _In_ PFILE_OBJECT FileObject,
                                         _In_ FLT_SET_CONTEXT_OPERATION Operation,
                                         _In_ PFLT_CONTEXT NewContext,
                                         _Outptr_opt_result_maybenull_ PFLT_CONTEXT *OldContext);
NTSTATUS NTAPI FltGetInstanceContext(_In_ PFLT_INSTANCE Instance, _Outptr_ PFLT_CONTEXT *Context);
NTSTATUS NTAPI FltSetInstanceContext(_In_ PFLT_INSTANCE Instance,
                                     _In_ FLT_SET_CONTEXT_OPERATION Operation,
                                     _In_ PFLT_CONTEXT NewContext,
                                     _Outptr_opt_result_maybenull_ PFLT_CONTEXT *OldContext);
NTSTATUS NTAPI FltGetVolumeFromFileObject(_In_ PFLT_FILTER Filter, _In_ PFILE_OBJECT FileObject,
                                          _Outptr_ PFLT_VOLUME *RetVolume);
NTSTATUS NTAPI FltGetVolumeInstanceFromName(_In_ PFLT_FILTER Filter, _In_ PFLT_VOLUME Volume,
                                            _In_opt_ PCUNICODE_STRING InstanceName,
                                            _Outptr_ PFLT_INSTANCE *RetInstance);
VOID NTAPI FltObjectDereference(_Inout_ PVOID FltObject);
NTSTATUS NTAPI FltCreateFileEx2(
    _In_ PFLT_FILTER Filter, _In_opt_ PFLT_INSTANCE Instance, _Out_ PHANDLE FileHandle,
    _Outptr_opt_ PFILE_OBJECT *FileObject, _In_ ACCESS_MASK DesiredAccess,
    _In_ POBJECT_ATTRIBUTES ObjectAttributes, _Out_ PIO_STATUS_BLOCK IoStatusBlock,
    _In_opt_ PLARGE_INTEGER AllocationSize, _In_ ULONG FileAttributes, _In_ ULONG ShareAccess,
    _In_ ULONG CreateDisposition, _In_ ULONG CreateOptions, _In_opt_ PVOID EaBuffer,
    _In_ ULONG EaLength, _In_ ULONG Flags, _In_opt_ PVOID DriverContext);
NTSTATUS NTAPI FltClose(_In_ HANDLE FileHandle);
NTSTATUS NTAPI FltReadFileEx(_In_ PFLT_INSTANCE InitiatingInstance, _In_ PFILE_OBJECT FileObject,
                             _In_opt_ PLARGE_INTEGER ByteOffset, _In_ ULONG Length,
                             _Out_writes_bytes_(Length) PVOID Buffer, _In_ FLT_IO_OPERATION_FLAGS Flags,
                             _Out_opt_ PULONG BytesRead, _In_opt_ PVOID CallbackRoutine,
                             _In_opt_ PVOID CallbackContext, _In_opt_ PULONG Key,
                             _In_opt_ PMDL Mdl);
NTSTATUS NTAPI FltQueryInformationFile(_In_ PFLT_INSTANCE Instance, _In_ PFILE_OBJECT FileObject,
                                       _Out_writes_bytes_(Length) PVOID FileInformation,
                                       _In_ ULONG Length,
                                       _In_ FILE_INFORMATION_CLASS FileInformationClass,
                                       _Out_opt_ PULONG LengthReturned);
NTSTATUS NTAPI FltGetFileNameInformationUnsafe(_In_ PFILE_OBJECT FileObject,
                                               _In_opt_ PFLT_INSTANCE Instance,
                                               _In_ FLT_FILE_NAME_OPTIONS NameOptions,
                                               _Outptr_ PFLT_FILE_NAME_INFORMATION *Information);
NTSTATUS NTAPI FltParseFileNameInformation(_Inout_ PFLT_FILE_NAME_INFORMATION Information);
VOID NTAPI FltReleaseFileNameInformation(_In_ PFLT_FILE_NAME_INFORMATION Information);

#endif /* EWL_FLT_H */
