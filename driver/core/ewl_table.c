/* The certificate table as a whole: see ewl_table.h. */
#include "ewl_table.h"

#include "ewl_authenticode.h"
#include "ewl_endian.h"

/* ASN.1 string tags a common name may have (X.520 DirectoryString and the
 * ones certificates use anyway). */
#define EWL_TAG_UTF8_STRING 0x0cu
#define EWL_TAG_PRINTABLE_STRING 0x13u
#define EWL_TAG_TELETEX_STRING 0x14u
#define EWL_TAG_IA5_STRING 0x16u
#define EWL_TAG_UNIVERSAL_STRING 0x1cu
#define EWL_TAG_BMP_STRING 0x1eu

/* Visit each entry of the table as pe._walk_certificates does, calling
 * ewl_sig_verify_entry on it (crypto NULL: read only), until the results are
 * full. Sets work->count. */
static void ewl_table_walk(const uint8_t *table, size_t len, const ewl_sig_image_t *image,
                           const ewl_sig_crypto_t *crypto, ewl_table_work_t *work)
{
    size_t pos = 0, entries = 0;
    work->count = 0;
    if (len > EWL_TABLE_MAX_BYTES) {
        /* ParsedTable.too_large: one malformed signature. */
        work->results[0].status = EWL_SIG_MALFORMED;
        work->results[0].nesting = 0;
        work->results[0].digest_alg = EWL_HASH_NONE;
        work->results[0].digest_matches = -1;
        work->results[0].chain_len = 0;
        work->results[0].cn_tag = 0;
        work->entry_at[0] = 0;
        work->count = 1;
        return;
    }
    while (len - pos >= EWL_WIN_CERT_HEADER && entries < EWL_MAX_CERTIFICATE_ENTRIES &&
           work->count < EWL_SIG_MAX_SIGNATURES) {
        uint32_t length = ewl_load_u32le(table + pos);
        size_t n = 0;
        if (length < EWL_WIN_CERT_HEADER || length > len - pos ||
            ewl_load_u16le(table + pos + 4) != EWL_WIN_CERT_REVISION_2_0 ||
            ewl_load_u16le(table + pos + 6) != EWL_WIN_CERT_TYPE_PKCS_SIGNED_DATA) {
            return; /* the walk ends: the signatures before it stand */
        }
        /* ewl_sig_verify_entry reads only inside [pos, pos + length), and its
         * views are relative to the entry: rebase them on the table. */
        (void)ewl_sig_verify_entry(table + pos, length, image, crypto, &work->sig,
                                   &work->results[work->count],
                                   EWL_SIG_MAX_SIGNATURES - work->count, &n);
        while (n > 0) {
            work->entry_at[work->count++] = pos;
            n--;
        }
        entries++;
        pos += (size_t)length + (8u - length % 8u) % 8u;
        if (pos > len) {
            pos = len;
        }
    }
}

unsigned ewl_table_algorithms(const uint8_t *table, size_t len, ewl_table_work_t *work)
{
    unsigned mask = 0;
    size_t i;
    ewl_table_walk(table, len, NULL, NULL, work);
    for (i = 0; i < work->count; i++) {
        if (work->results[i].digest_alg != EWL_HASH_NONE) {
            mask |= 1u << work->results[i].digest_alg;
        }
    }
    return mask;
}

/* One Unicode scalar value as UTF-16 into out[*n...]; 0 when it does not fit
 * or is not a scalar value. */
static int ewl_put_unit(uint32_t c, uint16_t *out, size_t *n)
{
    if (c > 0x10ffffu || (c >= 0xd800u && c <= 0xdfffu)) {
        return 0;
    }
    if (c < 0x10000u) {
        if (*n + 1 > EWL_TABLE_CN_MAX_UNITS) {
            return 0;
        }
        out[(*n)++] = (uint16_t)c;
    } else {
        if (*n + 2 > EWL_TABLE_CN_MAX_UNITS) {
            return 0;
        }
        c -= 0x10000u;
        out[(*n)++] = (uint16_t)(0xd800u | (c >> 10));
        out[(*n)++] = (uint16_t)(0xdc00u | (c & 0x3ffu));
    }
    return 1;
}

/* One UTF-8 sequence at s[*i] (strict: shortest form, no surrogates), or
 * 0xffffffff. */
