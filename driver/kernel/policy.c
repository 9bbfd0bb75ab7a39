/* The policy: HKLM\SYSTEM\CurrentControlSet\Services\<service>\Parameters,
 * value "Policy" (REG_BINARY, a blob per docs/blob-format.md).
 *
 * The value's type and length are checked before its bytes are used; the
 * bytes are copied to NonPagedPoolNx and validated completely by the core.
 * Only a valid blob is ever installed: a missing, wrong-typed, empty,
 * oversized or invalid value leaves the policy in force unchanged (none at
 * load: everything is allowed) and is reported. A policy object is immutable
 * once installed and reference-counted; the swap happens under an ERESOURCE,
 * so a callback in flight keeps the policy it took. */
#include "ewl_kernel.h"

#define EWL_PARAMETERS_SUFFIX L"\\Parameters"
#define EWL_POLICY_VALUE L"Policy"
#define EWL_LKG_VALUE L"PolicyLastKnownGood"
#define EWL_BOOT_STARTED 1u
#define EWL_BOOT_COMPLETE 2u

static ERESOURCE g_PolicyLock;
static BOOLEAN g_PolicyLockInitialized;
/* Serializes EwlPolicyLoad (DriverEntry, registry callbacks in any thread):
 * the last value read is the last one installed. */
static ERESOURCE g_LoadLock;
static BOOLEAN g_LoadLockInitialized;
static PEWL_POLICY g_Policy; /* guarded by g_PolicyLock; holds one reference */
static UNICODE_STRING g_ParametersPath;
static volatile LONG g_Generation; /* the last policy's; 0 is never used */
EWL_SETTINGS g_EwlSettings = {FALSE, EWL_DEFAULT_MAX_HASH_BYTES,
                               EWL_DEFAULT_NETWORK_READ_BUDGET_MS, FALSE, FALSE, FALSE,
                               EWL_IMAGE_LOADS_AUDIT, FALSE, EWL_SUBSYSTEM_RULES};
EWL_PATH_VARIABLES g_EwlSystemVariables;
static ULONG g_Validations; /* ewl_blob_validate calls (under g_LoadLock): reported */
static volatile LONG g_BootMarked;

_IRQL_requires_(PASSIVE_LEVEL)
NTSTATUS EwlPolicyInitialize(_In_ PCUNICODE_STRING RegistryPath)
{
    NTSTATUS status = STATUS_SUCCESS;
    SIZE_T suffixBytes = sizeof(EWL_PARAMETERS_SUFFIX) - sizeof(WCHAR);
    SIZE_T total;

    PAGED_CODE();
    total = (SIZE_T)RegistryPath->Length + suffixBytes;
    if (total > MAXUSHORT) {
        status = STATUS_NAME_TOO_LONG;
        goto Exit;
    }
    g_ParametersPath.Buffer = (PWCH)EwlAllocatePool(FALSE, total, EWL_TAG_NAME);
    if (g_ParametersPath.Buffer == NULL) {
        status = STATUS_INSUFFICIENT_RESOURCES;
        goto Exit;
    }
    RtlCopyMemory(g_ParametersPath.Buffer, RegistryPath->Buffer, RegistryPath->Length);
    RtlCopyMemory((PUCHAR)g_ParametersPath.Buffer + RegistryPath->Length, EWL_PARAMETERS_SUFFIX,
                  suffixBytes);
    g_ParametersPath.Length = (USHORT)total;
    g_ParametersPath.MaximumLength = (USHORT)total;

    status = ExInitializeResourceLite(&g_PolicyLock);
    if (!NT_SUCCESS(status)) {
        goto Exit;
    }
    g_PolicyLockInitialized = TRUE;
    status = ExInitializeResourceLite(&g_LoadLock);
    if (!NT_SUCCESS(status)) {
        goto Exit;
    }
    g_LoadLockInitialized = TRUE;

Exit:
    if (!NT_SUCCESS(status)) {
        EwlPolicyUninitialize();
    }
    return status;
}

