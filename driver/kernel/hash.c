/* The image's digests, read on the driver's own file object (docs/driver.md,
 * "Own reads"): FltCreateFileEx2 by the normalized NT name, below our own
 * instance (so the open re-enters no filter above us, and not us), synchronous,
 * read-only, ignoring share access, not following reparse points, completing
 * if oplocked; it must be the same stream as the image's file object (same
 * SectionObjectPointer and FsContext), and it is read with FltReadFileEx at
 * explicit offsets without touching any byte offset. The creator's file object
 * (CreateInfo->FileObject) is only inspected, never used for I/O: it may be
 * asynchronous, non-buffered or cleaned up, and its position is its owner's.
 *
 * The core's ewl_pe_digest_planned makes one sequential pass and feeds CNG's
 * hashes (the providers are opened once, at load). When the policy has
 * publisher conditions, the pass's plan first reads the certificate table
 * (at most EWL_TABLE_MAX_BYTES) on the same file object and adds the
 * Authenticode digests its signatures were made with, so that the signer
 * stage (signer.c) verifies against digests of the bytes read here. Any failure (open, oplock, sharing,
 * lock conflict, short read, a size change during the pass, a size above
 * MaxHashBytes, a network pass over NetworkReadBudgetMs) means no digest, and
 * the NTSTATUS says why. The budget is checked before each read: a single read
 * that never returns is bounded only by the redirector's own timeouts. */
#include "ewl_kernel.h"

#define EWL_READ_CHUNK (256u * 1024u)

/* The hash providers, by EWL_HASH_* (0: none). */
static BCRYPT_ALG_HANDLE g_Hash[EWL_HASH_COUNT];

typedef struct _EWL_READER {
    PFLT_INSTANCE Instance;
    PFILE_OBJECT File;
    ULONGLONG Size;
    ULONGLONG Deadline; /* interrupt time (100 ns) after which no read starts; 0: none */
    NTSTATUS Status;    /* the first read failure */
} EWL_READER;

/* One hasher of the pass: a CNG hash of Algorithm into Out. */
typedef struct _EWL_SHA {
    int Algorithm;
    BCRYPT_HASH_HANDLE Handle;
    PUCHAR Out;
    BOOLEAN Done;
} EWL_SHA;

/* The pass's plan (EwlPlan): the table read for the signer stage. */
typedef struct _EWL_PLAN {
    EWL_READER *Reader;
    BOOLEAN WantFlat;
    PEWL_IMAGE_SIGNED Signed;
    ewl_table_work_t *Work; /* ewl_table_algorithms' scratch, freed after the pass */
} EWL_PLAN;

_IRQL_requires_(PASSIVE_LEVEL)
NTSTATUS EwlHashInitialize(VOID)
{
    static const PCWSTR names[EWL_HASH_COUNT] = {NULL, BCRYPT_SHA1_ALGORITHM,
                                                 BCRYPT_SHA256_ALGORITHM, BCRYPT_SHA384_ALGORITHM,
                                                 BCRYPT_SHA512_ALGORITHM};
    NTSTATUS status = STATUS_SUCCESS;
    int alg;

    PAGED_CODE();
    for (alg = EWL_HASH_SHA1; alg < EWL_HASH_COUNT && NT_SUCCESS(status); alg++) {
        status = BCryptOpenAlgorithmProvider(&g_Hash[alg], names[alg], NULL, 0);
    }
    if (!NT_SUCCESS(status)) {
        EwlHashUninitialize();
    }
    return status;
}

_IRQL_requires_(PASSIVE_LEVEL)
VOID EwlHashUninitialize(VOID)
{
    int alg;

    PAGED_CODE();
    for (alg = EWL_HASH_SHA1; alg < EWL_HASH_COUNT; alg++) {
        if (g_Hash[alg] != NULL) {
            (VOID)BCryptCloseAlgorithmProvider(g_Hash[alg], 0);
            g_Hash[alg] = NULL;
        }
    }
}

