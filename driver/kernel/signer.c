/* Signers (docs/driver.md, "Signers"): an image's signer facts for publisher
 * conditions, from what its hashing pass kept (hash.c: the certificate table
 * and the Authenticode digests its signatures need, read on the driver's own
 * file object in that one pass). The portable core (ewl_table.h) reads and
 * verifies every signature; CNG does the hashing and the public-key
 * verification behind its callbacks. The providers are opened once, at
 * load. Only asked for when the staged decision needs signer facts, and the
 * verdict it leads to is cached like any other (decide.c).
 *
 * Public keys come from the signature's own certificates as the core found
 * them (ewl_sig_key_t): RSA as a BCRYPT_RSAKEY_BLOB (exponent, modulus;
 * BitLength the modulus's exact length), EC as a BCRYPT_ECCKEY_BLOB for
 * P-256, P-384 or P-521. A key CNG refuses, a scheme it cannot verify or a
 * failed call is "unsupported" for that signature, never a valid one. */
#include "ewl_kernel.h"

/* The largest public key blob: an RSA one (its header, an exponent of at
 * most 8 octets, the largest modulus the core accepts); an ECC one (its
 * header and two P-521 coordinates) is smaller. */
#define EWL_KEY_BLOB_MAX (sizeof(BCRYPT_RSAKEY_BLOB) + 8u + EWL_SIG_MAX_RSA_BYTES)

static BCRYPT_ALG_HANDLE g_Rsa;
static BCRYPT_ALG_HANDLE g_Ecdsa[4]; /* by EWL_CURVE_* */

/* The stage's working memory: the core's, the facts and one key blob. */
typedef struct _EWL_SIGNER_WORK {
    ewl_table_work_t Table;
    ewl_signer_facts_t Facts;
    UCHAR KeyBlob[EWL_KEY_BLOB_MAX];
} EWL_SIGNER_WORK;

_IRQL_requires_(PASSIVE_LEVEL)
NTSTATUS EwlSignerInitialize(VOID)
{
    static const PCWSTR curves[4] = {NULL, BCRYPT_ECDSA_P256_ALGORITHM,
                                     BCRYPT_ECDSA_P384_ALGORITHM, BCRYPT_ECDSA_P521_ALGORITHM};
    NTSTATUS status;
    int curve;

    PAGED_CODE();
    status = BCryptOpenAlgorithmProvider(&g_Rsa, BCRYPT_RSA_ALGORITHM, NULL, 0);
    for (curve = EWL_CURVE_P256; curve <= EWL_CURVE_P521 && NT_SUCCESS(status); curve++) {
        status = BCryptOpenAlgorithmProvider(&g_Ecdsa[curve], curves[curve], NULL, 0);
    }
    if (!NT_SUCCESS(status)) {
        EwlSignerUninitialize();
    }
    return status;
}

_IRQL_requires_(PASSIVE_LEVEL)
VOID EwlSignerUninitialize(VOID)
{
    int curve;

    PAGED_CODE();
    if (g_Rsa != NULL) {
        (VOID)BCryptCloseAlgorithmProvider(g_Rsa, 0);
        g_Rsa = NULL;
    }
    for (curve = EWL_CURVE_P256; curve <= EWL_CURVE_P521; curve++) {
        if (g_Ecdsa[curve] != NULL) {
            (VOID)BCryptCloseAlgorithmProvider(g_Ecdsa[curve], 0);
            g_Ecdsa[curve] = NULL;
        }
    }
}

/* ewl_sig_crypto_t.hash: out = alg(a || b). */
static int EwlSignerHash(void *ctx, int alg, const uint8_t *a, size_t a_len, const uint8_t *b,
                         size_t b_len, uint8_t *out)
{
    BCRYPT_HASH_HANDLE hash = NULL;
    BCRYPT_ALG_HANDLE provider = EwlHashAlgorithm(alg);
    NTSTATUS status = STATUS_NOT_SUPPORTED;

    UNREFERENCED_PARAMETER(ctx);
    if (provider == NULL || a_len > MAXULONG || b_len > MAXULONG) {
        goto Exit;
    }
    status = BCryptCreateHash(provider, &hash, NULL, 0, NULL, 0, 0);
    if (NT_SUCCESS(status)) {
        status = BCryptHashData(hash, (PUCHAR)(ULONG_PTR)a, (ULONG)a_len, 0);
    }
    if (NT_SUCCESS(status) && b_len > 0) {
        status = BCryptHashData(hash, (PUCHAR)(ULONG_PTR)b, (ULONG)b_len, 0);
    }
    if (NT_SUCCESS(status)) {
        status = BCryptFinishHash(hash, out, (ULONG)ewl_hash_size(alg), 0);
    }

Exit:
    if (hash != NULL) {
        (VOID)BCryptDestroyHash(hash);
    }
    return NT_SUCCESS(status) ? 0 : 1;
}