/* A REG_DWORD of the Parameters key, or FALSE. */
_IRQL_requires_(PASSIVE_LEVEL)
static BOOLEAN EwlReadDword(_In_ HANDLE Key, _In_z_ const WCHAR *Name, _Out_ PULONG Value)
{
    UCHAR buffer[FIELD_OFFSET(KEY_VALUE_PARTIAL_INFORMATION, Data) + sizeof(ULONG)];
    PKEY_VALUE_PARTIAL_INFORMATION info = (PKEY_VALUE_PARTIAL_INFORMATION)buffer;
    UNICODE_STRING valueName;
    ULONG got = 0;

    PAGED_CODE();
    *Value = 0;
    RtlInitUnicodeString(&valueName, Name);
    if (!NT_SUCCESS(ZwQueryValueKey(Key, &valueName, KeyValuePartialInformation, info,
                                    sizeof(buffer), &got)) ||
        info->Type != REG_DWORD || info->DataLength != sizeof(ULONG)) {
        return FALSE;
    }
    RtlCopyMemory(Value, info->Data, sizeof(ULONG));
    return TRUE;
}

/* Write a REG_DWORD of the Parameters key; the status says whether it was. */
_IRQL_requires_(PASSIVE_LEVEL)
static NTSTATUS EwlWriteDword(_In_z_ const WCHAR *Name, _In_ ULONG Value)
{
    NTSTATUS status;
    OBJECT_ATTRIBUTES attributes;
    UNICODE_STRING valueName;
    HANDLE key = NULL;

    PAGED_CODE();
    RtlInitUnicodeString(&valueName, Name);
    InitializeObjectAttributes(&attributes, &g_ParametersPath,
                               OBJ_CASE_INSENSITIVE | OBJ_KERNEL_HANDLE, NULL, NULL);
    status = ZwOpenKey(&key, KEY_SET_VALUE, &attributes);
    if (!NT_SUCCESS(status)) {
        key = NULL;
        goto Exit;
    }
    status = ZwSetValueKey(key, &valueName, 0, REG_DWORD, &Value, sizeof(Value));

Exit:
    if (key != NULL) {
        (VOID)ZwClose(key);
    }
    return status;
}

/* The service parameters (docs/driver.md, "Parameters"), once, in
 * DriverEntry, before the policy: TrustNetworkHashes (default 0: images on
 * network volumes get no hash), MaxHashBytes (default 256 MiB),
 * NetworkReadBudgetMs (default 5 s; 0 keeps a default), ForceAudit (the kill
 * switch: 1 = report, never deny), RequirePolicy (1 = with no policy and no
 * last known good, only images under %WINDIR% run), ImageLoads (0 off, 1
 * audit (default), 2 enforce: image loads decided at section creation),
 * EnforceImageLoadsInCriticalProcesses (1: a critical process's image loads
 * are not audit-only), SubsystemProcesses (0 allow, 1 audit, 2 the rules
 * (default): WSL1 Pico processes), and the boot-complete
 * mark BootStatus (1 found: the last boot never reached a logon, so this one
 * runs in audit mode; then set to 1 until EwlBootCompleteMark). A missing or
 * wrong-typed value keeps its default. */