BCRYPT_ALG_HANDLE EwlHashAlgorithm(_In_ int Algorithm)
{
    return Algorithm > EWL_HASH_NONE && Algorithm < EWL_HASH_COUNT ? g_Hash[Algorithm] : NULL;
}

VOID EwlImageSignedFree(_Inout_ PEWL_IMAGE_SIGNED Signed)
{
    if (Signed->Table != NULL) {
        ExFreePoolWithTag(Signed->Table, EWL_TAG_SIGNER);
    }
    if (Signed->Strings != NULL) {
        ExFreePoolWithTag(Signed->Strings, EWL_TAG_SIGNER);
    }
    RtlZeroMemory(Signed, sizeof(*Signed));
}

static int EwlRead(void *ctx, uint64_t offset, uint8_t *buf, size_t len, size_t *got)
{
    EWL_READER *reader = (EWL_READER *)ctx;
    LARGE_INTEGER at;
    NTSTATUS status;
    ULONG want = (ULONG)(len < EWL_READ_CHUNK ? len : EWL_READ_CHUNK);
    ULONG read = 0;
    ULONGLONG expected;

    *got = 0;
    if (offset >= reader->Size) {
        return 0; /* end of file */
    }
    expected = reader->Size - offset < want ? reader->Size - offset : want;
    if (reader->Deadline != 0 && KeQueryInterruptTime() > reader->Deadline) {
        reader->Status = STATUS_IO_TIMEOUT; /* a slow server: the pass is over budget */
        return 1;
    }
    at.QuadPart = (LONGLONG)offset;
    status = FltReadFileEx(reader->Instance, reader->File, &at, want, buf,
                           FLTFL_IO_OPERATION_DO_NOT_UPDATE_BYTE_OFFSET, &read, NULL, NULL, NULL,
                           NULL);
    if (NT_SUCCESS(status) && read != expected) {
        status = STATUS_END_OF_FILE; /* a short read: the file changed, or the FS lied */
    }
    if (!NT_SUCCESS(status)) {
        reader->Status = status;
        return 1;
    }
    *got = read;
    return 0;
}

static int EwlShaInit(void *ctx)
{
    EWL_SHA *sha = (EWL_SHA *)ctx;
    return NT_SUCCESS(BCryptCreateHash(g_Hash[sha->Algorithm], &sha->Handle, NULL, 0, NULL, 0,
                                       0))
               ? 0
               : 1;
}

static int EwlShaUpdate(void *ctx, const uint8_t *data, size_t len)
{
    EWL_SHA *sha = (EWL_SHA *)ctx;
    while (len > 0) {
        ULONG part = (ULONG)(len < MAXULONG ? len : MAXULONG);
        if (!NT_SUCCESS(BCryptHashData(sha->Handle, (PUCHAR)(ULONG_PTR)data, part, 0))) {
            return 1;
        }
        data += part;
        len -= part;
    }
    return 0;
}

static int EwlShaFinal(void *ctx)
{
    EWL_SHA *sha = (EWL_SHA *)ctx;
    if (!NT_SUCCESS(BCryptFinishHash(sha->Handle, sha->Out, (ULONG)ewl_hash_size(sha->Algorithm),
                                     0))) {
        return 1;
    }
    sha->Done = TRUE;
    return 0;
}

/* Hasher i of the pass: 0 the Authenticode SHA-256, 1 the flat SHA-256, then
 * the Authenticode digests only signatures use (SHA-1, SHA-384, SHA-512). */
#define EWL_HASHER_AUTHENTICODE 0
#define EWL_HASHER_FLAT 1
#define EWL_HASHER_COUNT 5
static int EwlHasherAlgorithm(_In_ size_t Index)
{
    static const int extra[] = {EWL_HASH_SHA1, EWL_HASH_SHA384, EWL_HASH_SHA512};
    return Index < 2 ? EWL_HASH_SHA256 : extra[Index - 2];
}

