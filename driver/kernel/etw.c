/* ETW reporting: the TraceLogging provider "Exewhitelist.Driver".
 *
 * TraceLogging events describe themselves, so there is no manifest to compile
 * (mc.exe, WEVT_TEMPLATE) or install: tracelog, wpr and logman enable the
 * provider by GUID or as "*Exewhitelist.Driver", and tracerpt, WPA and
 * Get-WinEvent decode the events from the metadata they carry. mingw-w64 has
 * no TraceLoggingProvider.h, so the encoding is written here by hand. It is
 * the one TraceLoggingProvider.h and microsoft/tracelogging's
 * TraceLoggingDynamic produce:
 *
 *  - EtwWriteTransfer with channel 11 (WINEVENT_CHANNEL_TRACELOGGING) and id,
 *    version, task and opcode 0: an event is known by its name;
 *  - data descriptor 0 (Reserved = 2, EVENT_DATA_DESCRIPTOR_TYPE_PROVIDER_METADATA):
 *    UINT16 size (itself included), the provider name, UTF-8, NUL-terminated;
 *  - data descriptor 1 (Reserved = 1, EVENT_DATA_DESCRIPTOR_TYPE_EVENT_METADATA):
 *    UINT16 size, a tags byte (0: none), the event name NUL-terminated, then
 *    per field its name NUL-terminated and an InType byte, followed by an
 *    OutType byte when the InType has the chain bit (0x80);
 *  - the other descriptors are the field values in order; a counted string
 *    is a UINT16 byte count followed by the bytes.
 *
 * The provider traits travel with every event (descriptor 0), which is where
 * Windows 10 takes them from. EtwSetInformation(EventProviderSetTraits) is not
 * called: TraceLoggingProvider.h calls it for older systems, and there it
 * matters only for events outside channel 11.
 *
 * The GUID is the ETW name hash of the provider name (as .NET EventSource and
 * the TraceLogging tools compute it; tests/test_driver_emulation.py checks
 * it). Event and field names are an interface: docs/driver.md lists them. */
#include "ewl_kernel.h"

#define EWL_ETW_PROVIDER_NAME "Exewhitelist.Driver"
/* {802e0a3b-957f-5966-611b-a854b67e7775} = name hash of EWL_ETW_PROVIDER_NAME */
static const GUID g_ProviderId = {
    0x802e0a3b, 0x957f, 0x5966, {0x61, 0x1b, 0xa8, 0x54, 0xb6, 0x7e, 0x77, 0x75}};

#define EWL_TLG_CHANNEL 11
#define EWL_TLG_DESC_EVENT_METADATA 1
#define EWL_TLG_DESC_PROVIDER_METADATA 2

/* Field types: InType [| 0x80, OutType]. */
#define EWL_TLG_UINT32 "\x08"           /* TlgInUINT32 */
#define EWL_TLG_PID "\x88\x05"          /* TlgInUINT32, TlgOutPID */
#define EWL_TLG_HEXINT32 "\x14"         /* TlgInHEXINT32 */
#define EWL_TLG_BOOLEAN "\x84\x03"      /* TlgInUINT8, TlgOutBOOLEAN */
#define EWL_TLG_COUNTED_UTF16 "\x16"    /* TlgInCOUNTEDSTRING */
#define EWL_TLG_COUNTED_ASCII "\x17"    /* TlgInCOUNTEDANSISTRING */
#define EWL_TLG_COUNTED_UTF8 "\x97\x23" /* TlgInCOUNTEDANSISTRING, TlgOutUTF8 */

/* Separate literals, so that no escape runs into the next name. */
#define EWL_TLG_NAME(name) "\0" name "\0" /* no tags, then the event name */
#define EWL_TLG_FIELD(name, type) name "\0" type

/* Event metadata: UINT16 size, then Body without the literal's own NUL. */
#define EWL_TLG_EVENT(var, body)                                                              \
    static const struct {                                                                     \
        USHORT Size;                                                                          \
        char Body[sizeof(body)];                                                              \
    } var = {(USHORT)(sizeof(USHORT) + sizeof(body) - 1), body}