_IRQL_requires_(PASSIVE_LEVEL)
VOID EwlSettingsLoad(VOID)
{
    OBJECT_ATTRIBUTES attributes;
    HANDLE key = NULL;
    ULONG value;
    NTSTATUS marked;

    PAGED_CODE();
    g_EwlSettings.TrustNetworkHashes = FALSE;
    g_EwlSettings.MaxHashBytes = EWL_DEFAULT_MAX_HASH_BYTES;
    g_EwlSettings.NetworkReadBudgetMs = EWL_DEFAULT_NETWORK_READ_BUDGET_MS;
    g_EwlSettings.ForceAudit = FALSE;
    g_EwlSettings.BootFallback = FALSE;
    g_EwlSettings.RequirePolicy = FALSE;
    g_EwlSettings.ImageLoads = EWL_IMAGE_LOADS_AUDIT;
    g_EwlSettings.EnforceImageLoadsInCriticalProcesses = FALSE;
    g_EwlSettings.SubsystemProcesses = EWL_SUBSYSTEM_RULES;
    EwlPathVariablesQuery(&g_EwlSystemVariables);
    InitializeObjectAttributes(&attributes, &g_ParametersPath,
                               OBJ_CASE_INSENSITIVE | OBJ_KERNEL_HANDLE, NULL, NULL);
    if (!NT_SUCCESS(ZwOpenKey(&key, KEY_QUERY_VALUE, &attributes))) {
        key = NULL;
        goto Exit;
    }
    if (EwlReadDword(key, L"TrustNetworkHashes", &value)) {
        g_EwlSettings.TrustNetworkHashes = value == 1;
    }
    if (EwlReadDword(key, L"MaxHashBytes", &value) && value != 0) {
        g_EwlSettings.MaxHashBytes = value;
    }
    if (EwlReadDword(key, L"NetworkReadBudgetMs", &value) && value != 0) {
        g_EwlSettings.NetworkReadBudgetMs = value;
    }
    if (EwlReadDword(key, L"ForceAudit", &value)) {
        g_EwlSettings.ForceAudit = value != 0;
    }
    if (EwlReadDword(key, L"RequirePolicy", &value)) {
        g_EwlSettings.RequirePolicy = value == 1;
    }
    if (EwlReadDword(key, L"ImageLoads", &value) && value <= EWL_IMAGE_LOADS_ENFORCE) {
        g_EwlSettings.ImageLoads = value;
    }
    if (EwlReadDword(key, L"EnforceImageLoadsInCriticalProcesses", &value)) {
        g_EwlSettings.EnforceImageLoadsInCriticalProcesses = value == 1;
    }
    if (EwlReadDword(key, L"SubsystemProcesses", &value) && value <= EWL_SUBSYSTEM_RULES) {
        g_EwlSettings.SubsystemProcesses = value;
    }
    if (EwlReadDword(key, L"BootStatus", &value) && value == EWL_BOOT_STARTED) {
        g_EwlSettings.BootFallback = TRUE;
    }
    marked = EwlWriteDword(L"BootStatus", EWL_BOOT_STARTED);
    if (!NT_SUCCESS(marked)) {
        DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_ERROR_LEVEL,
                   EWL_DBG_PREFIX "BootStatus not written: 0x%08lx\n", (ULONG)marked);
    }

Exit:
    if (key != NULL) {
        (VOID)ZwClose(key);
    }
    DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_WARNING_LEVEL,
               EWL_DBG_PREFIX "settings: TrustNetworkHashes=%u MaxHashBytes=%lu "
                              "NetworkReadBudgetMs=%lu ForceAudit=%u RequirePolicy=%u "
                              "ImageLoads=%lu EnforceImageLoadsInCriticalProcesses=%u "
                              "SubsystemProcesses=%lu\n",
               (unsigned)g_EwlSettings.TrustNetworkHashes, g_EwlSettings.MaxHashBytes,
               g_EwlSettings.NetworkReadBudgetMs, (unsigned)g_EwlSettings.ForceAudit,
               (unsigned)g_EwlSettings.RequirePolicy, g_EwlSettings.ImageLoads,
               (unsigned)g_EwlSettings.EnforceImageLoadsInCriticalProcesses,
               g_EwlSettings.SubsystemProcesses);
    if (g_EwlSettings.ForceAudit) {
        DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_ERROR_LEVEL,
                   EWL_DBG_PREFIX "AUDIT MODE: kill switch ForceAudit=1: nothing is denied\n");
    }
    if (g_EwlSettings.BootFallback) {
        DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_ERROR_LEVEL,
                   EWL_DBG_PREFIX "AUDIT MODE: the last boot did not reach the boot-complete "
                                  "mark (BootStatus=1): nothing is denied this boot\n");
    }
}