/* The version resource (ewl_versioninfo.h) into Kept: its four FileAttribute
 * strings folded with RtlUpcaseUnicodeString, and the file version. What
 * Python reads as no version resource (none, not a PE, malformed, too large)
 * is kept as none; a failed read fails the pass. */
_IRQL_requires_max_(APC_LEVEL)
static int EwlPlanVersion(_Inout_ EWL_READER *Reader, _Inout_ PEWL_IMAGE_SIGNED Kept)
{
    /* [EWL_ATTRIBUTE_* - 1] -> the reader's string index. */
    static const int strings[EWL_ATTRIBUTE_COUNT] = {
        EWL_VERSION_ORIGINAL_FILENAME, EWL_VERSION_INTERNAL_NAME, EWL_VERSION_FILE_DESCRIPTION,
        EWL_VERSION_PRODUCT_NAME};
    ewl_version_result_t version;
    PUCHAR scratch;
    ULONG total = 0;
    ULONG at = 0;
    ULONG i;
    int status;
    int failed = 0;

    PAGED_CODE();
    scratch = (PUCHAR)EwlAllocatePool(FALSE, EWL_VERSION_SCRATCH_MIN, EWL_TAG_SIGNER);
    if (scratch == NULL) {
        Reader->Status = STATUS_INSUFFICIENT_RESOURCES;
        return 1;
    }
    status = ewl_version_read(EwlRead, Reader, Reader->Size, scratch, EWL_VERSION_SCRATCH_MIN,
                              &version);
    if (status == EWL_VERSION_READ_FAILED || status == EWL_VERSION_FILE_CHANGED) {
        if (NT_SUCCESS(Reader->Status)) {
            Reader->Status = STATUS_END_OF_FILE;
        }
        failed = 1;
        goto Exit;
    }
    if (status != EWL_VERSION_FOUND) {
        goto Exit;
    }
    Kept->HasVersion = version.has_file_version != 0;
    Kept->Version = version.file_version;
    for (i = 0; i < EWL_ATTRIBUTE_COUNT; i++) {
        if (version.strings[strings[i]].present) {
            total += (ULONG)version.strings[strings[i]].len; /* each < 32 Ki units */
        }
    }
    if (total == 0) {
        goto Exit;
    }
    Kept->Strings = (PWCHAR)EwlAllocatePool(FALSE, total * sizeof(WCHAR), EWL_TAG_SIGNER);
    if (Kept->Strings == NULL) {
        Reader->Status = STATUS_INSUFFICIENT_RESOURCES;
        failed = 1;
        goto Exit;
    }
    for (i = 0; i < EWL_ATTRIBUTE_COUNT; i++) {
        const ewl_version_string_t *value = &version.strings[strings[i]];
        UNICODE_STRING source;
        UNICODE_STRING folded;
        if (!value->present) {
            continue;
        }
        source.Buffer = (PWCH)(ULONG_PTR)value->units;
        source.Length = source.MaximumLength = (USHORT)(value->len * sizeof(WCHAR));
        folded.Buffer = Kept->Strings + at;
        folded.Length = 0;
        folded.MaximumLength = source.Length;
        if (!NT_SUCCESS(RtlUpcaseUnicodeString(&folded, &source, FALSE))) {
            Reader->Status = STATUS_INVALID_PARAMETER;
            failed = 1;
            goto Exit;
        }
        Kept->Units[i] = (USHORT)value->len;
        at += (ULONG)value->len;
    }

Exit:
    ExFreePoolWithTag(scratch, EWL_TAG_SIGNER);
    return failed;
}

/* ewl_plan_fn: read the version resource of a PE and the certificate table
 * of a signed one into buffers of their own, and keep the Authenticode
 * digests the signatures need (the flat digest and the Authenticode SHA-256
 * stay as the caller asked). A table too large to read is kept as its size
 * only: the signer stage then finds no signer (signatures.MAX_TABLE_SIZE). */
