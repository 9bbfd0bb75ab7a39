/* Paths as path rules see them (docs/driver.md, "Which path is matched").
 *
 * The image's path is the file system's normalized name of the callback's
 * FileObject (Filter Manager: long names, never 8.3 short names; the file
 * system's own spelling of every component), turned into one Win32 spelling:
 * "X:\dir\file.exe" on a volume with a DOS name, "\\server\share\dir\file.exe"
 * on a network redirector. The name the creator passed (ImageFileName: \??\,
 * \\?\, short names, any case, relative segments) is only reported, never
 * matched: every spelling of one file gets one answer. An image in an
 * alternate data stream has no path, so a folder rule meant for files cannot
 * allow it.
 *
 * The path variables take the running system's values, read when a policy is
 * loaded: %WINDIR% from SharedUserData->NtSystemRoot, %SYSTEM32% below it,
 * %OSDRIVE% its drive, %PROGRAMFILES% the ProgramFilesDir values of
 * HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion (not readable yet when the
 * driver starts at boot: then the defaults' folders on %OSDRIVE%). */
#include "ewl_kernel.h"

#define EWL_DEFAULT_STREAM L"::$DATA"
#define EWL_CURRENT_VERSION_KEY L"\\Registry\\Machine\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion"

static BOOLEAN EwlIsDrivePath(_In_reads_(Units) const WCHAR *Text, _In_ SIZE_T Units)
{
    WCHAR letter;
    if (Units < 2) {
        return FALSE;
    }
    letter = (WCHAR)(Text[0] | 0x20);
    return letter >= L'a' && letter <= L'z' && Text[1] == L':' && (Units == 2 || Text[2] == L'\\');
}

/* The unnamed data stream ("::$DATA", any case) is the file itself. */
static BOOLEAN EwlIsNamedStream(_In_ PCUNICODE_STRING Stream)
{
    UNICODE_STRING unnamed = RTL_CONSTANT_STRING(EWL_DEFAULT_STREAM);
    return Stream->Length != 0 && !RtlEqualUnicodeString(Stream, &unnamed, TRUE);
}

