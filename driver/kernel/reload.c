/* Live reload: a registry callback (CmRegisterCallbackEx) sees every
 * successful set or delete of a value named "Policy" under
 * \REGISTRY\MACHINE\SYSTEM\<any control set>\Services\<service>\Parameters
 * and reloads the policy there and then (EwlPolicyLoad: only a valid blob is
 * ever installed, an invalid one leaves the policy in force and is reported).
 *
 * A registry callback rather than ZwNotifyChangeKey and a work item: it needs
 * no thread or work item that could still be running driver code after
 * DriverUnload returns (CmUnRegisterCallback waits for callbacks in flight),
 * it also catches the creation of a Parameters key that did not exist at
 * load, and the reload runs in the writer's thread at PASSIVE_LEVEL. The key
 * is matched by name because CurrentControlSet is a link: the callback sees
 * ControlSetNNN. */
#include "ewl_kernel.h"

/* Altitude in the FSFilter Activity Monitor-like range for registry
 * callbacks; a production driver asks Microsoft for one. */
#define EWL_ALTITUDE L"385201.5"
#define EWL_MACHINE_SYSTEM L"\\REGISTRY\\MACHINE\\SYSTEM\\"

_Static_assert(FIELD_OFFSET(REG_POST_OPERATION_INFORMATION, Status) == 0x08, "layout");
_Static_assert(FIELD_OFFSET(REG_POST_OPERATION_INFORMATION, PreInformation) == 0x10, "layout");
_Static_assert(FIELD_OFFSET(REG_SET_VALUE_KEY_INFORMATION, ValueName) == 0x08, "layout");
_Static_assert(FIELD_OFFSET(REG_DELETE_VALUE_KEY_INFORMATION, ValueName) == 0x08, "layout");

static LARGE_INTEGER g_Cookie;
static BOOLEAN g_Registered;
/* "\Services\<service>\Parameters", built from the driver's RegistryPath. */
static UNICODE_STRING g_KeySuffix;

/* True when Text ends with Suffix, case-insensitively. */
static BOOLEAN EwlEndsWith(_In_ PCUNICODE_STRING Text, _In_ PCUNICODE_STRING Suffix)
{
    UNICODE_STRING tail;
    if (Text->Length < Suffix->Length) {
        return FALSE;
    }
    tail.Buffer = (PWCH)((PUCHAR)Text->Buffer + Text->Length - Suffix->Length);
    tail.Length = Suffix->Length;
    tail.MaximumLength = Suffix->Length;
    return RtlEqualUnicodeString(&tail, Suffix, TRUE);
}

static BOOLEAN EwlStartsWith(_In_ PCUNICODE_STRING Text, _In_ PCUNICODE_STRING Prefix)
{
    UNICODE_STRING head;
    if (Text->Length < Prefix->Length) {
        return FALSE;
    }
    head.Buffer = Text->Buffer;
    head.Length = Prefix->Length;
    head.MaximumLength = Prefix->Length;
    return RtlEqualUnicodeString(&head, Prefix, TRUE);
}

_IRQL_requires_(PASSIVE_LEVEL)
static NTSTATUS EwlRegistryCallback(_In_ PVOID Context, _In_opt_ PVOID Argument1,
                                    _In_opt_ PVOID Argument2)
{
    REG_NOTIFY_CLASS operation = (REG_NOTIFY_CLASS)(ULONG_PTR)Argument1;
    PREG_POST_OPERATION_INFORMATION post = (PREG_POST_OPERATION_INFORMATION)Argument2;
    UNICODE_STRING policyName = RTL_CONSTANT_STRING(L"Policy");
    UNICODE_STRING system = RTL_CONSTANT_STRING(EWL_MACHINE_SYSTEM);
    PCUNICODE_STRING valueName;
    PCUNICODE_STRING keyName = NULL;
    ULONG_PTR keyId = 0;

    UNREFERENCED_PARAMETER(Context);
    if ((operation != RegNtPostSetValueKey && operation != RegNtPostDeleteValueKey) ||
        post == NULL || !NT_SUCCESS(post->Status) || post->PreInformation == NULL) {
        goto Exit;
    }
    /* Both pre-information structures start with Object, ValueName. */
    valueName = ((PREG_SET_VALUE_KEY_INFORMATION)post->PreInformation)->ValueName;
    if (valueName == NULL || !RtlEqualUnicodeString(valueName, &policyName, TRUE)) {
        goto Exit;
    }
    if (!NT_SUCCESS(CmCallbackGetKeyObjectID(&g_Cookie, post->Object, &keyId, &keyName)) ||
        keyName == NULL || !EwlStartsWith(keyName, &system) ||
        !EwlEndsWith(keyName, &g_KeySuffix)) {
        goto Exit;
    }
    DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_WARNING_LEVEL,
               EWL_DBG_PREFIX "policy value changed: reloading\n");
    (VOID)EwlPolicyLoad();