static int EwlPlan(void *ctx, const ewl_pe_result_t *classified, uint8_t *enabled)
{
    EWL_PLAN *plan = (EWL_PLAN *)ctx;
    PEWL_IMAGE_SIGNED kept = plan->Signed;
    unsigned algorithms = 0;
    size_t i;

    enabled[EWL_HASHER_FLAT] = plan->WantFlat;
    for (i = 2; i < EWL_HASHER_COUNT; i++) {
        enabled[i] = 0;
    }
    if (classified->kind != EWL_FILE_PE) {
        return 0;
    }
    if (EwlPlanVersion(plan->Reader, kept) != 0) {
        return 1;
    }
    if (!classified->is_signed) {
        return 0;
    }
    kept->TableSize = classified->certificate_table_size;
    if (kept->TableSize > EWL_TABLE_MAX_BYTES) {
        return 0;
    }
    kept->Table = (PUCHAR)EwlAllocatePool(FALSE, kept->TableSize, EWL_TAG_SIGNER);
    plan->Work = (ewl_table_work_t *)EwlAllocatePool(FALSE, sizeof(*plan->Work), EWL_TAG_SIGNER);
    if (kept->Table == NULL || plan->Work == NULL) {
        plan->Reader->Status = STATUS_INSUFFICIENT_RESOURCES;
        return 1;
    }
    if (ewl_pe_read_exact(EwlRead, plan->Reader, classified->certificate_table_offset,
                          kept->Table, kept->TableSize) != EWL_PE_OK) {
        if (NT_SUCCESS(plan->Reader->Status)) {
            plan->Reader->Status = STATUS_END_OF_FILE;
        }
        return 1;
    }
    algorithms = ewl_table_algorithms(kept->Table, kept->TableSize, plan->Work);
    for (i = 2; i < EWL_HASHER_COUNT; i++) {
        enabled[i] = (uint8_t)((algorithms >> EwlHasherAlgorithm(i)) & 1u);
    }
    return 0;
}

static BOOLEAN EwlFileIsWritable(_In_ PFILE_OBJECT FileObject)
{
    return FileObject->SectionObjectPointer != NULL &&
           MmDoesFileHaveUserWritableReferences(FileObject->SectionObjectPointer) != 0;
}

/* Whether the bytes on disk can stand for the mapped image at all
 * (docs/threat-model.md): not while someone can still write to the file
 * (herpaderping), not inside a transaction that may roll back
 * (doppelgänging), not once the file is being deleted (ghosting). Only
 * fields of the creator's file object are read. */
static NTSTATUS EwlImageFileTrust(_In_ PFILE_OBJECT FileObject)
{
    if (EwlFileIsWritable(FileObject)) {
        return STATUS_SHARING_VIOLATION;
    }
    if (IoGetTransactionParameterBlock(FileObject) != NULL) {
        return STATUS_TRANSACTIONAL_CONFLICT;
    }
    if (FileObject->DeletePending) {
        return STATUS_DELETE_PENDING;
    }
    return STATUS_SUCCESS;
}

_IRQL_requires_(PASSIVE_LEVEL)
static NTSTATUS EwlQuerySize(_In_ PFLT_INSTANCE Instance, _In_ PFILE_OBJECT File,
                             _Out_ PULONGLONG Size)
{
    FILE_STANDARD_INFORMATION standard;
    NTSTATUS status;

    PAGED_CODE();
    *Size = 0;
    status = FltQueryInformationFile(Instance, File, &standard, sizeof(standard),
                                     FileStandardInformation, NULL);
    if (NT_SUCCESS(status)) {
        if (standard.EndOfFile.QuadPart < 0) {
            status = STATUS_FILE_CORRUPT_ERROR;
        } else {
            *Size = (ULONGLONG)standard.EndOfFile.QuadPart;
        }
    }
    return status;
}