_IRQL_requires_(PASSIVE_LEVEL)
NTSTATUS EwlImagePathQuery(_In_ PFILE_OBJECT FileObject, _In_opt_ PFLT_INSTANCE Instance,
                           _Out_ PEWL_IMAGE_PATH Path)
{
    NTSTATUS status;
    PFLT_FILE_NAME_INFORMATION info = NULL;
    UNICODE_STRING dosName = {0, 0, NULL};
    UNICODE_STRING prefix;
    UNICODE_STRING rest;
    SIZE_T bytes;
    PWCH block;

    PAGED_CODE();
    RtlZeroMemory(Path, sizeof(*Path));
    status = FltGetFileNameInformationUnsafe(
        FileObject, Instance, FLT_FILE_NAME_NORMALIZED | FLT_FILE_NAME_QUERY_DEFAULT, &info);
    if (!NT_SUCCESS(status)) {
        info = NULL;
        goto Exit;
    }
    status = FltParseFileNameInformation(info);
    if (!NT_SUCCESS(status)) {
        goto Exit;
    }
    /* The NT name, for the driver's own open (hash.c): also for a named
     * stream or a volume without a DOS name, which have no Win32 path. The
     * name information stays referenced until EwlImagePathFree. */
    Path->NameInfo = info;
    Path->NtName = info->Name;
    if (EwlIsNamedStream(&info->Stream)) {
        status = STATUS_OBJECT_NAME_INVALID;
        goto Exit;
    }
    /* Name is [Volume][Share][\dir\file][Stream]: keep what follows Volume,
     * without the stream suffix. */
    if (info->Volume.Length == 0 || info->Volume.Buffer != info->Name.Buffer ||
        (SIZE_T)info->Volume.Length + info->Stream.Length >= info->Name.Length) {
        status = STATUS_OBJECT_NAME_INVALID;
        goto Exit;
    }
    rest.Buffer = info->Name.Buffer + info->Volume.Length / sizeof(WCHAR);
    rest.Length = (USHORT)(info->Name.Length - info->Volume.Length - info->Stream.Length);
    rest.MaximumLength = rest.Length;
    if (rest.Buffer[0] != L'\\') {
        status = STATUS_OBJECT_NAME_INVALID;
        goto Exit;
    }
    if (info->Share.Length != 0) {
        /* A redirector (\Device\Mup): rest is \server\share\..., its UNC
         * spelling one more backslash. */
        RtlInitUnicodeString(&prefix, L"\\");
    } else {
        if (FileObject->DeviceObject == NULL) {
            status = STATUS_OBJECT_NAME_INVALID;
            goto Exit;
        }
        status = IoVolumeDeviceToDosName(FileObject->DeviceObject, &dosName);
        if (!NT_SUCCESS(status)) {
            dosName.Buffer = NULL;
            goto Exit;
        }
        prefix = dosName;
        /* A volume mounted on a folder may come back with a trailing "\". */
        if (prefix.Length >= sizeof(WCHAR) &&
            prefix.Buffer[prefix.Length / sizeof(WCHAR) - 1] == L'\\') {
            prefix.Length = (USHORT)(prefix.Length - sizeof(WCHAR));
        }
    }
    bytes = (SIZE_T)prefix.Length + rest.Length;
    if (bytes > MAXUSHORT) {
        status = STATUS_NAME_TOO_LONG;
        goto Exit;
    }
    /* One block: the path as the file system spells it, then its folding. */
    block = (PWCH)EwlAllocatePool(FALSE, 2 * bytes, EWL_TAG_NAME);
    if (block == NULL) {
        status = STATUS_INSUFFICIENT_RESOURCES;
        goto Exit;
    }
    RtlCopyMemory(block, prefix.Buffer, prefix.Length);
    RtlCopyMemory((PUCHAR)block + prefix.Length, rest.Buffer, rest.Length);
    Path->Win32.Buffer = block;
    Path->Win32.Length = (USHORT)bytes;
    Path->Win32.MaximumLength = (USHORT)bytes;
    Path->Folded.Buffer = (PWCH)((PUCHAR)block + bytes);
    Path->Folded.Length = 0;
    Path->Folded.MaximumLength = (USHORT)bytes;
    status = RtlUpcaseUnicodeString(&Path->Folded, &Path->Win32, FALSE);

Exit:
    if (dosName.Buffer != NULL) {
        ExFreePool(dosName.Buffer); /* IoVolumeDeviceToDosName's allocation */
    }
    if (info != NULL && Path->NameInfo == NULL) {
        FltReleaseFileNameInformation(info); /* not parsed: not kept */
    }
    Path->NameStatus = info != NULL ? STATUS_SUCCESS : status;
    if (!NT_SUCCESS(status) && Path->Win32.Buffer != NULL) {
        ExFreePoolWithTag(Path->Win32.Buffer, EWL_TAG_NAME);
        RtlZeroMemory(&Path->Win32, sizeof(Path->Win32));
        RtlZeroMemory(&Path->Folded, sizeof(Path->Folded));
    }
    return status;
}

VOID EwlImagePathFree(_Inout_ PEWL_IMAGE_PATH Path)
{
    if (Path->Win32.Buffer != NULL) {
        ExFreePoolWithTag(Path->Win32.Buffer, EWL_TAG_NAME);
    }
    if (Path->NameInfo != NULL) {
        FltReleaseFileNameInformation(Path->NameInfo);
    }
    RtlZeroMemory(Path, sizeof(*Path));
}

/* Variable `Index` (EWL_PATH_VARIABLE_*) := Text[0, Units) followed by
 * Suffix[0, SuffixUnits), folded. Returns FALSE (nothing set) when it does
 * not fit. */