/* Once per boot, when the first userinit.exe starts (a user logged on). */
_IRQL_requires_(PASSIVE_LEVEL)
VOID EwlBootCompleteMark(VOID)
{
    NTSTATUS status;

    PAGED_CODE();
    if (InterlockedCompareExchange(&g_BootMarked, 1, 0) != 0) {
        return;
    }
    status = EwlWriteDword(L"BootStatus", EWL_BOOT_COMPLETE);
    DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_WARNING_LEVEL,
               EWL_DBG_PREFIX "boot complete mark (BootStatus=2): 0x%08lx\n", (ULONG)status);
}

/* Idempotent; the callback is deregistered by then, so no reader is left. */
_IRQL_requires_(PASSIVE_LEVEL)
VOID EwlPolicyUninitialize(VOID)
{
    PEWL_POLICY old;

    PAGED_CODE();
    old = g_Policy;
    g_Policy = NULL;
    EwlPolicyRelease(old);
    if (g_PolicyLockInitialized) {
        (VOID)ExDeleteResourceLite(&g_PolicyLock);
        g_PolicyLockInitialized = FALSE;
    }
    if (g_LoadLockInitialized) {
        (VOID)ExDeleteResourceLite(&g_LoadLock);
        g_LoadLockInitialized = FALSE;
    }
    if (g_ParametersPath.Buffer != NULL) {
        ExFreePoolWithTag(g_ParametersPath.Buffer, EWL_TAG_NAME);
        g_ParametersPath.Buffer = NULL;
        g_ParametersPath.Length = 0;
        g_ParametersPath.MaximumLength = 0;
    }
}

_IRQL_requires_max_(APC_LEVEL)
PEWL_POLICY EwlPolicyAcquire(VOID)
{
    PEWL_POLICY policy;

    KeEnterCriticalRegion();
    (VOID)ExAcquireResourceSharedLite(&g_PolicyLock, TRUE);
    policy = g_Policy;
    if (policy != NULL) {
        (VOID)InterlockedIncrement(&policy->RefCount);
    }
    ExReleaseResourceLite(&g_PolicyLock);
    KeLeaveCriticalRegion();
    return policy;
}

_IRQL_requires_max_(APC_LEVEL)
static VOID EwlPolicyFree(_In_ PEWL_POLICY Policy)
{
    if (Policy->HashIndex != NULL) {
        ExFreePoolWithTag(Policy->HashIndex, EWL_TAG_POLICY);
    }
    ExFreePoolWithTag(Policy, EWL_TAG_POLICY);
}

_IRQL_requires_max_(APC_LEVEL)
VOID EwlPolicyRelease(_In_opt_ PEWL_POLICY Policy)
{
    if (Policy != NULL && InterlockedDecrement(&Policy->RefCount) == 0) {
        EwlPolicyFree(Policy);
    }
}

_IRQL_requires_(PASSIVE_LEVEL)
static VOID EwlPolicyInstall(_In_ PEWL_POLICY Policy)
{
    PEWL_POLICY old;

    PAGED_CODE();
    KeEnterCriticalRegion();
    (VOID)ExAcquireResourceExclusiveLite(&g_PolicyLock, TRUE);
    old = g_Policy;
    g_Policy = Policy;
    ExReleaseResourceLite(&g_PolicyLock);
    KeLeaveCriticalRegion();
    EwlPolicyRelease(old);
}

/* Where the registry value lands in a policy allocation: right after the
 * header, placed so that the value's bytes (KEY_VALUE_PARTIAL_INFORMATION's
 * Data, 12 bytes in) start 16-byte aligned. */
#define EWL_VALUE_HEADER ((SIZE_T)FIELD_OFFSET(KEY_VALUE_PARTIAL_INFORMATION, Data))
#define EWL_POLICY_VALUE_AT \
    ((((sizeof(EWL_POLICY) + EWL_VALUE_HEADER + 15) / 16) * 16) - EWL_VALUE_HEADER)