/* The driver's own file object on the image's stream: FltCreateFileEx2 by
 * the normalized NT name below our instance (no filter above us, not us),
 * read-only, synchronous, ignoring share access, not following reparse
 * points, completing if oplocked; then checked to be the same stream as
 * Image (a rename since the section was made cannot substitute another
 * file). STATUS_OPLOCK_BREAK_IN_PROGRESS is a success code the caller must
 * not read after. The caller dereferences *File and FltCloses *Handle, both
 * NULL on failure. */
_IRQL_requires_max_(APC_LEVEL)
static NTSTATUS EwlOpenOwn(_In_ PFLT_INSTANCE Instance, _In_ PFILE_OBJECT Image,
                           _In_ PCUNICODE_STRING NtName, _Out_ PHANDLE Handle,
                           _Out_ PFILE_OBJECT *File)
{
    NTSTATUS status;
    OBJECT_ATTRIBUTES attributes;
    IO_STATUS_BLOCK iosb;

    PAGED_CODE();
    *Handle = NULL;
    *File = NULL;
    InitializeObjectAttributes(&attributes, (PUNICODE_STRING)NtName,
                               OBJ_KERNEL_HANDLE | OBJ_CASE_INSENSITIVE | OBJ_DONT_REPARSE, NULL,
                               NULL);
    status = FltCreateFileEx2(EwlFilter(), Instance, Handle, File, FILE_READ_DATA | SYNCHRONIZE,
                              &attributes, &iosb, NULL, FILE_ATTRIBUTE_NORMAL,
                              FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, FILE_OPEN,
                              FILE_SYNCHRONOUS_IO_NONALERT | FILE_NON_DIRECTORY_FILE |
                                  FILE_COMPLETE_IF_OPLOCKED,
                              NULL, 0, IO_IGNORE_SHARE_ACCESS_CHECK, NULL);
    if (!NT_SUCCESS(status)) {
        *Handle = NULL;
        *File = NULL;
        goto Exit;
    }
    if (status == STATUS_OPLOCK_BREAK_IN_PROGRESS) {
        goto Exit;
    }
    if ((*File)->SectionObjectPointer != Image->SectionObjectPointer ||
        (*File)->FsContext != Image->FsContext) {
        status = STATUS_FILE_RENAMED;
    }

Exit:
    return status;
}

