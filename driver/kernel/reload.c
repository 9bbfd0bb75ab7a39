/* Live reload (docs/driver.md, "Live reload"): a registry callback
 * (CmRegisterCallbackEx) notices a change of the policy and queues one
 * coalesced work item that reloads it (EwlPolicyLoad: only a valid blob is
 * ever installed; an invalid one leaves the policy in force and is reported).
 *
 * What counts as a change, each only once the operation succeeded:
 *   - a set or delete of the value "Policy" on exactly the service's key
 *     \REGISTRY\MACHINE\SYSTEM\<CurrentControlSet|ControlSetNNN>\Services\<svc>\Parameters
 *     (a nested ...\Services\Foo\Services\<svc>\Parameters does not match);
 *   - a restore or replace (RegRestoreKey, RegReplaceKey) of that key or of
 *     one of its ancestors (the whole subtree's values change at once);
 *   - a rename of that key or of an ancestor, or of any key to "Parameters".
 * The key is matched by the name the configuration manager gives for the
 * key object; CurrentControlSet is a link, so it is normally ControlSetNNN.
 *
 * The callback runs in the writer's thread and never reloads there: it marks
 * the policy dirty and queues the work item unless one is already queued or
 * running. The worker reloads until no write came in while it loaded, so a
 * storm of writes costs one load and one validation per value that stays
 * long enough to be read (a settled value), whatever the number of writes.
 * A transacted write (KTM) is seen before it commits; the reload then reads
 * the committed value, i.e. the old one: the new value takes effect at the
 * next change or restart (docs/driver.md, VM test plan). */
#include "ewl_kernel.h"

/* Altitude in the FSFilter Activity Monitor-like range for registry
 * callbacks; a production driver asks Microsoft for one. */
#define EWL_ALTITUDE L"385201.5"
#define EWL_MACHINE_SYSTEM L"\\REGISTRY\\MACHINE\\SYSTEM\\"
#define EWL_CURRENT_CONTROL_SET L"CurrentControlSet"
#define EWL_CONTROL_SET L"ControlSet"

_Static_assert(FIELD_OFFSET(REG_POST_OPERATION_INFORMATION, Status) == 0x08, "layout");
_Static_assert(FIELD_OFFSET(REG_POST_OPERATION_INFORMATION, PreInformation) == 0x10, "layout");
_Static_assert(FIELD_OFFSET(REG_SET_VALUE_KEY_INFORMATION, ValueName) == 0x08, "layout");
_Static_assert(FIELD_OFFSET(REG_DELETE_VALUE_KEY_INFORMATION, ValueName) == 0x08, "layout");
_Static_assert(FIELD_OFFSET(REG_RENAME_KEY_INFORMATION, NewName) == 0x08, "layout");

static EX_CALLBACK_FUNCTION EwlRegistryCallback;
static IO_WORKITEM_ROUTINE_EX EwlReloadWorker;

static LARGE_INTEGER g_Cookie;
static BOOLEAN g_Registered;
/* "\Services\<service>\Parameters", built from the driver's RegistryPath. */
static UNICODE_STRING g_KeySuffix;
static PIO_WORKITEM g_WorkItem;      /* EWL_TAG_WORKITEM; initialized on the driver object */
static volatile LONG g_ReloadDirty;  /* a change not yet read by a load */
static volatile LONG g_ReloadQueued; /* the work item is queued or running */
static volatile LONG g_Outstanding;  /* work items queued and not finished */
static volatile LONG g_Reloads;      /* loads made by the worker (reported) */

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

/* Rest = Text after Prefix (Text starts with it). */
static VOID EwlAfter(_In_ PCUNICODE_STRING Text, _In_ USHORT PrefixBytes, _Out_ PUNICODE_STRING Rest)
{
    Rest->Buffer = (PWCH)((PUCHAR)Text->Buffer + PrefixBytes);
    Rest->Length = (USHORT)(Text->Length - PrefixBytes);
    Rest->MaximumLength = Rest->Length;
}

/* Strips "\REGISTRY\MACHINE\SYSTEM\" and a control set ("CurrentControlSet"
 * or "ControlSet" and three digits) from Name; Rest is what follows, empty or
 * starting with a backslash. Also TRUE for the SYSTEM key or a control set
 * key itself: then *Ancestor is TRUE (an ancestor of the Parameters key). */