/* Levels (TRACE_LEVEL_*) and keywords; docs/driver.md documents them. */
#define EWL_LEVEL_ERROR 2
#define EWL_LEVEL_WARNING 3
#define EWL_LEVEL_INFORMATION 4
#define EWL_KEYWORD_DENY 0x1ull
#define EWL_KEYWORD_AUDIT_DENY 0x2ull
#define EWL_KEYWORD_POLICY 0x4ull
#define EWL_KEYWORD_IMAGE_LOAD_DENY 0x8ull
#define EWL_KEYWORD_IMAGE_LOAD_AUDIT_DENY 0x10ull

/* The fields both deny events end with: the image and its decision. */
#define EWL_IMAGE_FIELDS                                                                      \
    EWL_TLG_FIELD("ImagePath", EWL_TLG_COUNTED_UTF16)                                         \
    EWL_TLG_FIELD("PathStatus", EWL_TLG_HEXINT32)                                             \
    EWL_TLG_FIELD("Sha256", EWL_TLG_COUNTED_ASCII)                                            \
    EWL_TLG_FIELD("Sha256Kind", EWL_TLG_COUNTED_ASCII)                                        \
    EWL_TLG_FIELD("HashStatus", EWL_TLG_HEXINT32)                                             \
    EWL_TLG_FIELD("SignerStatus", EWL_TLG_HEXINT32)                                           \
    EWL_TLG_FIELD("Signers", EWL_TLG_UINT32)                                                  \
    EWL_TLG_FIELD("Signer", EWL_TLG_COUNTED_UTF16)                                            \
    EWL_TLG_FIELD("RuleId", EWL_TLG_COUNTED_UTF8)                                             \
    EWL_TLG_FIELD("Reason", EWL_TLG_COUNTED_ASCII)                                            \
    EWL_TLG_FIELD("Enforced", EWL_TLG_BOOLEAN)
#define EWL_IMAGE_VALUES 17 /* descriptors: a counted string takes two */

#define EWL_DENY_FIELDS                                                                       \
    EWL_TLG_FIELD("ProcessId", EWL_TLG_PID)                                                   \
    EWL_TLG_FIELD("ParentProcessId", EWL_TLG_PID)                                             \
    EWL_IMAGE_FIELDS
#define EWL_DENY_VALUES (2 + EWL_IMAGE_VALUES)

EWL_TLG_EVENT(g_ProcessDenied, EWL_TLG_NAME("ProcessDenied") EWL_DENY_FIELDS);
EWL_TLG_EVENT(g_ProcessAuditDenied, EWL_TLG_NAME("ProcessAuditDenied") EWL_DENY_FIELDS);
#define EWL_IMAGE_LOAD_FIELDS                                                                 \
    EWL_TLG_FIELD("ProcessId", EWL_TLG_PID)                                                   \
    EWL_TLG_FIELD("ProcessImage", EWL_TLG_COUNTED_UTF16)                                      \
    EWL_TLG_FIELD("CriticalProcess", EWL_TLG_BOOLEAN)                                         \
    EWL_IMAGE_FIELDS
#define EWL_IMAGE_LOAD_VALUES (4 + EWL_IMAGE_VALUES)