_IRQL_requires_(PASSIVE_LEVEL)
NTSTATUS EwlHashImage(_In_ PFLT_INSTANCE Instance, _In_ PFILE_OBJECT Image,
                      _In_ PCUNICODE_STRING NtName, _In_ BOOLEAN WantFlat,
                      _In_ ULONG BudgetMs, _Out_ PEWL_IMAGE_HASHES Hashes,
                      _Inout_opt_ PEWL_IMAGE_SIGNED Signed)
{
    NTSTATUS status;
    EWL_READER reader;
    EWL_PLAN plan;
    EWL_SHA sha[EWL_HASHER_COUNT];
    ewl_hasher_t hashers[EWL_HASHER_COUNT];
    size_t count = Signed != NULL ? EWL_HASHER_COUNT : (WantFlat ? 2 : 1);
    PUCHAR scratch = NULL;
    HANDLE handle = NULL;
    PFILE_OBJECT file = NULL;
    ULONGLONG after;
    ewl_pe_result_t result;
    ewl_pe_status_t digested;
    size_t i;

    PAGED_CODE();
    RtlZeroMemory(Hashes, sizeof(*Hashes));
    RtlZeroMemory(sha, sizeof(sha));
    RtlZeroMemory(&reader, sizeof(reader));
    RtlZeroMemory(&plan, sizeof(plan));
    if (Signed != NULL) {
        EwlImageSignedFree(Signed);
    }
    for (i = 0; i < EWL_HASHER_COUNT; i++) {
        sha[i].Algorithm = EwlHasherAlgorithm(i);
        sha[i].Out = i == EWL_HASHER_AUTHENTICODE ? Hashes->Authenticode
                     : i == EWL_HASHER_FLAT      ? Hashes->Flat
                     : Signed != NULL            ? Signed->Digests.digest[sha[i].Algorithm]
                                                 : NULL;
        hashers[i].role = i == EWL_HASHER_FLAT ? EWL_DIGEST_FLAT : EWL_DIGEST_AUTHENTICODE;
        hashers[i].ctx = &sha[i];
        hashers[i].init = EwlShaInit;
        hashers[i].update = EwlShaUpdate;
        hashers[i].final = EwlShaFinal;
    }

    status = EwlImageFileTrust(Image);
    if (!NT_SUCCESS(status)) {
        goto Exit;
    }
    status = EwlOpenOwn(Instance, Image, NtName, &handle, &file);
    if (!NT_SUCCESS(status) || status == STATUS_OPLOCK_BREAK_IN_PROGRESS) {
        goto Exit; /* an oplock break: reading now would wait for it */
    }
    status = EwlQuerySize(Instance, file, &reader.Size);
    if (!NT_SUCCESS(status)) {
        goto Exit;
    }
    if (reader.Size > g_EwlSettings.MaxHashBytes) {
        status = STATUS_FILE_TOO_LARGE;
        goto Exit;
    }
    scratch = (PUCHAR)EwlAllocatePool(FALSE, EWL_PE_SCRATCH_MIN, EWL_TAG_HASH);
    if (scratch == NULL) {
        status = STATUS_INSUFFICIENT_RESOURCES;
        goto Exit;
    }
    reader.Instance = Instance;
    reader.File = file;
    if (BudgetMs != 0) {
        reader.Deadline = KeQueryInterruptTime() + (ULONGLONG)BudgetMs * 10000u;
    }
    reader.Status = STATUS_SUCCESS;
    plan.Reader = &reader;
    plan.WantFlat = WantFlat;
    plan.Signed = Signed;
    /* Without a plan, count says whether the flat hasher is fed; with one,
     * the plan says it, and turns the extra Authenticode hashers on as the
     * table needs them. */
    digested = ewl_pe_digest_planned(EwlRead, &reader, reader.Size, hashers, count,
                                     Signed != NULL ? EwlPlan : NULL, &plan, scratch,
                                     EWL_PE_SCRATCH_MIN, &result);
    if (digested != EWL_PE_OK) {
        status = NT_SUCCESS(reader.Status) ? STATUS_FILE_CORRUPT_ERROR : reader.Status;
        goto Exit;
    }
    /* A size change, a writer, a transaction or a delete during the pass
     * makes the digest worthless. */
    status = EwlQuerySize(Instance, file, &after);
    if (NT_SUCCESS(status) && after != reader.Size) {
        status = STATUS_FILE_INVALID;
    }
    if (NT_SUCCESS(status)) {
        status = EwlImageFileTrust(Image);
    }
    if (!NT_SUCCESS(status)) {
        goto Exit;
    }
    Hashes->HaveAuthenticode = result.kind == EWL_FILE_PE && sha[EWL_HASHER_AUTHENTICODE].Done;
    Hashes->HaveFlat = WantFlat && sha[EWL_HASHER_FLAT].Done;
    if (Signed != NULL) {
        for (i = 0; i < EWL_HASHER_COUNT; i++) {
            if (i != EWL_HASHER_FLAT && sha[i].Done) {
                Signed->Digests.present[sha[i].Algorithm] = 1;
                if (i == EWL_HASHER_AUTHENTICODE) {
                    RtlCopyMemory(Signed->Digests.digest[EWL_HASH_SHA256], Hashes->Authenticode,
                                  EWL_HASH_SIZE);
                }
            }
        }
    }
    status = STATUS_SUCCESS;

Exit:
    for (i = 0; i < EWL_HASHER_COUNT; i++) {
        if (sha[i].Handle != NULL) {
            (VOID)BCryptDestroyHash(sha[i].Handle);
        }
    }
    if (plan.Work != NULL) {
        ExFreePoolWithTag(plan.Work, EWL_TAG_SIGNER);
    }
    if (scratch != NULL) {
        ExFreePoolWithTag(scratch, EWL_TAG_HASH);
    }
    if (file != NULL) {
        ObDereferenceObject(file);
    }
    if (handle != NULL) {
        (VOID)FltClose(handle);
    }
    if (!NT_SUCCESS(status) || status == STATUS_OPLOCK_BREAK_IN_PROGRESS) {
        Hashes->HaveAuthenticode = FALSE;
        Hashes->HaveFlat = FALSE;
        if (Signed != NULL) {
            EwlImageSignedFree(Signed);
        }
    }
    return status;
}

