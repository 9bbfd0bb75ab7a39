/* The image's digests through the callback's FileObject (never re-opened by
 * name): the core's ewl_pe_digest makes one sequential pass and feeds CNG's
 * SHA-256 (the provider is opened once, at load). The Authenticode digest is
 * always computed for a PE; the flat one only when asked (the policy has
 * flat-hash rules). A file that cannot stand for the mapped image before or
 * after the pass (EwlImageFileTrust) gets no trusted digest. */
#include "ewl_kernel.h"

#define EWL_READ_CHUNK (256u * 1024u)

static BCRYPT_ALG_HANDLE g_Sha256;

typedef struct _EWL_READER {
    HANDLE File;
} EWL_READER;

typedef struct _EWL_SHA256 {
    BCRYPT_HASH_HANDLE Handle;
    PUCHAR Out;
    BOOLEAN Done;
} EWL_SHA256;

_IRQL_requires_(PASSIVE_LEVEL)
NTSTATUS EwlHashInitialize(VOID)
{
    PAGED_CODE();
    return BCryptOpenAlgorithmProvider(&g_Sha256, BCRYPT_SHA256_ALGORITHM, NULL, 0);
}

_IRQL_requires_(PASSIVE_LEVEL)
VOID EwlHashUninitialize(VOID)
{
    PAGED_CODE();
    if (g_Sha256 != NULL) {
        (VOID)BCryptCloseAlgorithmProvider(g_Sha256, 0);
        g_Sha256 = NULL;
    }
}

static int EwlRead(void *ctx, uint64_t offset, uint8_t *buf, size_t len, size_t *got)
{
    EWL_READER *reader = (EWL_READER *)ctx;
    IO_STATUS_BLOCK iosb;
    LARGE_INTEGER at;
    NTSTATUS status;
    ULONG want = (ULONG)(len < EWL_READ_CHUNK ? len : EWL_READ_CHUNK);

    *got = 0;
    if (offset > (uint64_t)MAXLONGLONG) {
        return 1;
    }
    at.QuadPart = (LONGLONG)offset;
    RtlZeroMemory(&iosb, sizeof(iosb));
    status = ZwReadFile(reader->File, NULL, NULL, NULL, &iosb, buf, want, &at, NULL);
    if (status == STATUS_PENDING) {
        status = ZwWaitForSingleObject(reader->File, FALSE, NULL);
        if (NT_SUCCESS(status)) {
            status = iosb.Status;
        }
    }
    if (status == STATUS_END_OF_FILE) {
        return 0;
    }
    if (!NT_SUCCESS(status) || iosb.Information > want) {
        return 1;
    }
    *got = (size_t)iosb.Information;
    return 0;
}

static int EwlShaInit(void *ctx)
{
    EWL_SHA256 *sha = (EWL_SHA256 *)ctx;
    return NT_SUCCESS(BCryptCreateHash(g_Sha256, &sha->Handle, NULL, 0, NULL, 0, 0)) ? 0 : 1;
}

static int EwlShaUpdate(void *ctx, const uint8_t *data, size_t len)
{
    EWL_SHA256 *sha = (EWL_SHA256 *)ctx;
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
    EWL_SHA256 *sha = (EWL_SHA256 *)ctx;
    if (!NT_SUCCESS(BCryptFinishHash(sha->Handle, sha->Out, EWL_HASH_SIZE, 0))) {
        return 1;
    }
    sha->Done = TRUE;
    return 0;
}

static BOOLEAN EwlFileIsWritable(_In_ PFILE_OBJECT FileObject)
{
    return FileObject->SectionObjectPointer != NULL &&
           MmDoesFileHaveUserWritableReferences(FileObject->SectionObjectPointer) != 0;
}