/* Read value Name of the Parameters key straight into a new policy
 * allocation (PagedPool, EWL_TAG_POLICY): the bytes are read once, into the
 * memory they are validated and used in, with no second copy. The caller
 * frees *Policy with EwlPolicyFree. Checks the type and the length before
 * anything else. */
_IRQL_requires_(PASSIVE_LEVEL)
static NTSTATUS EwlPolicyReadValue(_In_z_ const WCHAR *Name,
                                   _Outptr_result_maybenull_ PEWL_POLICY *Policy)
{
    NTSTATUS status;
    OBJECT_ATTRIBUTES attributes;
    UNICODE_STRING valueName;
    HANDLE key = NULL;
    ULONG needed = 0;
    ULONG got = 0;
    PEWL_POLICY policy = NULL;
    PKEY_VALUE_PARTIAL_INFORMATION info;
    const ULONG header = (ULONG)EWL_VALUE_HEADER;

    PAGED_CODE();
    *Policy = NULL;
    RtlInitUnicodeString(&valueName, Name);
    InitializeObjectAttributes(&attributes, &g_ParametersPath,
                               OBJ_KERNEL_HANDLE | OBJ_CASE_INSENSITIVE, NULL, NULL);
    status = ZwOpenKey(&key, KEY_QUERY_VALUE, &attributes);
    if (!NT_SUCCESS(status)) {
        key = NULL;
        goto Exit;
    }
    status = ZwQueryValueKey(key, &valueName, KeyValuePartialInformation, NULL, 0, &needed);
    if (status != STATUS_BUFFER_TOO_SMALL && status != STATUS_BUFFER_OVERFLOW) {
        if (NT_SUCCESS(status)) {
            status = STATUS_INVALID_PARAMETER; /* a value of no size at all */
        }
        goto Exit;
    }
    if (needed <= header || needed - header > EWL_POLICY_MAX_BYTES) {
        status = STATUS_INVALID_BUFFER_SIZE;
        goto Exit;
    }
    policy = (PEWL_POLICY)EwlAllocatePool(FALSE, EWL_POLICY_VALUE_AT + needed, EWL_TAG_POLICY);
    if (policy == NULL) {
        status = STATUS_INSUFFICIENT_RESOURCES;
        goto Exit;
    }
    info = (PKEY_VALUE_PARTIAL_INFORMATION)((PUCHAR)policy + EWL_POLICY_VALUE_AT);
    status = ZwQueryValueKey(key, &valueName, KeyValuePartialInformation, info, needed, &got);
    if (!NT_SUCCESS(status)) {
        goto Exit; /* includes a value that grew in between */
    }
    if (info->Type != REG_BINARY) {
        status = STATUS_OBJECT_TYPE_MISMATCH;
        goto Exit;
    }
    if (got < header || info->DataLength == 0 || info->DataLength > needed - header ||
        info->DataLength > got - header) {
        status = STATUS_INVALID_BUFFER_SIZE;
        goto Exit;
    }
    policy->Data = info->Data;
    policy->Size = info->DataLength;
    *Policy = policy;
    policy = NULL;

Exit:
    if (policy != NULL) {
        EwlPolicyFree(policy);
    }
    if (key != NULL) {
        (VOID)ZwClose(key);
    }
    return status;
}

static BOOLEAN EwlSectionEmpty(_In_ const ewl_blob_t *Blob, _In_ unsigned Section)
{
    return Blob->sections[Section].count == 0;
}

/* Index every non-empty hash section (ewl_hash_index_build): a lookup then
 * reads a few neighbouring cache lines instead of log2(n) scattered ones.
 * Only an acceleration: without memory for it, lookups search the whole
 * section and give the same answers. */