/* The bit length of a big-endian magnitude without leading zero octets. */
static ULONG EwlBitLength(_In_reads_(Len) const uint8_t *Bytes, _In_ size_t Len)
{
    ULONG bits = (ULONG)Len * 8u;
    uint8_t top = Len > 0 ? Bytes[0] : 0;

    while (bits > 0 && (top & 0x80u) == 0) {
        top = (uint8_t)(top << 1);
        bits--;
    }
    return bits;
}

/* The CNG name of a hash (padding infos), NULL for none. */
static PCWSTR EwlHashName(_In_ int Algorithm)
{
    static const PCWSTR names[EWL_HASH_COUNT] = {NULL, BCRYPT_SHA1_ALGORITHM,
                                                 BCRYPT_SHA256_ALGORITHM, BCRYPT_SHA384_ALGORITHM,
                                                 BCRYPT_SHA512_ALGORITHM};
    return Algorithm > EWL_HASH_NONE && Algorithm < EWL_HASH_COUNT ? names[Algorithm] : NULL;
}

/* ewl_sig_crypto_t.verify with CNG. */
static int EwlSignerVerify(void *ctx, const ewl_sig_key_t *key, int alg, int padding,
                           unsigned salt_length, const uint8_t *digest, size_t digest_len,
                           const uint8_t *signature, size_t signature_len)
{
    EWL_SIGNER_WORK *work = (EWL_SIGNER_WORK *)ctx;
    BCRYPT_KEY_HANDLE handle = NULL;
    BCRYPT_ALG_HANDLE provider;
    BCRYPT_PKCS1_PADDING_INFO pkcs1;
    BCRYPT_PSS_PADDING_INFO pss;
    PVOID paddingInfo = NULL;
    ULONG flags = 0;
    ULONG size;
    PCWSTR blobType;
    NTSTATUS status;
    int verdict = EWL_VERIFY_UNSUPPORTED;

    if (digest_len > MAXULONG || signature_len > MAXULONG || EwlHashName(alg) == NULL) {
        goto Exit;
    }
    if (key->type == EWL_KEY_RSA && padding != EWL_PAD_ECDSA) {
        BCRYPT_RSAKEY_BLOB *header = (BCRYPT_RSAKEY_BLOB *)work->KeyBlob;
        if (key->modulus_len > EWL_SIG_MAX_RSA_BYTES || key->exponent_len > 8u ||
            key->modulus_len == 0 || key->exponent_len == 0) {
            goto Exit;
        }
        header->Magic = BCRYPT_RSAPUBLIC_MAGIC;
        header->BitLength = EwlBitLength(key->modulus, key->modulus_len);
        header->cbPublicExp = (ULONG)key->exponent_len;
        header->cbModulus = (ULONG)key->modulus_len;
        header->cbPrime1 = 0;
        header->cbPrime2 = 0;
        RtlCopyMemory(work->KeyBlob + sizeof(*header), key->exponent, key->exponent_len);
        RtlCopyMemory(work->KeyBlob + sizeof(*header) + key->exponent_len, key->modulus,
                      key->modulus_len);
        size = (ULONG)(sizeof(*header) + key->exponent_len + key->modulus_len);
        provider = g_Rsa;
        blobType = BCRYPT_RSAPUBLIC_BLOB;
        if (padding == EWL_PAD_PKCS1) {
            pkcs1.pszAlgId = EwlHashName(alg);
            paddingInfo = &pkcs1;
            flags = BCRYPT_PAD_PKCS1;
        } else if (padding == EWL_PAD_PSS) {
            pss.pszAlgId = EwlHashName(alg);
            pss.cbSalt = salt_length;
            paddingInfo = &pss;
            flags = BCRYPT_PAD_PSS;
        } else {
            goto Exit;
        }
    } else if (key->type == EWL_KEY_EC && padding == EWL_PAD_ECDSA &&
               key->curve >= EWL_CURVE_P256 && key->curve <= EWL_CURVE_P521) {
        static const ULONG magics[4] = {0, BCRYPT_ECDSA_PUBLIC_P256_MAGIC,
                                        BCRYPT_ECDSA_PUBLIC_P384_MAGIC,
                                        BCRYPT_ECDSA_PUBLIC_P521_MAGIC};
        BCRYPT_ECCKEY_BLOB *header = (BCRYPT_ECCKEY_BLOB *)work->KeyBlob;
        if (key->coordinate_len > (EWL_KEY_BLOB_MAX - sizeof(*header)) / 2) {
            goto Exit;
        }
        header->dwMagic = magics[key->curve];
        header->cbKey = (ULONG)key->coordinate_len;
        RtlCopyMemory(work->KeyBlob + sizeof(*header), key->x, key->coordinate_len);
        RtlCopyMemory(work->KeyBlob + sizeof(*header) + key->coordinate_len, key->y,
                      key->coordinate_len);
        size = (ULONG)(sizeof(*header) + 2 * key->coordinate_len);
        provider = g_Ecdsa[key->curve];
        blobType = BCRYPT_ECCPUBLIC_BLOB;
    } else {
        goto Exit;
    }
    status = BCryptImportKeyPair(provider, NULL, blobType, &handle, work->KeyBlob, size, 0);
    if (!NT_SUCCESS(status)) {
        handle = NULL;
        goto Exit;
    }
    status = BCryptVerifySignature(handle, paddingInfo, (PUCHAR)(ULONG_PTR)digest,
                                   (ULONG)digest_len, (PUCHAR)(ULONG_PTR)signature,
                                   (ULONG)signature_len, flags);
    if (NT_SUCCESS(status)) {
        verdict = EWL_VERIFY_OK;
    } else if (status == STATUS_INVALID_SIGNATURE) {
        verdict = EWL_VERIFY_BAD;
    }

Exit:
    if (handle != NULL) {
        (VOID)BCryptDestroyKey(handle);
    }
    return verdict;
}