static BOOLEAN EwlSetVariable(_Inout_ PEWL_PATH_VARIABLES Variables, _In_ ULONG Index,
                              _In_reads_(Units) const WCHAR *Text, _In_ SIZE_T Units,
                              _In_reads_opt_(SuffixUnits) const WCHAR *Suffix,
                              _In_ SIZE_T SuffixUnits)
{
    UNICODE_STRING source;
    UNICODE_STRING folded;
    WCHAR joined[EWL_PATH_VARIABLE_MAX_UNITS];
    SIZE_T suffixUnits = Suffix != NULL ? SuffixUnits : 0;

    /* No trailing backslash (ewl_vars_t), except nothing is left of "X:\". */
    while (Units > 2 && Text[Units - 1] == L'\\') {
        Units--;
    }
    if (Units + suffixUnits > EWL_PATH_VARIABLE_MAX_UNITS) {
        return FALSE;
    }
    RtlCopyMemory(joined, Text, Units * sizeof(WCHAR));
    if (suffixUnits != 0) {
        RtlCopyMemory(joined + Units, Suffix, suffixUnits * sizeof(WCHAR));
    }
    source.Buffer = joined;
    source.Length = (USHORT)((Units + suffixUnits) * sizeof(WCHAR));
    source.MaximumLength = source.Length;
    folded.Buffer = Variables->Units[Index];
    folded.Length = 0;
    folded.MaximumLength = (USHORT)sizeof(Variables->Units[Index]);
    if (!NT_SUCCESS(RtlUpcaseUnicodeString(&folded, &source, FALSE))) {
        return FALSE;
    }
    Variables->Values[Index].units = (const uint16_t *)Variables->Units[Index];
    Variables->Values[Index].len = folded.Length / sizeof(WCHAR);
    return TRUE;
}

/* A REG_SZ value of HKLM\SOFTWARE\...\CurrentVersion that is a drive path,
 * into Variable Index. FALSE when missing, wrong-typed or not a drive path. */
_IRQL_requires_(PASSIVE_LEVEL)
static BOOLEAN EwlSetVariableFromRegistry(_Inout_ PEWL_PATH_VARIABLES Variables,
                                          _In_ ULONG Index, _In_ HANDLE Key,
                                          _In_z_ const WCHAR *ValueName)
{
    ULONG size = (ULONG)(FIELD_OFFSET(KEY_VALUE_PARTIAL_INFORMATION, Data) +
                         (EWL_PATH_VARIABLE_MAX_UNITS + 1) * sizeof(WCHAR));
    PKEY_VALUE_PARTIAL_INFORMATION value = NULL;
    UNICODE_STRING name;
    ULONG got;
    SIZE_T units;
    const WCHAR *text;
    BOOLEAN set = FALSE;

    PAGED_CODE();
    RtlInitUnicodeString(&name, ValueName);
    value = (PKEY_VALUE_PARTIAL_INFORMATION)EwlAllocatePool(FALSE, size, EWL_POOL_TAG);
    if (value == NULL) {
        goto Exit;
    }
    if (!NT_SUCCESS(ZwQueryValueKey(Key, &name, KeyValuePartialInformation, value, size, &got)) ||
        value->Type != REG_SZ || value->DataLength > size - FIELD_OFFSET(KEY_VALUE_PARTIAL_INFORMATION, Data)) {
        goto Exit;
    }
    text = (const WCHAR *)value->Data;
    units = value->DataLength / sizeof(WCHAR);
    while (units > 0 && text[units - 1] == L'\0') {
        units--;
    }
    if (EwlIsDrivePath(text, units) && units > 2) {
        set = EwlSetVariable(Variables, Index, text, units, NULL, 0);
    }

Exit:
    if (value != NULL) {
        ExFreePoolWithTag(value, EWL_POOL_TAG);
    }
    return set;
}

/* The defaults (exewhitelist.policy.DEFAULT_VARIABLES, generated into
 * ewl_format.h). %SYSTEM32% is %WINDIR% followed by what the default
 * %SYSTEM32% adds to the default %WINDIR%; the %PROGRAMFILES% defaults are
 * on %OSDRIVE%: the generator checks both prefixes. */
static const WCHAR g_DefaultWindir[] = EWL_DEFAULT_WINDIR_0;
static const WCHAR g_DefaultSystem32[] = EWL_DEFAULT_SYSTEM32_0;
static const WCHAR g_DefaultProgramFiles[] = EWL_DEFAULT_PROGRAMFILES_0;
static const WCHAR g_DefaultProgramFilesX86[] = EWL_DEFAULT_PROGRAMFILES_1;
static const WCHAR g_DefaultOsDrive[] = EWL_DEFAULT_OSDRIVE_0;
#define EWL_UNITS(array) (sizeof(array) / sizeof(WCHAR))
#define EWL_AFTER(array, prefix) ((array) + EWL_UNITS(prefix)), (EWL_UNITS(array) - EWL_UNITS(prefix))