static BOOLEAN EwlControlSetRest(_In_ PCUNICODE_STRING Name, _Out_ PUNICODE_STRING Rest,
                                 _Out_ PBOOLEAN Ancestor)
{
    UNICODE_STRING system = RTL_CONSTANT_STRING(EWL_MACHINE_SYSTEM);
    UNICODE_STRING current = RTL_CONSTANT_STRING(EWL_CURRENT_CONTROL_SET);
    UNICODE_STRING numbered = RTL_CONSTANT_STRING(EWL_CONTROL_SET);
    UNICODE_STRING rest;
    USHORT i;

    *Ancestor = FALSE;
    RtlZeroMemory(Rest, sizeof(*Rest));
    if (Name->Length + sizeof(WCHAR) == system.Length) {
        system.Length -= sizeof(WCHAR); /* the SYSTEM key itself */
        *Ancestor = RtlEqualUnicodeString(Name, &system, TRUE);
        return *Ancestor;
    }
    if (!EwlStartsWith(Name, &system)) {
        return FALSE;
    }
    EwlAfter(Name, system.Length, &rest);
    if (EwlStartsWith(&rest, &current)) {
        EwlAfter(&rest, current.Length, Rest);
    } else if (EwlStartsWith(&rest, &numbered) &&
               rest.Length >= numbered.Length + 3 * sizeof(WCHAR)) {
        for (i = 0; i < 3; i++) {
            WCHAR c = rest.Buffer[numbered.Length / sizeof(WCHAR) + i];
            if (c < L'0' || c > L'9') {
                return FALSE;
            }
        }
        EwlAfter(&rest, (USHORT)(numbered.Length + 3 * sizeof(WCHAR)), Rest);
    } else {
        return FALSE;
    }
    if (Rest->Length != 0 && Rest->Buffer[0] != L'\\') {
        return FALSE; /* "ControlSet0012" or "CurrentControlSetX" */
    }
    *Ancestor = Rest->Length == 0;
    return TRUE;
}

/* Exactly the service's Parameters key (Exact), or, with Exact FALSE, that
 * key or one of its ancestors. */
static BOOLEAN EwlMatchesParameters(_In_ PCUNICODE_STRING Name, _In_ BOOLEAN Exact)
{
    UNICODE_STRING rest;
    UNICODE_STRING head;
    BOOLEAN ancestor;

    if (!EwlControlSetRest(Name, &rest, &ancestor)) {
        return FALSE;
    }
    if (ancestor) {
        return !Exact;
    }
    if (rest.Length == g_KeySuffix.Length) {
        return RtlEqualUnicodeString(&rest, &g_KeySuffix, TRUE);
    }
    if (Exact || rest.Length > g_KeySuffix.Length) {
        return FALSE;
    }
    /* An ancestor: a prefix of the suffix that ends at a backslash. */
    head.Buffer = g_KeySuffix.Buffer;
    head.Length = rest.Length;
    head.MaximumLength = rest.Length;
    return g_KeySuffix.Buffer[rest.Length / sizeof(WCHAR)] == L'\\' &&
           RtlEqualUnicodeString(&rest, &head, TRUE);
}

/* The worker: loads until no change came in during a load. Runs in a system
 * worker thread at PASSIVE_LEVEL; IoQueueWorkItemEx holds a reference on the
 * driver object until it returns, and EwlReloadUnregister waits for
 * g_Outstanding to drop to 0 before anything it uses is freed. */
_IRQL_requires_(PASSIVE_LEVEL)
static VOID EwlReloadWorker(_In_ PVOID IoObject, _In_opt_ PVOID Context, _In_ PIO_WORKITEM WorkItem)
{
    UNREFERENCED_PARAMETER(IoObject);
    UNREFERENCED_PARAMETER(Context);
    UNREFERENCED_PARAMETER(WorkItem);
    PAGED_CODE();
    for (;;) {
        (VOID)InterlockedExchange(&g_ReloadDirty, 0);
        DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_WARNING_LEVEL,
                   EWL_DBG_PREFIX "policy value changed: reloading (reload %ld)\n",
                   InterlockedIncrement(&g_Reloads));
        (VOID)EwlPolicyLoad(FALSE);
        (VOID)InterlockedExchange(&g_ReloadQueued, 0);
        /* A change after the load began: load again, unless its writer
         * queued the work item again itself. */
        if (InterlockedCompareExchange(&g_ReloadDirty, 0, 0) == 0 ||
            InterlockedCompareExchange(&g_ReloadQueued, 1, 0) != 0) {
            break;
        }
    }
    (VOID)InterlockedDecrement(&g_Outstanding); /* last: nothing of ours is used after it */
}