EWL_TLG_EVENT(g_ImageLoadDenied, EWL_TLG_NAME("ImageLoadDenied") EWL_IMAGE_LOAD_FIELDS);
EWL_TLG_EVENT(g_ImageLoadAuditDenied, EWL_TLG_NAME("ImageLoadAuditDenied") EWL_IMAGE_LOAD_FIELDS);
EWL_TLG_EVENT(g_PolicyLoaded,
              EWL_TLG_NAME("PolicyLoaded")
              EWL_TLG_FIELD("BlobSize", EWL_TLG_UINT32)
              EWL_TLG_FIELD("PolicyVersion", EWL_TLG_UINT32)
              EWL_TLG_FIELD("Enforced", EWL_TLG_BOOLEAN)
              EWL_TLG_FIELD("AuthenticodeAllowRules", EWL_TLG_UINT32)
              EWL_TLG_FIELD("AuthenticodeDenyRules", EWL_TLG_UINT32)
              EWL_TLG_FIELD("FileAllowRules", EWL_TLG_UINT32)
              EWL_TLG_FIELD("FileDenyRules", EWL_TLG_UINT32)
              EWL_TLG_FIELD("PathRules", EWL_TLG_UINT32));
#define EWL_LOADED_VALUES 8
EWL_TLG_EVENT(g_PolicyRejected,
              EWL_TLG_NAME("PolicyRejected")
              EWL_TLG_FIELD("Status", EWL_TLG_HEXINT32)
              EWL_TLG_FIELD("BlobCheck", EWL_TLG_UINT32)
              EWL_TLG_FIELD("PreviousPolicyKept", EWL_TLG_BOOLEAN));
#define EWL_REJECTED_VALUES 3

/* Provider metadata: UINT16 size, the name with its NUL. */
static const struct {
    USHORT Size;
    char Name[sizeof(EWL_ETW_PROVIDER_NAME)];
} g_ProviderMetadata = {(USHORT)(sizeof(USHORT) + sizeof(EWL_ETW_PROVIDER_NAME)),
                        EWL_ETW_PROVIDER_NAME};

static REGHANDLE g_Provider;
static BOOLEAN g_Registered;

static VOID EwlDesc(_Out_ PEVENT_DATA_DESCRIPTOR Desc, _In_reads_bytes_opt_(Size) const VOID *Data,
                    _In_ ULONG Size)
{
    Desc->Ptr = (ULONGLONG)(ULONG_PTR)Data;
    Desc->Size = Size;
    Desc->Reserved = 0; /* the low byte is the descriptor type: 0, a value */
}

/* A counted string: Length (the USHORT that starts UNICODE_STRING and
 * ANSI_STRING, a byte count) is the count, then the bytes themselves. */
static VOID EwlDescCounted(_Out_writes_(2) PEVENT_DATA_DESCRIPTOR Desc, _In_ const USHORT *Length,
                           _In_reads_bytes_opt_(*Length) const VOID *Buffer)
{
    EwlDesc(&Desc[0], Length, sizeof(*Length));
    EwlDesc(&Desc[1], Buffer, *Length);
}

/* Data[0] and Data[1] are filled here: the provider and event metadata. */
_IRQL_requires_max_(DISPATCH_LEVEL)
static VOID EwlWrite(_In_ const USHORT *Metadata, _In_ UCHAR Level, _In_ ULONGLONG Keyword,
                     _In_ ULONG Count, _Inout_updates_(Count) PEVENT_DATA_DESCRIPTOR Data)
{
    EVENT_DESCRIPTOR descriptor;

    if (!g_Registered) {
        return; /* EtwRegister failed at load: DbgPrintEx only */
    }
    RtlZeroMemory(&descriptor, sizeof(descriptor));
    descriptor.Channel = EWL_TLG_CHANNEL;
    descriptor.Level = Level;
    descriptor.Keyword = Keyword;
    EwlDesc(&Data[0], &g_ProviderMetadata, g_ProviderMetadata.Size);
    Data[0].Reserved = EWL_TLG_DESC_PROVIDER_METADATA;
    EwlDesc(&Data[1], Metadata, *Metadata);
    Data[1].Reserved = EWL_TLG_DESC_EVENT_METADATA;
    /* Fails only when no session takes the event, or one is full: not ours
     * to handle (the DbgPrintEx line is written regardless). */
    (VOID)EtwWriteTransfer(g_Provider, &descriptor, NULL, NULL, Count, Data);
}

/* The values of EWL_IMAGE_FIELDS, converted where the field's type is not
 * the report's: kept by the caller until the event is written. */