_IRQL_requires_max_(APC_LEVEL)
NTSTATUS EwlSignerFacts(_In_ const EWL_IMAGE_SIGNED *Signed, _Out_ PEWL_SIGNER_WORK *Work,
                        _Out_ const ewl_signer_facts_t **Facts)
{
    EWL_SIGNER_WORK *work;
    ewl_sig_crypto_t crypto;
    ULONG at = 0;
    ULONG i;

    PAGED_CODE();
    *Facts = NULL;
    *Work = NULL;
    work = (EWL_SIGNER_WORK *)EwlAllocatePool(FALSE, sizeof(*work), EWL_TAG_SIGNER);
    if (work == NULL) {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    RtlZeroMemory(&work->Facts, sizeof(work->Facts));
    for (i = 0; i < EWL_ATTRIBUTE_COUNT; i++) {
        if (Signed->Units[i] != 0) {
            work->Facts.attributes[i].units = (const uint16_t *)Signed->Strings + at;
            work->Facts.attributes[i].len = Signed->Units[i];
            at += Signed->Units[i];
        }
    }
    work->Facts.has_version = Signed->HasVersion;
    work->Facts.version = Signed->Version;
    if (Signed->Table != NULL) {
        crypto.ctx = work;
        crypto.hash = EwlSignerHash;
        crypto.verify = EwlSignerVerify;
        (VOID)ewl_table_verify(Signed->Table, Signed->TableSize, &Signed->Digests, &crypto,
                               &work->Table, &work->Facts);
    }
    /* An unsigned image (or a table too large to read) has no signer: a
     * known fact, which decides like Python's empty SignerFacts. */
    *Work = work;
    *Facts = &work->Facts;
    return STATUS_SUCCESS;
}

VOID EwlSignerName(_In_opt_ PEWL_SIGNER_WORK Work, _Out_ PUNICODE_STRING Name)
{
    const ewl_signer_t *first;

    RtlZeroMemory(Name, sizeof(*Name));
    if (Work == NULL || Work->Facts.signer_count == 0) {
        return;
    }
    first = &Work->Facts.signers[0];
    if (first->common_name != NULL) {
        Name->Buffer = (PWCH)(ULONG_PTR)first->common_name;
        Name->Length = Name->MaximumLength = (USHORT)(first->common_name_len * sizeof(WCHAR));
    }
}

VOID EwlSignerFree(_In_opt_ PEWL_SIGNER_WORK Work)
{
    if (Work != NULL) {
        ExFreePoolWithTag(Work, EWL_TAG_SIGNER);
    }
}