static uint32_t ewl_utf8_next(const uint8_t *s, size_t len, size_t *i)
{
    static const uint32_t min[4] = {0, 0x80u, 0x800u, 0x10000u};
    uint32_t c = s[*i];
    size_t extra, k;
    if (c < 0x80u) {
        extra = 0;
    } else if ((c & 0xe0u) == 0xc0u) {
        extra = 1;
        c &= 0x1fu;
    } else if ((c & 0xf0u) == 0xe0u) {
        extra = 2;
        c &= 0x0fu;
    } else if ((c & 0xf8u) == 0xf0u) {
        extra = 3;
        c &= 0x07u;
    } else {
        return 0xffffffffu;
    }
    if (len - *i <= extra) {
        return 0xffffffffu;
    }
    for (k = 1; k <= extra; k++) {
        if ((s[*i + k] & 0xc0u) != 0x80u) {
            return 0xffffffffu;
        }
        c = c << 6 | (s[*i + k] & 0x3fu);
    }
    *i += extra + 1;
    return c < min[extra] ? 0xffffffffu : c;
}

/* The common name's content octets (of string tag `tag`) as UTF-16 code
 * units in out[0, *units), decoded as cryptography decodes each string type;
 * 0 (no name) for another type, an invalid encoding or a name too long to
 * keep. */
static int ewl_common_name_units(unsigned tag, const uint8_t *s, size_t len, uint16_t *out,
                                 size_t *units)
{
    size_t i = 0, n = 0;
    int ok = tag == EWL_TAG_UTF8_STRING || tag == EWL_TAG_PRINTABLE_STRING ||
             tag == EWL_TAG_IA5_STRING || tag == EWL_TAG_TELETEX_STRING ||
             tag == EWL_TAG_BMP_STRING || tag == EWL_TAG_UNIVERSAL_STRING;
    while (ok && i < len) {
        uint32_t c;
        if (tag == EWL_TAG_UTF8_STRING) {
            c = ewl_utf8_next(s, len, &i);
        } else if (tag == EWL_TAG_PRINTABLE_STRING || tag == EWL_TAG_IA5_STRING) {
            c = s[i] < 0x80u ? s[i] : 0xffffffffu;
            i++;
        } else if (tag == EWL_TAG_TELETEX_STRING) {
            c = s[i++]; /* as Latin-1 */
        } else if (tag == EWL_TAG_BMP_STRING && len - i >= 2) {
            c = (uint32_t)s[i] << 8 | s[i + 1];
            i += 2;
        } else if (tag == EWL_TAG_UNIVERSAL_STRING && len - i >= 4) {
            c = (uint32_t)s[i] << 24 | (uint32_t)s[i + 1] << 16 | (uint32_t)s[i + 2] << 8 |
                s[i + 3];
            i += 4;
        } else {
            c = 0xffffffffu;
        }
        ok = ewl_put_unit(c, out, &n);
    }
    *units = n;
    return ok;
}

/* The blob's TBS algorithm code of an EWL_HASH_* (0: none WDAC pins). */
static int ewl_tbs_code(int alg)
{
    switch (alg) {
    case EWL_HASH_SHA1:
        return EWL_TBS_SHA1;
    case EWL_HASH_SHA256:
        return EWL_TBS_SHA256;
    case EWL_HASH_SHA384:
        return EWL_TBS_SHA384;
    case EWL_HASH_SHA512:
        return EWL_TBS_SHA512;
    default:
        return 0;
    }
}

size_t ewl_table_verify(const uint8_t *table, size_t len, const ewl_sig_image_t *image,
                        const ewl_sig_crypto_t *crypto, ewl_table_work_t *work,
                        ewl_signer_facts_t *facts)
{
    size_t i, valid = 0;
    facts->signer_count = 0;
    ewl_table_walk(table, len, image, crypto, work);
    for (i = 0; i < work->count; i++) {
        const ewl_sig_result_t *r = &work->results[i];
        ewl_signer_t *signer;
        uint32_t j;
        size_t units;
        /* signatures._bind compares the image digest; a signature whose
         * digest was not computed is not valid for a decision. */
        if (r->status != EWL_SIG_VALID || r->digest_matches != 1 || r->chain_len == 0) {
            continue;
        }
        valid++;
        if (facts->signer_count == EWL_MAX_SIGNERS) {
            continue;
        }
        signer = &facts->signers[facts->signer_count];
        signer->chain_len = 0;
        for (j = 0; j < r->chain_len && j < EWL_MAX_CHAIN && ewl_tbs_code(r->tbs_alg[j]); j++) {
            signer->chain[j].algorithm = ewl_tbs_code(r->tbs_alg[j]);
            signer->chain[j].digest = r->tbs_hash[j];
            signer->chain_len++;
        }
        units = 0;
        signer->common_name = NULL;
        if (r->cn_tag != 0 &&
            ewl_common_name_units(r->cn_tag, table + work->entry_at[i] + r->cn.off, r->cn.len,
                                  work->names[facts->signer_count], &units)) {
            signer->common_name = work->names[facts->signer_count];
        }
        signer->common_name_len = units;
        facts->signer_count++;
    }
    return valid;
}