typedef struct _EWL_IMAGE_SCALARS {
    ULONG PathStatus;
    ULONG HashStatus;
    ULONG SignerStatus;
    UCHAR Enforced;
} EWL_IMAGE_SCALARS;

/* Data[0, EWL_IMAGE_VALUES): EWL_IMAGE_FIELDS of Report. */
static VOID EwlDescImage(_Out_writes_(EWL_IMAGE_VALUES) PEVENT_DATA_DESCRIPTOR Data,
                         _In_ const EWL_DENY_REPORT *Report, _Out_ EWL_IMAGE_SCALARS *Scalars)
{
    Scalars->PathStatus = (ULONG)Report->PathStatus;
    Scalars->HashStatus = (ULONG)Report->HashStatus;
    Scalars->SignerStatus = (ULONG)Report->SignerStatus;
    Scalars->Enforced = Report->Enforced ? 1 : 0;
    EwlDescCounted(&Data[0], &Report->Image.Length, Report->Image.Buffer);
    EwlDesc(&Data[2], &Scalars->PathStatus, sizeof(Scalars->PathStatus));
    EwlDescCounted(&Data[3], &Report->Sha256.Length, Report->Sha256.Buffer);
    EwlDescCounted(&Data[5], &Report->Sha256Kind.Length, Report->Sha256Kind.Buffer);
    EwlDesc(&Data[7], &Scalars->HashStatus, sizeof(Scalars->HashStatus));
    EwlDesc(&Data[8], &Scalars->SignerStatus, sizeof(Scalars->SignerStatus));
    EwlDesc(&Data[9], &Report->Signers, sizeof(Report->Signers));
    EwlDescCounted(&Data[10], &Report->Signer.Length, Report->Signer.Buffer);
    EwlDescCounted(&Data[12], &Report->RuleId.Length, Report->RuleId.Buffer);
    EwlDescCounted(&Data[14], &Report->Reason.Length, Report->Reason.Buffer);
    EwlDesc(&Data[16], &Scalars->Enforced, sizeof(Scalars->Enforced));
}

_IRQL_requires_max_(DISPATCH_LEVEL)
VOID EwlEtwProcessDenied(_In_ const EWL_DENY_REPORT *Report)
{
    EVENT_DATA_DESCRIPTOR data[2 + EWL_DENY_VALUES];
    ULONG processId = (ULONG)(ULONG_PTR)Report->ProcessId;
    ULONG parentId = (ULONG)(ULONG_PTR)Report->ParentProcessId;
    EWL_IMAGE_SCALARS scalars;

    EwlDesc(&data[2], &processId, sizeof(processId));
    EwlDesc(&data[3], &parentId, sizeof(parentId));
    EwlDescImage(&data[4], Report, &scalars);
    if (Report->Enforced) {
        EwlWrite(&g_ProcessDenied.Size, EWL_LEVEL_WARNING, EWL_KEYWORD_DENY, ARRAYSIZE(data),
                 data);
    } else {
        EwlWrite(&g_ProcessAuditDenied.Size, EWL_LEVEL_WARNING, EWL_KEYWORD_AUDIT_DENY,
                 ARRAYSIZE(data), data);
    }
}

_IRQL_requires_max_(DISPATCH_LEVEL)
VOID EwlEtwImageLoadDenied(_In_ const EWL_DENY_REPORT *Report)
{
    EVENT_DATA_DESCRIPTOR data[2 + EWL_IMAGE_LOAD_VALUES];
    ULONG processId = (ULONG)(ULONG_PTR)Report->ProcessId;
    UCHAR critical = Report->CriticalProcess ? 1 : 0;
    EWL_IMAGE_SCALARS scalars;

    EwlDesc(&data[2], &processId, sizeof(processId));
    EwlDescCounted(&data[3], &Report->ProcessImage.Length, Report->ProcessImage.Buffer);
    EwlDesc(&data[5], &critical, sizeof(critical));
    EwlDescImage(&data[6], Report, &scalars);
    if (Report->Enforced) {
        EwlWrite(&g_ImageLoadDenied.Size, EWL_LEVEL_WARNING, EWL_KEYWORD_IMAGE_LOAD_DENY,
                 ARRAYSIZE(data), data);
    } else {
        EwlWrite(&g_ImageLoadAuditDenied.Size, EWL_LEVEL_WARNING,
                 EWL_KEYWORD_IMAGE_LOAD_AUDIT_DENY, ARRAYSIZE(data), data);
    }
}