/* In the writer's thread: mark the policy dirty and queue the worker unless
 * it is queued or running already. */
_IRQL_requires_(PASSIVE_LEVEL)
static VOID EwlReloadRequest(VOID)
{
    (VOID)InterlockedExchange(&g_ReloadDirty, 1);
    if (InterlockedCompareExchange(&g_ReloadQueued, 1, 0) == 0) {
        (VOID)InterlockedIncrement(&g_Outstanding);
        IoQueueWorkItemEx(g_WorkItem, EwlReloadWorker, DelayedWorkQueue, NULL);
    }
}

_IRQL_requires_(PASSIVE_LEVEL)
static NTSTATUS EwlRegistryCallback(_In_ PVOID Context, _In_opt_ PVOID Argument1,
                                    _In_opt_ PVOID Argument2)
{
    REG_NOTIFY_CLASS operation = (REG_NOTIFY_CLASS)(ULONG_PTR)Argument1;
    PREG_POST_OPERATION_INFORMATION post = (PREG_POST_OPERATION_INFORMATION)Argument2;
    UNICODE_STRING policyName = RTL_CONSTANT_STRING(L"Policy");
    UNICODE_STRING parametersName = RTL_CONSTANT_STRING(L"Parameters");
    PCUNICODE_STRING valueName;
    PCUNICODE_STRING keyName = NULL;
    ULONG_PTR keyId = 0;
    BOOLEAN exact;

    UNREFERENCED_PARAMETER(Context);
    switch (operation) {
    case RegNtPostSetValueKey:
    case RegNtPostDeleteValueKey:
        exact = TRUE;
        break;
    case RegNtPostRestoreKey:
    case RegNtPostReplaceKey:
    case RegNtPostRenameKey:
        exact = FALSE;
        break;
    default:
        goto Exit;
    }
    /* "May contain invalid non-NULL object pointers": the status first. */
    if (post == NULL || !NT_SUCCESS(post->Status) || post->PreInformation == NULL) {
        goto Exit;
    }
    if (exact) {
        /* Both pre-information structures start with Object, ValueName. */
        valueName = ((PREG_SET_VALUE_KEY_INFORMATION)post->PreInformation)->ValueName;
        if (valueName == NULL || !RtlEqualUnicodeString(valueName, &policyName, TRUE)) {
            goto Exit;
        }
    }
    if (!NT_SUCCESS(CmCallbackGetKeyObjectID(&g_Cookie, post->Object, &keyId, &keyName)) ||
        keyName == NULL) {
        goto Exit;
    }
    if (!EwlMatchesParameters(keyName, exact)) {
        /* A key renamed to "Parameters" may become ours. */
        valueName = operation == RegNtPostRenameKey
                        ? ((PREG_RENAME_KEY_INFORMATION)post->PreInformation)->NewName
                        : NULL;
        if (valueName == NULL || !RtlEqualUnicodeString(valueName, &parametersName, TRUE)) {
            goto Exit;
        }
    }
    EwlReloadRequest();

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

    g_WorkItem = (PIO_WORKITEM)EwlAllocatePool(TRUE, IoSizeofWorkItem(), EWL_TAG_WORKITEM);
    if (g_WorkItem == NULL) {
        status = STATUS_INSUFFICIENT_RESOURCES;
        goto Exit;
    }
    IoInitializeWorkItem(DriverObject, g_WorkItem);

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

/* Idempotent; returns once no callback and no worker is in flight. */
_IRQL_requires_(PASSIVE_LEVEL)
VOID EwlReloadUnregister(VOID)
{
    LARGE_INTEGER tenMs;

    PAGED_CODE();
    if (g_Registered) {
        (VOID)CmUnRegisterCallback(g_Cookie); /* no new request after this */
        g_Registered = FALSE;
    }
    tenMs.QuadPart = -10 * 1000 * 10;
    while (InterlockedCompareExchange(&g_Outstanding, 0, 0) != 0) {
        (VOID)KeDelayExecutionThread(KernelMode, FALSE, &tenMs);
    }
    if (g_WorkItem != NULL) {
        IoUninitializeWorkItem(g_WorkItem);
        ExFreePoolWithTag(g_WorkItem, EWL_TAG_WORKITEM);
        g_WorkItem = NULL;
    }
    if (g_KeySuffix.Buffer != NULL) {
        ExFreePoolWithTag(g_KeySuffix.Buffer, EWL_TAG_REGISTRY);
        RtlZeroMemory(&g_KeySuffix, sizeof(g_KeySuffix));
    }
}