_IRQL_requires_(PASSIVE_LEVEL)
static VOID EwlPolicyIndexHashes(_Inout_ PEWL_POLICY Policy)
{
    SIZE_T entries = 0;
    PUINT32 next;
    uint32_t section;

    PAGED_CODE();
    for (section = EWL_SECTION_AUTHENTICODE_ALLOW; section <= EWL_SECTION_FILE_DENY; section++) {
        uint32_t count = Policy->Blob.sections[section].count;
        if (count != 0) {
            entries += ewl_hash_index_entries(ewl_hash_index_bits(count));
        }
    }
    if (entries == 0) {
        return;
    }
    Policy->HashIndex = (PUINT32)EwlAllocatePool(FALSE, entries * sizeof(UINT32), EWL_TAG_POLICY);
    if (Policy->HashIndex == NULL) {
        return;
    }
    next = Policy->HashIndex;
    for (section = EWL_SECTION_AUTHENTICODE_ALLOW; section <= EWL_SECTION_FILE_DENY; section++) {
        uint32_t count = Policy->Blob.sections[section].count;
        if (count != 0) {
            unsigned bits = ewl_hash_index_bits(count);
            ewl_hash_index_build(&Policy->Blob, section, bits, (uint32_t *)next);
            next += ewl_hash_index_entries(bits);
        }
    }
}

static BOOLEAN EwlHasDenyPathRules(_In_ const ewl_blob_t *Blob)
{
    ewl_path_entry_t entry;
    uint32_t i;

    for (i = 0; i < Blob->sections[EWL_SECTION_PATH_RULES].count; i++) {
        ewl_path_entry(Blob, i, &entry);
        if (entry.action == EWL_PATH_ACTION_DENY) {
            return TRUE;
        }
    }
    return FALSE;
}

/* The values this policy's path variables match, folded: what to compare
 * when a variable rule does not match as expected. */
static VOID EwlPolicyReportVariables(_In_ const EWL_PATH_VARIABLES *Variables)
{
    const ewl_u16str_t *v = Variables->Values;

    DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_WARNING_LEVEL,
               EWL_DBG_PREFIX "path variables: WINDIR=%.*ws SYSTEM32=%.*ws "
                              "PROGRAMFILES=%.*ws;%.*ws OSDRIVE=%.*ws\n",
               (int)v[EWL_PATH_VARIABLE_WINDIR].len, (const WCHAR *)v[EWL_PATH_VARIABLE_WINDIR].units,
               (int)v[EWL_PATH_VARIABLE_SYSTEM32].len,
               (const WCHAR *)v[EWL_PATH_VARIABLE_SYSTEM32].units,
               (int)v[EWL_PATH_VARIABLE_PROGRAMFILES].len,
               (const WCHAR *)v[EWL_PATH_VARIABLE_PROGRAMFILES].units,
               (int)v[EWL_PATH_VARIABLE_PROGRAMFILES_X86].len,
               (const WCHAR *)v[EWL_PATH_VARIABLE_PROGRAMFILES_X86].units,
               (int)v[EWL_PATH_VARIABLE_OSDRIVE].len, (const WCHAR *)v[EWL_PATH_VARIABLE_OSDRIVE].units);
}

/* Read value Name, validate it in place and build the policy object; on
 * failure *Policy is NULL and *Checked holds the core's status (0 when the
 * bytes were never validated). */