_IRQL_requires_max_(APC_LEVEL) /* the policy is in paged pool */
VOID EwlEtwPolicyLoaded(_In_ const EWL_POLICY *Policy)
{
    EVENT_DATA_DESCRIPTOR data[2 + EWL_LOADED_VALUES];
    ULONG size = (ULONG)Policy->Size; /* at most EWL_POLICY_MAX_BYTES */
    ULONG version = Policy->Blob.policy_version;
    UCHAR enforced = (Policy->Blob.flags & EWL_FLAG_AUDIT) ? 0 : 1;
    const ewl_section_t *sections = Policy->Blob.sections;

    EwlDesc(&data[2], &size, sizeof(size));
    EwlDesc(&data[3], &version, sizeof(version));
    EwlDesc(&data[4], &enforced, sizeof(enforced));
    EwlDesc(&data[5], &sections[EWL_SECTION_AUTHENTICODE_ALLOW].count, sizeof(ULONG));
    EwlDesc(&data[6], &sections[EWL_SECTION_AUTHENTICODE_DENY].count, sizeof(ULONG));
    EwlDesc(&data[7], &sections[EWL_SECTION_FILE_ALLOW].count, sizeof(ULONG));
    EwlDesc(&data[8], &sections[EWL_SECTION_FILE_DENY].count, sizeof(ULONG));
    EwlDesc(&data[9], &sections[EWL_SECTION_PATH_RULES].count, sizeof(ULONG));
    EwlWrite(&g_PolicyLoaded.Size, EWL_LEVEL_INFORMATION, EWL_KEYWORD_POLICY, ARRAYSIZE(data),
             data);
}

_IRQL_requires_max_(DISPATCH_LEVEL)
VOID EwlEtwPolicyRejected(_In_ NTSTATUS Status, _In_ ULONG BlobCheck,
                          _In_ BOOLEAN PreviousPolicyKept)
{
    EVENT_DATA_DESCRIPTOR data[2 + EWL_REJECTED_VALUES];
    ULONG status = (ULONG)Status;
    UCHAR kept = PreviousPolicyKept ? 1 : 0;

    EwlDesc(&data[2], &status, sizeof(status));
    EwlDesc(&data[3], &BlobCheck, sizeof(BlobCheck));
    EwlDesc(&data[4], &kept, sizeof(kept));
    EwlWrite(&g_PolicyRejected.Size, EWL_LEVEL_ERROR, EWL_KEYWORD_POLICY, ARRAYSIZE(data), data);
}

_IRQL_requires_(PASSIVE_LEVEL)
NTSTATUS EwlEtwRegister(VOID)
{
    NTSTATUS status;

    PAGED_CODE();
    /* No enable callback: an event is rare and cheap to build, and EtwWriteTransfer
     * drops it when no session listens. */
    status = EtwRegister(&g_ProviderId, NULL, NULL, &g_Provider);
    if (NT_SUCCESS(status)) {
        g_Registered = TRUE;
    } else {
        g_Provider = 0;
    }
    return status;
}

/* Idempotent; the callbacks that write events are deregistered by then. */
_IRQL_requires_(PASSIVE_LEVEL)
VOID EwlEtwUnregister(VOID)
{
    PAGED_CODE();
    if (g_Registered) {
        (VOID)EtwUnregister(g_Provider);
        g_Provider = 0;
        g_Registered = FALSE;
    }
}
