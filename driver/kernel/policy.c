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
                               EWL_DEFAULT_NETWORK_READ_BUDGET_MS};

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

/* The service parameters (docs/driver.md, "Parameters"), once, in
 * DriverEntry: TrustNetworkHashes (default 0: images on network volumes get
 * no hash), MaxHashBytes (default 256 MiB) and NetworkReadBudgetMs (default
 * 5 s; 0 keeps a default). A missing
 * or wrong-typed value keeps its default. */
_IRQL_requires_(PASSIVE_LEVEL)
VOID EwlSettingsLoad(VOID)
{
    OBJECT_ATTRIBUTES attributes;
    HANDLE key = NULL;
    ULONG value;

    PAGED_CODE();
    g_EwlSettings.TrustNetworkHashes = FALSE;
    g_EwlSettings.MaxHashBytes = EWL_DEFAULT_MAX_HASH_BYTES;
    g_EwlSettings.NetworkReadBudgetMs = EWL_DEFAULT_NETWORK_READ_BUDGET_MS;
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

Exit:
    if (key != NULL) {
        (VOID)ZwClose(key);
    }
    DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_WARNING_LEVEL,
               EWL_DBG_PREFIX "settings: TrustNetworkHashes=%u MaxHashBytes=%lu "
                              "NetworkReadBudgetMs=%lu\n",
               (unsigned)g_EwlSettings.TrustNetworkHashes, g_EwlSettings.MaxHashBytes,
               g_EwlSettings.NetworkReadBudgetMs);
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

_IRQL_requires_max_(DISPATCH_LEVEL)
static VOID EwlPolicyFree(_In_ PEWL_POLICY Policy)
{
    if (Policy->HashIndex != NULL) {
        ExFreePoolWithTag(Policy->HashIndex, EWL_TAG_POLICY);
    }
    ExFreePoolWithTag(Policy, EWL_TAG_POLICY);
}

_IRQL_requires_max_(DISPATCH_LEVEL)
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

/* Read the value into a PagedPool KEY_VALUE_PARTIAL_INFORMATION; the caller
 * frees *Info. Checks the type and the length before anything else. */
_IRQL_requires_(PASSIVE_LEVEL)
static NTSTATUS EwlPolicyReadValue(_Outptr_result_maybenull_ PKEY_VALUE_PARTIAL_INFORMATION *Info)
{
    NTSTATUS status;
    OBJECT_ATTRIBUTES attributes;
    UNICODE_STRING valueName = RTL_CONSTANT_STRING(EWL_POLICY_VALUE);
    HANDLE key = NULL;
    ULONG needed = 0;
    ULONG got = 0;
    PKEY_VALUE_PARTIAL_INFORMATION info = NULL;
    const ULONG header = (ULONG)FIELD_OFFSET(KEY_VALUE_PARTIAL_INFORMATION, Data);

    PAGED_CODE();
    *Info = NULL;
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
    info = (PKEY_VALUE_PARTIAL_INFORMATION)EwlAllocatePool(FALSE, needed, EWL_POOL_TAG);
    if (info == NULL) {
        status = STATUS_INSUFFICIENT_RESOURCES;
        goto Exit;
    }
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
    *Info = info;
    info = NULL;

Exit:
    if (info != NULL) {
        ExFreePoolWithTag(info, EWL_POOL_TAG);
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
    Policy->HashIndex = (PUINT32)EwlAllocatePool(TRUE, entries * sizeof(UINT32), EWL_TAG_POLICY);
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

/* Load, validate and install the registry value. On any failure the policy
 * in force stays and the reason is reported. */
_IRQL_requires_(PASSIVE_LEVEL)
NTSTATUS EwlPolicyLoad(VOID)
{
    NTSTATUS status;
    PKEY_VALUE_PARTIAL_INFORMATION info = NULL;
    PEWL_POLICY policy = NULL;
    ewl_status_t checked = EWL_STATUS_OK;
    SIZE_T bytes;

    PAGED_CODE();
    KeEnterCriticalRegion();
    (VOID)ExAcquireResourceExclusiveLite(&g_LoadLock, TRUE);
    status = EwlPolicyReadValue(&info);
    if (!NT_SUCCESS(status)) {
        goto Exit;
    }
    bytes = FIELD_OFFSET(EWL_POLICY, Data) + (SIZE_T)info->DataLength;
    policy = (PEWL_POLICY)EwlAllocatePool(TRUE, bytes, EWL_TAG_POLICY);
    if (policy == NULL) {
        status = STATUS_INSUFFICIENT_RESOURCES;
        goto Exit;
    }
    policy->RefCount = 1;
    policy->Generation = (ULONG)InterlockedIncrement(&g_Generation);
    policy->Size = info->DataLength;
    RtlCopyMemory(policy->Data, info->Data, info->DataLength);
    checked = ewl_blob_validate(policy->Data, policy->Size, &policy->Blob);
    if (checked != EWL_STATUS_OK) {
        status = STATUS_INVALID_IMAGE_FORMAT;
        goto Exit;
    }
    policy->HasDenyHashes = !EwlSectionEmpty(&policy->Blob, EWL_SECTION_AUTHENTICODE_DENY) ||
                            !EwlSectionEmpty(&policy->Blob, EWL_SECTION_FILE_DENY);
    policy->HasFlatHashes = !EwlSectionEmpty(&policy->Blob, EWL_SECTION_FILE_ALLOW) ||
                            !EwlSectionEmpty(&policy->Blob, EWL_SECTION_FILE_DENY);
    policy->HasAnyHashes = policy->HasFlatHashes || policy->HasDenyHashes ||
                           !EwlSectionEmpty(&policy->Blob, EWL_SECTION_AUTHENTICODE_ALLOW);
    policy->HasPathRules = !EwlSectionEmpty(&policy->Blob, EWL_SECTION_PATH_RULES);
    policy->HasDenyPaths = EwlHasDenyPathRules(&policy->Blob);
    EwlPolicyIndexHashes(policy);
    EwlPathVariablesQuery(&policy->Variables);
    DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_WARNING_LEVEL,
               EWL_DBG_PREFIX "policy loaded: version %lu, %lu bytes, mode %s\n",
               (ULONG)policy->Blob.policy_version, (ULONG)policy->Size,
               (policy->Blob.flags & EWL_FLAG_AUDIT) ? "audit" : "enforce");
    EwlPolicyReportVariables(&policy->Variables);
    EwlEtwPolicyLoaded(policy);
    EwlPolicyInstall(policy);
    policy = NULL;

Exit:
    if (!NT_SUCCESS(status)) {
        DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_WARNING_LEVEL,
                   EWL_DBG_PREFIX "policy not loaded: status 0x%08lx, blob check %d; "
                   "the policy in force stays (none: allow all)\n",
                   (ULONG)status, (int)checked);
        /* g_Policy changes only under g_LoadLock, which is held. */
        EwlEtwPolicyRejected(status, (ULONG)checked, g_Policy != NULL);
    }
    if (policy != NULL) {
        EwlPolicyFree(policy);
    }
    if (info != NULL) {
        ExFreePoolWithTag(info, EWL_POOL_TAG);
    }
    ExReleaseResourceLite(&g_LoadLock);
    KeLeaveCriticalRegion();
    return status;
}