_IRQL_requires_(PASSIVE_LEVEL)
static NTSTATUS EwlPolicyBuild(_In_z_ const WCHAR *Name, _Outptr_result_maybenull_ PEWL_POLICY *Policy,
                               _Out_ ewl_status_t *Checked)
{
    NTSTATUS status;
    PEWL_POLICY policy = NULL;

    PAGED_CODE();
    *Policy = NULL;
    *Checked = EWL_STATUS_OK;
    status = EwlPolicyReadValue(Name, &policy);
    if (!NT_SUCCESS(status)) {
        goto Exit;
    }
    g_Validations++;
    *Checked = ewl_blob_validate(policy->Data, policy->Size, &policy->Blob);
    if (*Checked != EWL_STATUS_OK) {
        status = STATUS_INVALID_IMAGE_FORMAT;
        goto Exit;
    }
    policy->RefCount = 1;
    policy->Generation = (ULONG)InterlockedIncrement(&g_Generation);
    policy->HasDenyHashes = !EwlSectionEmpty(&policy->Blob, EWL_SECTION_AUTHENTICODE_DENY) ||
                            !EwlSectionEmpty(&policy->Blob, EWL_SECTION_FILE_DENY);
    /* File-hash exceptions (of path rules) need the flat digest too. */
    policy->HasFlatHashes = !EwlSectionEmpty(&policy->Blob, EWL_SECTION_FILE_ALLOW) ||
                            !EwlSectionEmpty(&policy->Blob, EWL_SECTION_FILE_DENY) ||
                            (policy->Blob.exception_kinds & (1u << EWL_EXCEPTION_KIND_FILE)) != 0;
    policy->HasAnyHashes = policy->HasFlatHashes || policy->HasDenyHashes ||
                           !EwlSectionEmpty(&policy->Blob, EWL_SECTION_AUTHENTICODE_ALLOW);
    policy->HasPathRules = !EwlSectionEmpty(&policy->Blob, EWL_SECTION_PATH_RULES);
    policy->HasDenyPaths = EwlHasDenyPathRules(&policy->Blob);
    policy->HasSigners = ewl_blob_needs_signers(&policy->Blob) != 0;
    EwlPolicyIndexHashes(policy);
    EwlPathVariablesQuery(&policy->Variables);
    *Policy = policy;
    policy = NULL;

Exit:
    if (policy != NULL) {
        EwlPolicyFree(policy);
    }
    return status;
}

/* Keep the policy just loaded from "Policy" as PolicyLastKnownGood, unless
 * that value already holds it: same type, same size and the same blob header
 * (which carries the checksum of the whole blob), read with a 76-byte query
 * rather than the whole value. A failure only costs the copy and is said. */
_IRQL_requires_(PASSIVE_LEVEL)
static VOID EwlPolicyKeepLastKnownGood(_In_ const EWL_POLICY *Policy)
{
    NTSTATUS status;
    OBJECT_ATTRIBUTES attributes;
    UNICODE_STRING valueName = RTL_CONSTANT_STRING(EWL_LKG_VALUE);
    HANDLE key = NULL;
    UCHAR buffer[FIELD_OFFSET(KEY_VALUE_PARTIAL_INFORMATION, Data) + EWL_HEADER_SIZE];
    PKEY_VALUE_PARTIAL_INFORMATION info = (PKEY_VALUE_PARTIAL_INFORMATION)buffer;
    ULONG got = 0;
    SIZE_T compare = Policy->Size < EWL_HEADER_SIZE ? Policy->Size : EWL_HEADER_SIZE;

    PAGED_CODE();
    InitializeObjectAttributes(&attributes, &g_ParametersPath,
                               OBJ_KERNEL_HANDLE | OBJ_CASE_INSENSITIVE, NULL, NULL);
    status = ZwOpenKey(&key, KEY_QUERY_VALUE | KEY_SET_VALUE, &attributes);
    if (!NT_SUCCESS(status)) {
        key = NULL;
        goto Exit;
    }
    status = ZwQueryValueKey(key, &valueName, KeyValuePartialInformation, info, sizeof(buffer),
                             &got);
    if ((NT_SUCCESS(status) || status == STATUS_BUFFER_OVERFLOW) &&
        got >= FIELD_OFFSET(KEY_VALUE_PARTIAL_INFORMATION, Data) + compare &&
        info->Type == REG_BINARY && info->DataLength == Policy->Size &&
        RtlCompareMemory(info->Data, Policy->Data, compare) == compare) {
        status = STATUS_SUCCESS;
        goto Exit; /* already kept */
    }
    status = ZwSetValueKey(key, &valueName, 0, REG_BINARY, Policy->Data, (ULONG)Policy->Size);
    if (NT_SUCCESS(status)) {
        DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_WARNING_LEVEL,
                   EWL_DBG_PREFIX "last known good policy updated: %lu bytes\n",
                   (ULONG)Policy->Size);
    }