/* Whether the bytes read through FileObject can stand for the mapped image
 * (docs/threat-model.md): not while someone can still write to the file
 * (herpaderping), not inside a transaction that may roll back
 * (doppelgänging), not once the file is being deleted (ghosting). */
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
NTSTATUS EwlHashImage(_In_ PFILE_OBJECT FileObject, _In_ BOOLEAN WantFlat,
                      _Out_ PEWL_IMAGE_HASHES Hashes)
{
    NTSTATUS status;
    EWL_READER reader = {NULL};
    EWL_SHA256 sha[2];
    ewl_hasher_t hashers[2];
    size_t count = 1;
    PUCHAR scratch = NULL;
    IO_STATUS_BLOCK iosb;
    FILE_STANDARD_INFORMATION standard;
    ewl_pe_result_t result;
    ewl_pe_status_t digested;
    size_t i;

    PAGED_CODE();
    RtlZeroMemory(Hashes, sizeof(*Hashes));
    RtlZeroMemory(sha, sizeof(sha));
    sha[0].Out = Hashes->Authenticode;
    sha[1].Out = Hashes->Flat;
    for (i = 0; i < 2; i++) {
        hashers[i].role = i == 0 ? EWL_DIGEST_AUTHENTICODE : EWL_DIGEST_FLAT;
        hashers[i].ctx = &sha[i];
        hashers[i].init = EwlShaInit;
        hashers[i].update = EwlShaUpdate;
        hashers[i].final = EwlShaFinal;
    }
    if (WantFlat) {
        count = 2;
    }

    status = EwlImageFileTrust(FileObject);
    if (!NT_SUCCESS(status)) {
        goto Exit;
    }
    /* No access check (KernelMode) and no type argument: the object is the
     * kernel's own FILE_OBJECT from PS_CREATE_NOTIFY_INFO. */
    status = ObOpenObjectByPointer(FileObject, OBJ_KERNEL_HANDLE, NULL, FILE_READ_DATA | SYNCHRONIZE,
                                   NULL, KernelMode, &reader.File);
    if (!NT_SUCCESS(status)) {
        reader.File = NULL;
        goto Exit;
    }
    status = ZwQueryInformationFile(reader.File, &iosb, &standard, sizeof(standard),
                                    FileStandardInformation);
    if (!NT_SUCCESS(status)) {
        goto Exit;
    }
    if (standard.EndOfFile.QuadPart < 0) {
        status = STATUS_FILE_CORRUPT_ERROR;
        goto Exit;
    }
    scratch = (PUCHAR)EwlAllocatePool(FALSE, EWL_PE_SCRATCH_MIN);
    if (scratch == NULL) {
        status = STATUS_INSUFFICIENT_RESOURCES;
        goto Exit;
    }
    digested = ewl_pe_digest(EwlRead, &reader, (uint64_t)standard.EndOfFile.QuadPart, hashers,
                             count, scratch, EWL_PE_SCRATCH_MIN, &result);
    if (digested != EWL_PE_OK) {
        status = STATUS_FILE_CORRUPT_ERROR;
        goto Exit;
    }
    /* A writer (or a delete) that appeared during the pass makes the digest
     * worthless. */
    status = EwlImageFileTrust(FileObject);
    if (!NT_SUCCESS(status)) {
        goto Exit;
    }
    Hashes->HaveAuthenticode = result.kind == EWL_FILE_PE && sha[0].Done;
    Hashes->HaveFlat = WantFlat && sha[1].Done;
    status = STATUS_SUCCESS;

Exit:
    for (i = 0; i < 2; i++) {
        if (sha[i].Handle != NULL) {
            (VOID)BCryptDestroyHash(sha[i].Handle);
        }
    }
    if (scratch != NULL) {
        ExFreePoolWithTag(scratch, EWL_POOL_TAG);
    }
    if (reader.File != NULL) {
        (VOID)ZwClose(reader.File);
    }
    if (!NT_SUCCESS(status)) {
        Hashes->HaveAuthenticode = FALSE;
        Hashes->HaveFlat = FALSE;
    }
    return status;
}
