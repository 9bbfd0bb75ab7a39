/* DriverEntry and the filter's unload. One idempotent cleanup serves both a
 * failed initialisation and unload, in this order (docs/driver.md, "Unload"):
 *   1. the process-creation callback (returns once none is in flight: nothing
 *      uses the filter, the policy or CNG any more);
 *   2. the registry callback (same);
 *   3. the minifilter (FltUnregisterFilter waits for its callbacks and tears
 *      down its instances and their contexts);
 *   4. CNG, then the policy;
 *   5. the ETW provider, last, so that everything before could still report.
 * Once FltRegisterFilter succeeded, Filter Manager owns DriverUnload and
 * calls EwlFilterUnload instead. */
#include "ewl_kernel.h"

DRIVER_INITIALIZE DriverEntry;
static DRIVER_UNLOAD EwlDriverUnload;
FLT_FILTER_UNLOAD_CALLBACK EwlFilterUnload;

static BOOLEAN g_PolicyInitialized;
static BOOLEAN g_HashInitialized;
static BOOLEAN g_SignerInitialized;
static BOOLEAN g_ReloadRegistered;
static BOOLEAN g_NotifyRegistered;
static BOOLEAN g_FilterRegistered;
static BOOLEAN g_EtwRegistered;

_IRQL_requires_(PASSIVE_LEVEL)
static VOID EwlCleanup(VOID)
{
    PAGED_CODE();
    if (g_NotifyRegistered) {
        EwlNotifyUnregister();
        g_NotifyRegistered = FALSE;
    }
    if (g_ReloadRegistered) {
        EwlReloadUnregister();
        g_ReloadRegistered = FALSE;
    }
    if (g_FilterRegistered) {
        EwlFilterUnregister();
        g_FilterRegistered = FALSE;
    }
    if (g_SignerInitialized) {
        EwlSignerUninitialize();
        g_SignerInitialized = FALSE;
    }
    if (g_HashInitialized) {
        EwlHashUninitialize();
        g_HashInitialized = FALSE;
    }
    if (g_PolicyInitialized) {
        EwlPolicyUninitialize();
        g_PolicyInitialized = FALSE;
    }
    /* Last: nothing that writes events is left. */
    if (g_EtwRegistered) {
        EwlEtwUnregister();
        g_EtwRegistered = FALSE;
    }
}

_IRQL_requires_(PASSIVE_LEVEL)
static VOID EwlDriverUnload(_In_ PDRIVER_OBJECT DriverObject)
{
    UNREFERENCED_PARAMETER(DriverObject);
    PAGED_CODE();
    EwlCleanup();
    DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_INFO_LEVEL, EWL_DBG_PREFIX "unloaded\n");
}

/* Filter Manager's unload (fltmc unload, sc stop). A development build
 * accepts it; see docs/driver.md for the enforce-mode choice. */
_IRQL_requires_(PASSIVE_LEVEL)
NTSTATUS EwlFilterUnload(_In_ FLT_FILTER_UNLOAD_FLAGS Flags)
{
    UNREFERENCED_PARAMETER(Flags);
    PAGED_CODE();
    EwlCleanup();
    DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_WARNING_LEVEL, EWL_DBG_PREFIX "unloaded\n");
    return STATUS_SUCCESS;
}

_IRQL_requires_(PASSIVE_LEVEL)
NTSTATUS DriverEntry(_In_ PDRIVER_OBJECT DriverObject, _In_ PUNICODE_STRING RegistryPath)
{
    NTSTATUS status;

    PAGED_CODE();
    DriverObject->DriverUnload = EwlDriverUnload;
    EwlPoolInitialize();

    /* First, so that the first policy load is reported too. Without ETW the
     * driver still enforces and reports with DbgPrintEx. */
    status = EwlEtwRegister();
    if (NT_SUCCESS(status)) {
        g_EtwRegistered = TRUE;
    } else {
        DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_ERROR_LEVEL,
                   EWL_DBG_PREFIX "no ETW events: EtwRegister 0x%08lx\n", (ULONG)status);
    }

    status = EwlPolicyInitialize(RegistryPath);
    if (!NT_SUCCESS(status)) {
        goto Exit;
    }
    g_PolicyInitialized = TRUE;

    status = EwlHashInitialize();
    if (!NT_SUCCESS(status)) {
        DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_ERROR_LEVEL,
                   EWL_DBG_PREFIX "CNG hashes unavailable: 0x%08lx\n", (ULONG)status);
        goto Exit;
    }
    g_HashInitialized = TRUE;
    status = EwlSignerInitialize();
    if (!NT_SUCCESS(status)) {
        DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_ERROR_LEVEL,
                   EWL_DBG_PREFIX "CNG RSA/ECDSA unavailable: 0x%08lx\n", (ULONG)status);
        goto Exit;
    }
    g_SignerInitialized = TRUE;

    /* Watch before the first read, so no change falls in between. Without
     * live reload the driver still enforces (a new value then needs a
     * restart): enforcement matters more than reload. */
    status = EwlReloadRegister(DriverObject, RegistryPath);
    if (NT_SUCCESS(status)) {
        g_ReloadRegistered = TRUE;
    } else {
        DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_ERROR_LEVEL,
                   EWL_DBG_PREFIX "no live reload: CmRegisterCallbackEx 0x%08lx\n", (ULONG)status);
    }

    /* The settings first: the kill switch, the boot-complete mark and
     * RequirePolicy decide what a missing policy means. A missing or invalid
     * policy never stops the load: the last known good copy is loaded, else
     * everything is allowed (RequirePolicy: only Windows images), and
     * EwlPolicyLoad says which. */
    EwlSettingsLoad();
    (VOID)EwlPolicyLoad(TRUE);

    /* The minifilter before the process callback, which uses it. Without it
     * the driver cannot tell the mapped image from the file: no load. */
    status = EwlFilterRegister(DriverObject);
    if (!NT_SUCCESS(status)) {
        DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_ERROR_LEVEL,
                   EWL_DBG_PREFIX "FltRegisterFilter: 0x%08lx\n", (ULONG)status);
        goto Exit;
    }
    g_FilterRegistered = TRUE;
    status = EwlFilterStart();
    if (!NT_SUCCESS(status)) {
        DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_ERROR_LEVEL,
                   EWL_DBG_PREFIX "FltStartFiltering: 0x%08lx\n", (ULONG)status);
        goto Exit;
    }

    status = EwlNotifyRegister();
    if (!NT_SUCCESS(status)) {
        DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_ERROR_LEVEL,
                   EWL_DBG_PREFIX "PsSetCreateProcessNotifyRoutineEx: 0x%08lx\n", (ULONG)status);
        goto Exit;
    }
    g_NotifyRegistered = TRUE;
    DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_INFO_LEVEL, EWL_DBG_PREFIX "loaded\n");

Exit:
    if (!NT_SUCCESS(status)) {
        EwlCleanup();
    }
    return status;
}