Exit:
    if (!NT_SUCCESS(status)) {
        DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_ERROR_LEVEL,
                   EWL_DBG_PREFIX "last known good policy not kept: 0x%08lx\n", (ULONG)status);
    }
    if (key != NULL) {
        (VOID)ZwClose(key);
    }
}

_IRQL_requires_(PASSIVE_LEVEL)
static VOID EwlPolicyReportLoaded(_In_ const EWL_POLICY *Policy, _In_z_ const char *Source)
{
    PAGED_CODE();
    DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_WARNING_LEVEL,
               EWL_DBG_PREFIX "policy loaded%s: version %lu, %lu bytes, mode %s "
                              "(validation %lu)\n",
               Source, (ULONG)Policy->Blob.policy_version, (ULONG)Policy->Size,
               (Policy->Blob.flags & EWL_FLAG_AUDIT) ? "audit" : "enforce", g_Validations);
    EwlPolicyReportVariables(&Policy->Variables);
    EwlEtwPolicyLoaded(Policy);
}

/* Load, validate and install the "Policy" value. On any failure the policy
 * in force stays and the reason is reported; at load (AtLoad), with no
 * policy in force, the last known good copy (PolicyLastKnownGood) is loaded
 * instead and that is said too. Only a policy loaded from "Policy" is kept
 * as the last known good. */
_IRQL_requires_(PASSIVE_LEVEL)
NTSTATUS EwlPolicyLoad(_In_ BOOLEAN AtLoad)
{
    NTSTATUS status;
    NTSTATUS lkgStatus;
    PEWL_POLICY policy = NULL;
    ewl_status_t checked = EWL_STATUS_OK;
    ewl_status_t lkgChecked = EWL_STATUS_OK;

    PAGED_CODE();
    KeEnterCriticalRegion();
    (VOID)ExAcquireResourceExclusiveLite(&g_LoadLock, TRUE);
    status = EwlPolicyBuild(EWL_POLICY_VALUE, &policy, &checked);
    if (NT_SUCCESS(status)) {
        EwlPolicyReportLoaded(policy, "");
        EwlPolicyKeepLastKnownGood(policy);
        EwlPolicyInstall(policy);
        policy = NULL;
        goto Exit;
    }
    DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_WARNING_LEVEL,
               EWL_DBG_PREFIX "policy not loaded: status 0x%08lx, blob check %d; "
               "the policy in force stays (none: %s) (validation %lu)\n",
               (ULONG)status, (int)checked,
               AtLoad ? "trying the last known good" : "allow all", g_Validations);
    /* g_Policy changes only under g_LoadLock, which is held. */
    EwlEtwPolicyRejected(status, (ULONG)checked, g_Policy != NULL);
    if (!AtLoad || g_Policy != NULL) {
        goto Exit;
    }
    lkgStatus = EwlPolicyBuild(EWL_LKG_VALUE, &policy, &lkgChecked);
    if (!NT_SUCCESS(lkgStatus)) {
        DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_WARNING_LEVEL,
                   EWL_DBG_PREFIX "no last known good policy: status 0x%08lx, blob check %d; "
                   "%s\n",
                   (ULONG)lkgStatus, (int)lkgChecked,
                   g_EwlSettings.RequirePolicy ? "RequirePolicy: only Windows images run"
                                               : "allow all");
        goto Exit;
    }
    EwlPolicyReportLoaded(policy, " from the last known good copy");
    EwlPolicyInstall(policy);
    policy = NULL;

Exit:
    if (policy != NULL) {
        EwlPolicyFree(policy);
    }
    ExReleaseResourceLite(&g_LoadLock);
    KeLeaveCriticalRegion();
    return status;
}