Exit:
    return STATUS_SUCCESS; /* never interferes with the registry operation */
}

_IRQL_requires_(PASSIVE_LEVEL)
NTSTATUS EwlReloadRegister(_In_ PDRIVER_OBJECT DriverObject, _In_ PCUNICODE_STRING RegistryPath)
{
    NTSTATUS status;
    UNICODE_STRING altitude = RTL_CONSTANT_STRING(EWL_ALTITUDE);
    static const WCHAR services[] = L"\\Services\\";
    static const WCHAR parameters[] = L"\\Parameters";
    USHORT at;
    USHORT serviceStart;
    SIZE_T total;

    PAGED_CODE();
    /* The service name: RegistryPath after its last backslash. */
    at = (USHORT)(RegistryPath->Length / sizeof(WCHAR));
    while (at > 0 && RegistryPath->Buffer[at - 1] != L'\\') {
        at--;
    }
    serviceStart = at;
    total = sizeof(services) - sizeof(WCHAR) + RegistryPath->Length -
            (SIZE_T)serviceStart * sizeof(WCHAR) + sizeof(parameters) - sizeof(WCHAR);
    if (serviceStart == RegistryPath->Length / sizeof(WCHAR) || total > MAXUSHORT) {
        status = STATUS_OBJECT_NAME_INVALID;
        goto Exit;
    }
    g_KeySuffix.Buffer = (PWCH)EwlAllocatePool(FALSE, total, EWL_TAG_REGISTRY);
    if (g_KeySuffix.Buffer == NULL) {
        status = STATUS_INSUFFICIENT_RESOURCES;
        goto Exit;
    }
    g_KeySuffix.MaximumLength = (USHORT)total;
    g_KeySuffix.Length = 0;
    RtlCopyMemory(g_KeySuffix.Buffer, services, sizeof(services) - sizeof(WCHAR));
    g_KeySuffix.Length = sizeof(services) - sizeof(WCHAR);
    RtlCopyMemory((PUCHAR)g_KeySuffix.Buffer + g_KeySuffix.Length,
                  RegistryPath->Buffer + serviceStart,
                  RegistryPath->Length - (SIZE_T)serviceStart * sizeof(WCHAR));
    g_KeySuffix.Length =
        (USHORT)(g_KeySuffix.Length + RegistryPath->Length - serviceStart * sizeof(WCHAR));
    RtlCopyMemory((PUCHAR)g_KeySuffix.Buffer + g_KeySuffix.Length, parameters,
                  sizeof(parameters) - sizeof(WCHAR));
    g_KeySuffix.Length = (USHORT)total;

    status = CmRegisterCallbackEx(EwlRegistryCallback, &altitude, DriverObject, NULL, &g_Cookie,
                                  NULL);
    if (!NT_SUCCESS(status)) {
        goto Exit;
    }
    g_Registered = TRUE;

Exit:
    if (!NT_SUCCESS(status)) {
        EwlReloadUnregister();
    }
    return status;
}

/* Idempotent; returns once no callback is in flight. */
_IRQL_requires_(PASSIVE_LEVEL)
VOID EwlReloadUnregister(VOID)
{
    PAGED_CODE();
    if (g_Registered) {
        (VOID)CmUnRegisterCallback(g_Cookie);
        g_Registered = FALSE;
    }
    if (g_KeySuffix.Buffer != NULL) {
        ExFreePoolWithTag(g_KeySuffix.Buffer, EWL_TAG_REGISTRY);
        RtlZeroMemory(&g_KeySuffix, sizeof(g_KeySuffix));
    }
}