_IRQL_requires_(PASSIVE_LEVEL)
VOID EwlPathVariablesQuery(_Out_ PEWL_PATH_VARIABLES Variables)
{
    const WCHAR *root = SharedUserData->NtSystemRoot;
    SIZE_T rootUnits = 0;
    OBJECT_ATTRIBUTES attributes;
    UNICODE_STRING keyName = RTL_CONSTANT_STRING(EWL_CURRENT_VERSION_KEY);
    HANDLE key = NULL;
    ULONG i;

    PAGED_CODE();
    RtlZeroMemory(Variables, sizeof(*Variables));
    while (rootUnits < RTL_NUMBER_OF(SharedUserData->NtSystemRoot) && root[rootUnits] != L'\0') {
        rootUnits++;
    }
    if (rootUnits == RTL_NUMBER_OF(SharedUserData->NtSystemRoot) ||
        !EwlIsDrivePath(root, rootUnits) || rootUnits <= 3 ||
        !EwlSetVariable(Variables, EWL_PATH_VARIABLE_WINDIR, root, rootUnits, NULL, 0) ||
        !EwlSetVariable(Variables, EWL_PATH_VARIABLE_SYSTEM32, root, rootUnits,
                        EWL_AFTER(g_DefaultSystem32, g_DefaultWindir))) {
        root = g_DefaultWindir;
        rootUnits = EWL_UNITS(g_DefaultWindir);
        (VOID)EwlSetVariable(Variables, EWL_PATH_VARIABLE_WINDIR, root, rootUnits, NULL, 0);
        (VOID)EwlSetVariable(Variables, EWL_PATH_VARIABLE_SYSTEM32, root, rootUnits,
                             EWL_AFTER(g_DefaultSystem32, g_DefaultWindir));
    }
    (VOID)EwlSetVariable(Variables, EWL_PATH_VARIABLE_OSDRIVE, root, 2, NULL, 0);

    InitializeObjectAttributes(&attributes, &keyName, OBJ_CASE_INSENSITIVE | OBJ_KERNEL_HANDLE,
                               NULL, NULL);
    if (!NT_SUCCESS(ZwOpenKey(&key, KEY_QUERY_VALUE, &attributes))) {
        key = NULL;
    }
    if (key == NULL ||
        !EwlSetVariableFromRegistry(Variables, EWL_PATH_VARIABLE_PROGRAMFILES, key,
                                    L"ProgramFilesDir")) {
        (VOID)EwlSetVariable(Variables, EWL_PATH_VARIABLE_PROGRAMFILES, root, 2,
                             EWL_AFTER(g_DefaultProgramFiles, g_DefaultOsDrive));
    }
    if (key == NULL ||
        !EwlSetVariableFromRegistry(Variables, EWL_PATH_VARIABLE_PROGRAMFILES_X86, key,
                                    L"ProgramFilesDir (x86)")) {
        (VOID)EwlSetVariable(Variables, EWL_PATH_VARIABLE_PROGRAMFILES_X86, root, 2,
                             EWL_AFTER(g_DefaultProgramFilesX86, g_DefaultOsDrive));
    }
    if (key != NULL) {
        (VOID)ZwClose(key);
    }

    /* The core's table: one value per variable, two for %PROGRAMFILES%. */
    for (i = 0; i < EWL_VARIABLE_COUNT; i++) {
        Variables->Vars.count[i] = 1;
    }
    Variables->Vars.values[EWL_VAR_WINDIR - 1] = &Variables->Values[EWL_PATH_VARIABLE_WINDIR];
    Variables->Vars.values[EWL_VAR_SYSTEM32 - 1] = &Variables->Values[EWL_PATH_VARIABLE_SYSTEM32];
    Variables->Vars.values[EWL_VAR_PROGRAMFILES - 1] =
        &Variables->Values[EWL_PATH_VARIABLE_PROGRAMFILES];
    Variables->Vars.count[EWL_VAR_PROGRAMFILES - 1] = 2;
    Variables->Vars.values[EWL_VAR_OSDRIVE - 1] = &Variables->Values[EWL_PATH_VARIABLE_OSDRIVE];
}