/* Offsets of the PE headers (docs/blob-format.md cites the PE format). */
#define EWL_DOS_LFANEW 0x3c
#define EWL_PE_CHARACTERISTICS 22 /* "PE\0\0", then IMAGE_FILE_HEADER.Characteristics at 18 */
#define EWL_PE_MAX_LFANEW 0x10000000u

_IRQL_requires_max_(APC_LEVEL)
NTSTATUS EwlImageCharacteristics(_In_ PFLT_INSTANCE Instance, _In_ PFILE_OBJECT Image,
                                 _In_ PCUNICODE_STRING NtName, _Out_ PUSHORT Characteristics)
{
    NTSTATUS status;
    HANDLE handle = NULL;
    PFILE_OBJECT file = NULL;
    UCHAR dos[EWL_DOS_LFANEW + 4];
    UCHAR pe[EWL_PE_CHARACTERISTICS + 2];
    LARGE_INTEGER at;
    ULONG lfanew;
    ULONG got = 0;

    PAGED_CODE();
    *Characteristics = 0;
    status = EwlImageFileTrust(Image);
    if (!NT_SUCCESS(status)) {
        goto Exit;
    }
    status = EwlOpenOwn(Instance, Image, NtName, &handle, &file);
    if (!NT_SUCCESS(status) || status == STATUS_OPLOCK_BREAK_IN_PROGRESS) {
        status = NT_SUCCESS(status) ? STATUS_SHARING_VIOLATION : status;
        goto Exit;
    }
    at.QuadPart = 0;
    status = FltReadFileEx(Instance, file, &at, sizeof(dos), dos,
                           FLTFL_IO_OPERATION_DO_NOT_UPDATE_BYTE_OFFSET, &got, NULL, NULL, NULL,
                           NULL);
    if (!NT_SUCCESS(status)) {
        goto Exit;
    }
    if (got != sizeof(dos) || dos[0] != 'M' || dos[1] != 'Z') {
        status = STATUS_INVALID_IMAGE_NOT_MZ;
        goto Exit;
    }
    lfanew = (ULONG)dos[EWL_DOS_LFANEW] | ((ULONG)dos[EWL_DOS_LFANEW + 1] << 8) |
             ((ULONG)dos[EWL_DOS_LFANEW + 2] << 16) | ((ULONG)dos[EWL_DOS_LFANEW + 3] << 24);
    if (lfanew > EWL_PE_MAX_LFANEW) {
        status = STATUS_INVALID_IMAGE_FORMAT;
        goto Exit;
    }
    at.QuadPart = lfanew;
    got = 0;
    status = FltReadFileEx(Instance, file, &at, sizeof(pe), pe,
                           FLTFL_IO_OPERATION_DO_NOT_UPDATE_BYTE_OFFSET, &got, NULL, NULL, NULL,
                           NULL);
    if (!NT_SUCCESS(status)) {
        goto Exit;
    }
    if (got != sizeof(pe) || pe[0] != 'P' || pe[1] != 'E' || pe[2] != 0 || pe[3] != 0) {
        status = STATUS_INVALID_IMAGE_FORMAT;
        goto Exit;
    }
    *Characteristics = (USHORT)(pe[EWL_PE_CHARACTERISTICS] |
                                (pe[EWL_PE_CHARACTERISTICS + 1] << 8));

Exit:
    if (file != NULL) {
        ObDereferenceObject(file);
    }
    if (handle != NULL) {
        (VOID)FltClose(handle);
    }
    return status;
}
