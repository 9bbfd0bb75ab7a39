/* Authenticode signature parsing and verification: see ewl_signature.h.
 *
 * The checks, their order and their statuses are those of
 * src/exewhitelist/signatures.py (_verify, _bind, _check_signer,
 * _find_signer, _check_signature, _chain); the comments name the Python
 * function each part mirrors. Python decodes with asn1crypto (BER-tolerant,
 * lazy) and cryptography (strict DER); this reader is strict DER throughout,
 * so an input that is not DER is malformed here (docs/signatures.md §8 lists
 * where the two may differ). */
#include "ewl_signature.h"

#include "ewl_authenticode.h"
#include "ewl_endian.h"

/* Signature schemes of an AlgorithmIdentifier. */
#define EWL_SCHEME_NONE 0
#define EWL_SCHEME_RSA 1   /* <hash>WithRSAEncryption (PKCS #1 v1.5) */
#define EWL_SCHEME_ECDSA 2 /* ecdsa-with-<hash> */
#define EWL_SCHEME_DSA 3   /* dsa-with-<hash>: a TBS hash, never verified */
#define EWL_SCHEME_PSS 4   /* RSASSA-PSS: the hash is in the parameters */
#define EWL_SCHEME_RSA_ANY 5 /* rsaEncryption: PKCS #1 v1.5 with the signer's digest */

typedef struct ewl_oid_entry {
    uint8_t len;
    uint8_t oid[10];
    uint8_t hash;
    uint8_t scheme;
} ewl_oid_entry_t;

/* OIDs as their content octets (no tag, no length). */
static const uint8_t ewl_oid_signed_data[] = {0x2a, 0x86, 0x48, 0x86, 0xf7,
                                              0x0d, 0x01, 0x07, 0x02};
static const uint8_t ewl_oid_spc_indirect[] = {0x2b, 0x06, 0x01, 0x04, 0x01,
                                               0x82, 0x37, 0x02, 0x01, 0x04};
/* The DER of the contentType attribute's one value: the SPC_INDIRECT_DATA OID. */
static const uint8_t ewl_der_spc_indirect[] = {0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04,
                                               0x01, 0x82, 0x37, 0x02, 0x01, 0x04};
static const uint8_t ewl_oid_content_type[] = {0x2a, 0x86, 0x48, 0x86, 0xf7,
                                               0x0d, 0x01, 0x09, 0x03};
static const uint8_t ewl_oid_message_digest[] = {0x2a, 0x86, 0x48, 0x86, 0xf7,
                                                 0x0d, 0x01, 0x09, 0x04};
static const uint8_t ewl_oid_nested[] = {0x2b, 0x06, 0x01, 0x04, 0x01,
                                         0x82, 0x37, 0x02, 0x04, 0x01};
static const uint8_t ewl_oid_rsa[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
static const uint8_t ewl_oid_mgf1[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08};
static const uint8_t ewl_oid_ec_public_key[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
static const uint8_t ewl_oid_p256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t ewl_oid_p384[] = {0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t ewl_oid_p521[] = {0x2b, 0x81, 0x04, 0x00, 0x23};
static const uint8_t ewl_oid_common_name[] = {0x55, 0x04, 0x03};
static const uint8_t ewl_oid_subject_key_id[] = {0x55, 0x1d, 0x0e};

/* Digest algorithms (DigestInfo, SignerInfo.digestAlgorithm): asn1crypto's
 * names sha1, sha256, sha384, sha512 (signatures.DIGEST_ALGORITHMS). */
static const ewl_oid_entry_t ewl_digest_oids[] = {
    {5, {0x2b, 0x0e, 0x03, 0x02, 0x1a}, EWL_HASH_SHA1, 0},
    {9, {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01}, EWL_HASH_SHA256, 0},
    {9, {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02}, EWL_HASH_SHA384, 0},
    {9, {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03}, EWL_HASH_SHA512, 0},
};

/* Signature algorithms: the hash a certificate's TBS is hashed with
 * (signers.md §3, SHA-1/2 rows), and how the signature verifies. */
static const ewl_oid_entry_t ewl_signature_oids[] = {
    {9, {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05}, EWL_HASH_SHA1, EWL_SCHEME_RSA},
    {5, {0x2b, 0x0e, 0x03, 0x02, 0x1d}, EWL_HASH_SHA1, EWL_SCHEME_RSA},
    {7, {0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x03}, EWL_HASH_SHA1, EWL_SCHEME_DSA},
    {7, {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01}, EWL_HASH_SHA1, EWL_SCHEME_ECDSA},
    {9, {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b}, EWL_HASH_SHA256, EWL_SCHEME_RSA},
    {9, {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c}, EWL_HASH_SHA384, EWL_SCHEME_RSA},
    {9, {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d}, EWL_HASH_SHA512, EWL_SCHEME_RSA},
    {9, {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x02}, EWL_HASH_SHA256, EWL_SCHEME_DSA},
    {9, {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x03}, EWL_HASH_SHA384, EWL_SCHEME_DSA},
    {9, {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x04}, EWL_HASH_SHA512, EWL_SCHEME_DSA},
    {8, {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}, EWL_HASH_SHA256, EWL_SCHEME_ECDSA},
    {8, {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03}, EWL_HASH_SHA384, EWL_SCHEME_ECDSA},
    {8, {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04}, EWL_HASH_SHA512, EWL_SCHEME_ECDSA},
    {9, {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a}, EWL_HASH_NONE, EWL_SCHEME_PSS},
    {9, {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01}, EWL_HASH_NONE, EWL_SCHEME_RSA_ANY},
};

size_t ewl_hash_size(int alg)
{
    switch (alg) {
    case EWL_HASH_SHA1:
        return 20;
    case EWL_HASH_SHA256:
        return 32;
    case EWL_HASH_SHA384:
        return 48;
    case EWL_HASH_SHA512:
        return 64;
    default:
        return 0;
    }
}

const char *ewl_sig_status_name(int s)
{
    static const char *const names[EWL_SIG_STATUS_COUNT] = EWL_SIG_STATUS_NAMES;
    return s >= 0 && s < EWL_SIG_STATUS_COUNT ? names[s] : NULL;
}

static int ewl_is(const uint8_t *buf, ewl_der_view_t v, const uint8_t *lit, size_t n)
{
    return ewl_der_view_is(buf, v, lit, n);
}

/* The entry of table[0, n) whose OID is v, or NULL. */
static const ewl_oid_entry_t *ewl_find_oid(const ewl_oid_entry_t *table, size_t n,
                                           const uint8_t *buf, ewl_der_view_t v)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (ewl_is(buf, v, table[i].oid, table[i].len)) {
            return &table[i];
        }
    }
    return NULL;
}

static int ewl_digest_alg(const uint8_t *buf, ewl_der_view_t oid)
{
    const ewl_oid_entry_t *e = ewl_find_oid(
        ewl_digest_oids, sizeof ewl_digest_oids / sizeof ewl_digest_oids[0], buf, oid);
    return e != NULL ? e->hash : EWL_HASH_NONE;
}

/* The keeper of the first failed check (signatures._ORDER): the lowest
 * non-zero status wins. */
static void ewl_fail(int *status, int s)
{
    if (*status == EWL_SIG_VALID || s < *status) {
        *status = s;
    }
}

/* --- AlgorithmIdentifier --------------------------------------------------------------- */

/* An AlgorithmIdentifier SEQUENCE { OID, parameters ANY OPTIONAL }: the OID's
 * content and the parameters (len 0 when absent). */
static int ewl_read_alg(ewl_der_t *d, ewl_der_view_t *oid, ewl_der_tlv_t *params, int *has_params)
{
    ewl_der_tlv_t t, o;
    ewl_der_t in;
    if (ewl_der_expect(d, EWL_DER_SEQUENCE, &t) != EWL_DER_OK ||
        ewl_der_enter(d, &t, &in) != EWL_DER_OK ||
        ewl_der_expect(&in, EWL_DER_OID, &o) != EWL_DER_OK || o.len == 0) {
        return EWL_DER_ERROR;
    }
    *oid = ewl_der_content(&o);
    *has_params = 0;
    if (!ewl_der_at_end(&in)) {
        if (ewl_der_read(&in, params) != EWL_DER_OK || !ewl_der_at_end(&in)) {
            return EWL_DER_ERROR;
        }
        *has_params = 1;
    }
    return EWL_DER_OK;
}

/* A small non-negative INTEGER (PSS salt length, trailer field). */
static int ewl_small_uint(const uint8_t *buf, const ewl_der_tlv_t *t, unsigned *value)
{
    int negative;
    ewl_der_view_t m;
    size_t i;
    unsigned v = 0;
    if (ewl_der_integer(buf, t, &negative, &m) != EWL_DER_OK || negative || m.len > 2) {
        return EWL_DER_ERROR;
    }
    for (i = 0; i < m.len; i++) {
        v = (v << 8) | buf[m.off + i];
    }
    *value = v;
    return EWL_DER_OK;
}

/* RSASSA-PSS-params (RFC 4055): the hash (default SHA-1), MGF1's hash (default
 * SHA-1), the salt length (default 20), trailer 1. Unknown hashes give
 * EWL_HASH_NONE. */
static int ewl_pss_params(const uint8_t *buf, const ewl_der_t *outer, const ewl_der_tlv_t *p,
                          int has_params, int *hash, int *mgf_hash, unsigned *salt)
{
    ewl_der_t in;
    ewl_der_tlv_t t;
    unsigned tag;
    *hash = EWL_HASH_SHA1;
    *mgf_hash = EWL_HASH_SHA1;
    *salt = 20;
    if (!has_params || p->tag != EWL_DER_SEQUENCE || ewl_der_enter(outer, p, &in) != EWL_DER_OK) {
        return EWL_DER_ERROR;
    }
    if (ewl_der_peek(&in, &tag) == EWL_DER_OK && tag == EWL_DER_CONTEXT(0)) {
        ewl_der_t a;
        ewl_der_view_t oid;
        ewl_der_tlv_t ap;
        int has;
        if (ewl_der_read(&in, &t) != EWL_DER_OK || ewl_der_enter(&in, &t, &a) != EWL_DER_OK ||
            ewl_read_alg(&a, &oid, &ap, &has) != EWL_DER_OK || !ewl_der_at_end(&a)) {
            return EWL_DER_ERROR;
        }
        *hash = ewl_digest_alg(buf, oid);
    }
    if (ewl_der_peek(&in, &tag) == EWL_DER_OK && tag == EWL_DER_CONTEXT(1)) {
        /* MGF1 and its hash: read when well-formed (a certificate's, already
         * checked strictly by ewl_strict_pss); signatures.py never reads a
         * signer's (MGF1 takes the signer's digest), so a bad one is not an
         * error here. */
        ewl_der_t a, m;
        ewl_der_view_t oid, hoid;
        ewl_der_tlv_t ap, hp;
        int has, hhas;
        if (ewl_der_read(&in, &t) != EWL_DER_OK) {
            return EWL_DER_ERROR;
        }
        *mgf_hash = EWL_HASH_NONE;
        if (ewl_der_enter(&in, &t, &a) == EWL_DER_OK &&
            ewl_read_alg(&a, &oid, &ap, &has) == EWL_DER_OK && ewl_der_at_end(&a) &&
            ewl_is(buf, oid, ewl_oid_mgf1, sizeof ewl_oid_mgf1) && has) {
            ewl_der_init(&m, buf, ap.off, ap.hdr + ap.len);
            m.depth = a.depth;
            if (ewl_read_alg(&m, &hoid, &hp, &hhas) == EWL_DER_OK && ewl_der_at_end(&m)) {
                *mgf_hash = ewl_digest_alg(buf, hoid);
            }
        }
    }
    if (ewl_der_peek(&in, &tag) == EWL_DER_OK && tag == EWL_DER_CONTEXT(2)) {
        ewl_der_t a;
        ewl_der_tlv_t i;
        if (ewl_der_read(&in, &t) != EWL_DER_OK || ewl_der_enter(&in, &t, &a) != EWL_DER_OK ||
            ewl_der_read(&a, &i) != EWL_DER_OK || !ewl_der_at_end(&a) ||
            ewl_small_uint(buf, &i, salt) != EWL_DER_OK) {
            return EWL_DER_ERROR;
        }
    }
    if (ewl_der_peek(&in, &tag) == EWL_DER_OK && tag == EWL_DER_CONTEXT(3)) {
        /* trailerField: not read (a certificate's is checked by ewl_strict_pss) */
        if (ewl_der_read(&in, &t) != EWL_DER_OK) {
            return EWL_DER_ERROR;
        }
    }
    return ewl_der_at_end(&in) ? EWL_DER_OK : EWL_DER_ERROR;
}

/* A signature AlgorithmIdentifier (content view of its SEQUENCE, read again
 * here): the scheme and its hash (EWL_HASH_NONE: not one we hash with); for
 * PSS, MGF1's hash and the salt length. */
typedef struct ewl_scheme {
    int scheme;
    int hash;
    int mgf_hash;
    unsigned salt;
} ewl_scheme_t;

static int ewl_signature_scheme(const uint8_t *buf, ewl_der_view_t alg, ewl_scheme_t *s)
{
    ewl_der_t d;
    ewl_der_view_t oid;
    ewl_der_tlv_t params;
    int has_params;
    const ewl_oid_entry_t *e;
    ewl_der_init(&d, buf, alg.off, alg.len);
    s->scheme = EWL_SCHEME_NONE;
    s->hash = EWL_HASH_NONE;
    s->mgf_hash = EWL_HASH_NONE;
    s->salt = 0;
    if (ewl_read_alg(&d, &oid, &params, &has_params) != EWL_DER_OK) {
        return EWL_DER_ERROR;
    }
    e = ewl_find_oid(ewl_signature_oids, sizeof ewl_signature_oids / sizeof ewl_signature_oids[0],
                     buf, oid);
    if (e == NULL) {
        return EWL_DER_OK;
    }
    s->scheme = e->scheme;
    s->hash = e->hash;
    if (e->scheme == EWL_SCHEME_PSS &&
        ewl_pss_params(buf, &d, &params, has_params, &s->hash, &s->mgf_hash, &s->salt) !=
            EWL_DER_OK) {
        s->scheme = EWL_SCHEME_NONE;
        s->hash = EWL_HASH_NONE;
    }
    return EWL_DER_OK;
}

/* --- certificates ---------------------------------------------------------------------- */

/* AlgorithmIdentifier parameters as cryptography's certificate parser takes
 * them (it refuses a certificate whose algorithm parameters do not fit the
 * OID; signatures.py then says malformed). Measured with cryptography 50 on
 * tbsCertificate.signature; the same parser reads signatureAlgorithm and the
 * SubjectPublicKeyInfo's algorithm. */
#define EWL_PARAMS_ANY 0      /* unknown OIDs, md2/md5, ecdsa-with-SHA1, dsa-with-SHA1 */
#define EWL_PARAMS_NULLABLE 1 /* absent or NULL: <hash>WithRSA, rsaEncryption, hashes */
#define EWL_PARAMS_ABSENT 2   /* absent: ecdsa-with-SHA2/3, dsa-with-SHA2, EdDSA, X25519/448 */
#define EWL_PARAMS_PSS 3      /* absent, or RSASSA-PSS-params without explicit defaults */
#define EWL_PARAMS_EC 4       /* id-ecPublicKey: a named curve OID, NULL or a SEQUENCE */
#define EWL_PARAMS_DSA 5      /* id-dsa, DH: a parameters SEQUENCE */

static const ewl_oid_entry_t ewl_param_rules[] = {
    {9, {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01}, 0, EWL_PARAMS_NULLABLE},
    {9, {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05}, 0, EWL_PARAMS_NULLABLE},
    {9, {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b}, 0, EWL_PARAMS_NULLABLE},
    {9, {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c}, 0, EWL_PARAMS_NULLABLE},
    {9, {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d}, 0, EWL_PARAMS_NULLABLE},
    {9, {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0e}, 0, EWL_PARAMS_NULLABLE},
    {5, {0x2b, 0x0e, 0x03, 0x02, 0x1d}, 0, EWL_PARAMS_NULLABLE},
    {9, {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x0d}, 0, EWL_PARAMS_NULLABLE},
    {9, {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x0e}, 0, EWL_PARAMS_NULLABLE},
    {9, {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x0f}, 0, EWL_PARAMS_NULLABLE},
    {9, {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x10}, 0, EWL_PARAMS_NULLABLE},
    {5, {0x2b, 0x0e, 0x03, 0x02, 0x1a}, 0, EWL_PARAMS_NULLABLE},
    {9, {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01}, 0, EWL_PARAMS_NULLABLE},
    {9, {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02}, 0, EWL_PARAMS_NULLABLE},
    {9, {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03}, 0, EWL_PARAMS_NULLABLE},
    {9, {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04}, 0, EWL_PARAMS_NULLABLE},
    {8, {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x01}, 0, EWL_PARAMS_ABSENT},
    {8, {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}, 0, EWL_PARAMS_ABSENT},
    {8, {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03}, 0, EWL_PARAMS_ABSENT},
    {8, {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04}, 0, EWL_PARAMS_ABSENT},
    {9, {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x01}, 0, EWL_PARAMS_ABSENT},
    {9, {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x02}, 0, EWL_PARAMS_ABSENT},
    {9, {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x03}, 0, EWL_PARAMS_ABSENT},
    {9, {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x04}, 0, EWL_PARAMS_ABSENT},
    {9, {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x09}, 0, EWL_PARAMS_ABSENT},
    {9, {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x0a}, 0, EWL_PARAMS_ABSENT},
    {9, {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x0b}, 0, EWL_PARAMS_ABSENT},
    {9, {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x0c}, 0, EWL_PARAMS_ABSENT},
    {3, {0x2b, 0x65, 0x6e}, 0, EWL_PARAMS_ABSENT},
    {3, {0x2b, 0x65, 0x6f}, 0, EWL_PARAMS_ABSENT},
    {3, {0x2b, 0x65, 0x70}, 0, EWL_PARAMS_ABSENT},
    {3, {0x2b, 0x65, 0x71}, 0, EWL_PARAMS_ABSENT},
    {9, {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a}, 0, EWL_PARAMS_PSS},
    {7, {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01}, 0, EWL_PARAMS_EC},
    {7, {0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01}, 0, EWL_PARAMS_DSA},
    {7, {0x2a, 0x86, 0x48, 0xce, 0x3e, 0x02, 0x01}, 0, EWL_PARAMS_DSA}, /* dhpublicnumber */
    {9, {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x03, 0x01}, 0, EWL_PARAMS_DSA}, /* dhKeyAgreement */
    {9, {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c}, 0, EWL_PARAMS_DSA}, /* PBKDF2 */
    {9, {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d}, 0, EWL_PARAMS_DSA}, /* PBES2 */
};

static int ewl_param_rule(const uint8_t *buf, ewl_der_view_t oid)
{
    const ewl_oid_entry_t *e = ewl_find_oid(
        ewl_param_rules, sizeof ewl_param_rules / sizeof ewl_param_rules[0], buf, oid);
    return e != NULL ? e->scheme : EWL_PARAMS_ANY;
}

/* A hash AlgorithmIdentifier inside RSASSA-PSS-params: SEQUENCE { OID,
 * NULL OPTIONAL } with a hash OID; *hash (EWL_HASH_NONE: another hash). */
static int ewl_strict_hash_alg(const uint8_t *buf, ewl_der_t *d, int *hash)
{
    ewl_der_view_t oid;
    ewl_der_tlv_t p;
    int has;
    if (ewl_read_alg(d, &oid, &p, &has) != EWL_DER_OK || !ewl_der_at_end(d) ||
        ewl_param_rule(buf, oid) != EWL_PARAMS_NULLABLE ||
        (has && (p.tag != EWL_DER_NULL || p.len != 0))) {
        return EWL_DER_ERROR;
    }
    *hash = ewl_digest_alg(buf, oid);
    return EWL_DER_OK;
}

/* RSASSA-PSS-params as a certificate parser in DER takes them: fields in
 * order, a default value never written out (SHA-1, MGF1 with SHA-1, salt
 * 20), MGF1 only. */
static int ewl_strict_pss(const uint8_t *buf, const ewl_der_t *outer,
                                       const ewl_der_tlv_t *p)
{
    ewl_der_t in, a;
    ewl_der_tlv_t t, i;
    unsigned tag, value;
    int hash;
    if (p->tag != EWL_DER_SEQUENCE || ewl_der_enter(outer, p, &in) != EWL_DER_OK) {
        return EWL_DER_ERROR;
    }
    if (ewl_der_peek(&in, &tag) == EWL_DER_OK && tag == EWL_DER_CONTEXT(0)) {
        if (ewl_der_read(&in, &t) != EWL_DER_OK || ewl_der_enter(&in, &t, &a) != EWL_DER_OK ||
            ewl_strict_hash_alg(buf, &a, &hash) != EWL_DER_OK || hash == EWL_HASH_SHA1) {
            return EWL_DER_ERROR;
        }
    }
    if (ewl_der_peek(&in, &tag) == EWL_DER_OK && tag == EWL_DER_CONTEXT(1)) {
        ewl_der_view_t oid;
        ewl_der_tlv_t mp;
        int has;
        ewl_der_t h;
        if (ewl_der_read(&in, &t) != EWL_DER_OK || ewl_der_enter(&in, &t, &a) != EWL_DER_OK ||
            ewl_read_alg(&a, &oid, &mp, &has) != EWL_DER_OK || !ewl_der_at_end(&a) || !has ||
            !ewl_is(buf, oid, ewl_oid_mgf1, sizeof ewl_oid_mgf1)) {
            return EWL_DER_ERROR;
        }
        ewl_der_init(&h, buf, mp.off, mp.hdr + mp.len);
        h.depth = a.depth;
        if (ewl_strict_hash_alg(buf, &h, &hash) != EWL_DER_OK || hash == EWL_HASH_SHA1) {
            return EWL_DER_ERROR;
        }
    }
    if (ewl_der_peek(&in, &tag) == EWL_DER_OK && tag == EWL_DER_CONTEXT(2)) {
        if (ewl_der_read(&in, &t) != EWL_DER_OK || ewl_der_enter(&in, &t, &a) != EWL_DER_OK ||
            ewl_der_read(&a, &i) != EWL_DER_OK || !ewl_der_at_end(&a) ||
            ewl_small_uint(buf, &i, &value) != EWL_DER_OK || value == 20) {
            return EWL_DER_ERROR;
        }
    }
    if (ewl_der_peek(&in, &tag) == EWL_DER_OK && tag == EWL_DER_CONTEXT(3)) {
        if (ewl_der_read(&in, &t) != EWL_DER_OK || ewl_der_enter(&in, &t, &a) != EWL_DER_OK ||
            ewl_der_read(&a, &i) != EWL_DER_OK || !ewl_der_at_end(&a) ||
            ewl_small_uint(buf, &i, &value) != EWL_DER_OK) {
            return EWL_DER_ERROR;
        }
    }
    return ewl_der_at_end(&in) ? EWL_DER_OK : EWL_DER_ERROR;
}

/* --- Certificate fields as cryptography's parser (rust-asn1) takes them ---------------- */

/* An OBJECT IDENTIFIER's content: 1 to 63 octets, each arc minimal (no
 * leading 0x80 octet), the last octet ending an arc, no arc over 128 bits.
 * Measured with cryptography 50: a certificate with any other OID does not
 * load (signatures.py: malformed). */
static int ewl_strict_oid(const uint8_t *buf, ewl_der_view_t v)
{
    size_t i;
    unsigned bits = 0;
    int start = 1;
    if (v.len == 0 || v.len > 63u) {
        return 0;
    }
    for (i = 0; i < v.len; i++) {
        unsigned b = buf[v.off + i];
        if (start) {
            unsigned x = b & 0x7fu;
            if (b == 0x80u) {
                return 0;
            }
            bits = 0;
            while (x != 0 && bits < 7u) {
                bits++;
                x >>= 1;
            }
        } else {
            if (bits > 121u) {
                return 0;
            }
            bits += 7u;
        }
        start = (b & 0x80u) == 0;
    }
    return start;
}

/* n decimal digits at p: their value, or -1. */
static long ewl_digits(const uint8_t *p, size_t n)
{
    long v = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }
        v = v * 10 + (long)(p[i] - '0');
    }
    return v;
}

/* A UTCTime (YYMMDDHHMMSSZ, 1950-2049) or GeneralizedTime (YYYYMMDDHHMMSSZ,
 * no fraction) as RFC 5280 and rust-asn1 require: digits, a real date (leap
 * years counted), hours < 24, minutes and seconds < 60. */
static int ewl_strict_time(const uint8_t *buf, const ewl_der_tlv_t *t)
{
    const uint8_t *p = buf + t->off + t->hdr;
    size_t y = t->tag == EWL_DER_UTC_TIME ? 2u : 4u;
    long year, month, day, last;
    if ((t->tag != EWL_DER_UTC_TIME && t->tag != EWL_DER_GENERALIZED_TIME) ||
        t->len != y + 11u || p[t->len - 1] != 'Z') {
        return 0;
    }
    year = ewl_digits(p, y);
    month = ewl_digits(p + y, 2);
    day = ewl_digits(p + y + 2, 2);
    if (year < 0 || month < 1 || month > 12 || day < 1 || ewl_digits(p + y + 4, 2) < 0 ||
        ewl_digits(p + y + 4, 2) > 23 || ewl_digits(p + y + 6, 2) < 0 ||
        ewl_digits(p + y + 6, 2) > 59 || ewl_digits(p + y + 8, 2) < 0 ||
        ewl_digits(p + y + 8, 2) > 59) {
        return 0;
    }
    if (y == 2) {
        year += year < 50 ? 2000 : 1900;
    }
    if (month == 2) {
        last = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28;
    } else if (month == 4 || month == 6 || month == 9 || month == 11) {
        last = 30;
    } else {
        last = 31;
    }
    return day <= last;
}

/* Whether the n octets at p are UTF-8 (Rust's str::from_utf8: no overlong
 * forms, no surrogates, nothing past U+10FFFF). */
static int ewl_utf8(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned b = p[i];
        size_t more, k;
        unsigned lo = 0x80u, hi = 0xbfu;
        if (b < 0x80u) {
            i++;
            continue;
        }
        if (b >= 0xc2u && b <= 0xdfu) {
            more = 1;
        } else if (b >= 0xe0u && b <= 0xefu) {
            more = 2;
            lo = b == 0xe0u ? 0xa0u : 0x80u;
            hi = b == 0xedu ? 0x9fu : 0xbfu;
        } else if (b >= 0xf0u && b <= 0xf4u) {
            more = 3;
            lo = b == 0xf0u ? 0x90u : 0x80u;
            hi = b == 0xf4u ? 0x8fu : 0xbfu;
        } else {
            return 0;
        }
        if (n - i - 1 < more || p[i + 1] < lo || p[i + 1] > hi) {
            return 0;
        }
        for (k = 2; k <= more; k++) {
            if ((p[i + k] & 0xc0u) != 0x80u) {
                return 0;
            }
        }
        i += more + 1;
    }
    return 1;
}

/* An attribute value of a Name as cryptography builds x509.NameAttribute from
 * it (measured with cryptography 50): one of the string types it names, with
 * content it can decode. PrintableString, NumericString and IA5String keep to
 * their character sets; BMPString is UTF-16, UniversalString UTF-32 (no
 * surrogates); every other type must be UTF-8. BIT STRING
 * (x500UniqueIdentifier only) is refused: never seen in a code-signing
 * chain. */
static int ewl_strict_string(const uint8_t *buf, const ewl_der_tlv_t *v)
{
    const uint8_t *p = buf + v->off + v->hdr;
    size_t n = v->len, i;
    switch (v->tag) {
    case 0x13u: /* PrintableString */
        for (i = 0; i < n; i++) {
            unsigned c = p[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == ' ' || c == '\'' || c == '(' || c == ')' || c == '+' || c == ',' ||
                  c == '-' || c == '.' || c == '/' || c == ':' || c == '=' || c == '?')) {
                return 0;
            }
        }
        return 1;
    case 0x12u: /* NumericString */
        for (i = 0; i < n; i++) {
            if (p[i] != ' ' && (p[i] < '0' || p[i] > '9')) {
                return 0;
            }
        }
        return 1;
    case 0x16u: /* IA5String */
        for (i = 0; i < n; i++) {
            if (p[i] >= 0x80u) {
                return 0;
            }
        }
        return 1;
    case 0x1eu: /* BMPString: UTF-16BE, surrogates in pairs */
        if (n % 2 != 0) {
            return 0;
        }
        for (i = 0; i < n; i += 2) {
            unsigned u = ((unsigned)p[i] << 8) | p[i + 1];
            if (u >= 0xdc00u && u <= 0xdfffu) {
                return 0;
            }
            if (u >= 0xd800u && u <= 0xdbffu) {
                unsigned w;
                if (n - i < 4) {
                    return 0;
                }
                w = ((unsigned)p[i + 2] << 8) | p[i + 3];
                if (w < 0xdc00u || w > 0xdfffu) {
                    return 0;
                }
                i += 2;
            }
        }
        return 1;
    case 0x1cu: /* UniversalString: UTF-32BE */
        if (n % 4 != 0) {
            return 0;
        }
        for (i = 0; i < n; i += 4) {
            uint32_t u = ((uint32_t)p[i] << 24) | ((uint32_t)p[i + 1] << 16) |
                         ((uint32_t)p[i + 2] << 8) | p[i + 3];
            if (u > 0x10ffffu || (u >= 0xd800u && u <= 0xdfffu)) {
                return 0;
            }
        }
        return 1;
    case 0x04u: /* OctetString */
    case 0x0cu: /* UTF8String */
    case 0x14u: /* T61String */
    case 0x17u: /* UTCTime */
    case 0x18u: /* GeneralizedTime */
    case 0x1au: /* VisibleString */
        return ewl_utf8(p, n);
    default:
        return 0;
    }
}

/* Explicit EC parameters (SpecifiedECDomain): its version INTEGER first,
 * then DER elements (cryptography reads them; they are not checked deeper
 * here: such keys are unsupported anyway). */
static int ewl_specified_curve(const ewl_der_t *outer, const ewl_der_tlv_t *p)
{
    ewl_der_t in;
    ewl_der_tlv_t t;
    int r;
    if (ewl_der_enter(outer, p, &in) != EWL_DER_OK ||
        ewl_der_expect(&in, EWL_DER_INTEGER, &t) != EWL_DER_OK) {
        return 0;
    }
    while ((r = ewl_der_read(&in, &t)) == EWL_DER_OK) {
    }
    return r == EWL_DER_END;
}

/* An AlgorithmIdentifier of a certificate, read from d and checked. */
static int ewl_cert_alg(const uint8_t *buf, ewl_der_t *d)
{
    ewl_der_view_t oid;
    ewl_der_tlv_t p;
    int has;
    ewl_der_t a = *d;
    if (ewl_read_alg(d, &oid, &p, &has) != EWL_DER_OK || !ewl_strict_oid(buf, oid)) {
        return EWL_DER_ERROR;
    }
    {
        /* The reader the parameters were read with, for ewl_strict_pss. */
        ewl_der_tlv_t seq;
        if (ewl_der_read(&a, &seq) != EWL_DER_OK || ewl_der_enter(&a, &seq, &a) != EWL_DER_OK) {
            return EWL_DER_ERROR;
        }
    }
    switch (ewl_param_rule(buf, oid)) {
    case EWL_PARAMS_NULLABLE:
        return !has || (p.tag == EWL_DER_NULL && p.len == 0) ? EWL_DER_OK : EWL_DER_ERROR;
    case EWL_PARAMS_ABSENT:
        return has ? EWL_DER_ERROR : EWL_DER_OK;
    case EWL_PARAMS_PSS:
        return !has || ewl_strict_pss(buf, &a, &p) == EWL_DER_OK ? EWL_DER_OK : EWL_DER_ERROR;
    case EWL_PARAMS_EC:
        return has && ((p.tag == EWL_DER_OID && ewl_strict_oid(buf, ewl_der_content(&p))) ||
                       (p.tag == EWL_DER_NULL && p.len == 0) ||
                       (p.tag == EWL_DER_SEQUENCE && ewl_specified_curve(&a, &p)))
                   ? EWL_DER_OK
                   : EWL_DER_ERROR;
    case EWL_PARAMS_DSA:
        return has && p.tag == EWL_DER_SEQUENCE ? EWL_DER_OK : EWL_DER_ERROR;
    default:
        return EWL_DER_OK;
    }
}



/* A Name: SEQUENCE OF SET OF SEQUENCE { OID, value } (each SET non-empty),
 * its OIDs and values as cryptography takes them. */
static int ewl_check_name(const ewl_der_t *d, const ewl_der_tlv_t *name)
{
    ewl_der_t rdns;
    ewl_der_tlv_t rdn;
    int r;
    if (name->tag != EWL_DER_SEQUENCE || ewl_der_enter(d, name, &rdns) != EWL_DER_OK) {
        return EWL_DER_ERROR;
    }
    while ((r = ewl_der_read(&rdns, &rdn)) == EWL_DER_OK) {
        ewl_der_t atvs;
        ewl_der_tlv_t atv;
        int any = 0;
        if (rdn.tag != EWL_DER_SET || ewl_der_enter(&rdns, &rdn, &atvs) != EWL_DER_OK) {
            return EWL_DER_ERROR;
        }
        while ((r = ewl_der_read(&atvs, &atv)) == EWL_DER_OK) {
            ewl_der_t in;
            ewl_der_tlv_t oid, value;
            if (atv.tag != EWL_DER_SEQUENCE || ewl_der_enter(&atvs, &atv, &in) != EWL_DER_OK ||
                ewl_der_expect(&in, EWL_DER_OID, &oid) != EWL_DER_OK ||
                !ewl_strict_oid(d->buf, ewl_der_content(&oid)) ||
                ewl_der_read(&in, &value) != EWL_DER_OK || !ewl_der_at_end(&in) ||
                !ewl_strict_string(d->buf, &value)) {
                return EWL_DER_ERROR;
            }
            any = 1;
        }
        if (r != EWL_DER_END || !any) {
            return EWL_DER_ERROR;
        }
    }
    return r == EWL_DER_END ? EWL_DER_OK : EWL_DER_ERROR;
}

/* Extensions: SEQUENCE OF SEQUENCE { OID, BOOLEAN DEFAULT FALSE, OCTET
 * STRING }; *ski the subjectKeyIdentifier's key id (len 0: none). */
static int ewl_check_extensions(const uint8_t *buf, const ewl_der_t *d, const ewl_der_tlv_t *t,
                                ewl_der_view_t *ski)
{
    ewl_der_t wrap, exts;
    ewl_der_tlv_t seq, ext;
    int r;
    if (ewl_der_enter(d, t, &wrap) != EWL_DER_OK ||
        ewl_der_expect(&wrap, EWL_DER_SEQUENCE, &seq) != EWL_DER_OK || !ewl_der_at_end(&wrap) ||
        ewl_der_enter(&wrap, &seq, &exts) != EWL_DER_OK || seq.len == 0) {
        return EWL_DER_ERROR;
    }
    while ((r = ewl_der_read(&exts, &ext)) == EWL_DER_OK) {
        ewl_der_t in;
        ewl_der_tlv_t oid, f;
        unsigned tag;
        if (ext.tag != EWL_DER_SEQUENCE || ewl_der_enter(&exts, &ext, &in) != EWL_DER_OK ||
            ewl_der_expect(&in, EWL_DER_OID, &oid) != EWL_DER_OK ||
            !ewl_strict_oid(buf, ewl_der_content(&oid))) {
            return EWL_DER_ERROR;
        }
        if (ewl_der_peek(&in, &tag) == EWL_DER_OK && tag == EWL_DER_BOOLEAN) {
            if (ewl_der_read(&in, &f) != EWL_DER_OK || f.len != 1 ||
                buf[f.off + f.hdr] != 0xffu) {
                return EWL_DER_ERROR; /* FALSE is the default: DER leaves it out */
            }
        }
        if (ewl_der_expect(&in, EWL_DER_OCTET_STRING, &f) != EWL_DER_OK || !ewl_der_at_end(&in)) {
            return EWL_DER_ERROR;
        }
        if (ewl_is(buf, ewl_der_content(&oid), ewl_oid_subject_key_id,
                   sizeof ewl_oid_subject_key_id)) {
            ewl_der_t v;
            ewl_der_tlv_t k;
            ewl_der_init(&v, buf, f.off + f.hdr, f.len);
            v.depth = in.depth;
            if (ewl_der_expect(&v, EWL_DER_OCTET_STRING, &k) == EWL_DER_OK && ewl_der_at_end(&v)) {
                *ski = ewl_der_content(&k);
            }
        }
    }
    return r == EWL_DER_END ? EWL_DER_OK : EWL_DER_ERROR;
}

/* One certificate, parsed on its own: cert is the whole element's view. */
int ewl_sig_parse_cert(const uint8_t *buf, ewl_der_view_t cert, ewl_sig_cert_t *c)
{
    ewl_der_t top, in, tbs;
    ewl_der_tlv_t t, tb, f, alg, sig;
    ewl_der_view_t bits;
    unsigned unused, tag;
    int negative;
    ewl_der_init(&top, buf, cert.off, cert.len);
    c->ski.off = 0;
    c->ski.len = 0;
    if (ewl_der_expect(&top, EWL_DER_SEQUENCE, &t) != EWL_DER_OK || !ewl_der_at_end(&top) ||
        ewl_der_enter(&top, &t, &in) != EWL_DER_OK ||
        ewl_der_expect(&in, EWL_DER_SEQUENCE, &tb) != EWL_DER_OK ||
        ewl_der_expect(&in, EWL_DER_SEQUENCE, &alg) != EWL_DER_OK ||
        ewl_der_expect(&in, EWL_DER_BIT_STRING, &sig) != EWL_DER_OK || !ewl_der_at_end(&in) ||
        ewl_der_bit_string(buf, &sig, &bits, &unused) != EWL_DER_OK) {
        return EWL_DER_ERROR;
    }
    /* Any count of unused bits: cryptography verifies the octets as they are. */
    c->der = cert;
    c->tbs = ewl_der_whole(&tb);
    c->sig_alg = ewl_der_whole(&alg);
    c->signature = bits;
    {
        ewl_der_t a;
        ewl_der_init(&a, buf, alg.off, alg.hdr + alg.len);
        a.depth = in.depth;
        if (ewl_cert_alg(buf, &a) != EWL_DER_OK) {
            return EWL_DER_ERROR;
        }
    }
    if (ewl_der_enter(&in, &tb, &tbs) != EWL_DER_OK) {
        return EWL_DER_ERROR;
    }
    /* version [0] EXPLICIT INTEGER DEFAULT v1: present only as v3 (2). */
    if (ewl_der_peek(&tbs, &tag) == EWL_DER_OK && tag == EWL_DER_CONTEXT(0)) {
        ewl_der_t v;
        ewl_der_tlv_t i;
        if (ewl_der_read(&tbs, &f) != EWL_DER_OK || ewl_der_enter(&tbs, &f, &v) != EWL_DER_OK ||
            ewl_der_expect(&v, EWL_DER_INTEGER, &i) != EWL_DER_OK || !ewl_der_at_end(&v) ||
            i.len != 1 || buf[i.off + i.hdr] != 2) {
            return EWL_DER_ERROR;
        }
    }
    if (ewl_der_expect(&tbs, EWL_DER_INTEGER, &f) != EWL_DER_OK ||
        ewl_der_integer(buf, &f, &negative, &bits) != EWL_DER_OK) {
        return EWL_DER_ERROR;
    }
    c->serial = ewl_der_content(&f);
    c->serial_negative = negative;
    if (ewl_cert_alg(buf, &tbs) != EWL_DER_OK) {
        return EWL_DER_ERROR;
    }
    if (ewl_der_read(&tbs, &f) != EWL_DER_OK || ewl_check_name(&tbs, &f) != EWL_DER_OK) {
        return EWL_DER_ERROR;
    }
    c->issuer = ewl_der_whole(&f);
    {
        ewl_der_t v;
        ewl_der_tlv_t a, b;
        if (ewl_der_expect(&tbs, EWL_DER_SEQUENCE, &f) != EWL_DER_OK ||
            ewl_der_enter(&tbs, &f, &v) != EWL_DER_OK || ewl_der_read(&v, &a) != EWL_DER_OK ||
            ewl_der_read(&v, &b) != EWL_DER_OK || !ewl_der_at_end(&v) ||
            !ewl_strict_time(buf, &a) || !ewl_strict_time(buf, &b)) {
            return EWL_DER_ERROR;
        }
    }
    if (ewl_der_read(&tbs, &f) != EWL_DER_OK || ewl_check_name(&tbs, &f) != EWL_DER_OK) {
        return EWL_DER_ERROR;
    }
    c->subject = ewl_der_whole(&f);
    {
        ewl_der_t v;
        ewl_der_view_t key;
        ewl_der_tlv_t b;
        if (ewl_der_expect(&tbs, EWL_DER_SEQUENCE, &f) != EWL_DER_OK ||
            ewl_der_enter(&tbs, &f, &v) != EWL_DER_OK || ewl_cert_alg(buf, &v) != EWL_DER_OK ||
            ewl_der_expect(&v, EWL_DER_BIT_STRING, &b) != EWL_DER_OK || !ewl_der_at_end(&v) ||
            ewl_der_bit_string(buf, &b, &key, &unused) != EWL_DER_OK) {
            return EWL_DER_ERROR;
        }
        c->spki = ewl_der_whole(&f);
    }
    /* issuerUniqueID [1] and subjectUniqueID [2] IMPLICIT BIT STRING. */
    for (tag = 1; tag <= 2; tag++) {
        unsigned next;
        if (ewl_der_peek(&tbs, &next) == EWL_DER_OK && next == EWL_DER_CONTEXT_PRIMITIVE(tag)) {
            ewl_der_tlv_t b;
            if (ewl_der_read(&tbs, &f) != EWL_DER_OK) {
                return EWL_DER_ERROR;
            }
            b = f;
            b.tag = EWL_DER_BIT_STRING;
            if (ewl_der_bit_string(buf, &b, &bits, &unused) != EWL_DER_OK) {
                return EWL_DER_ERROR;
            }
        }
    }
    if (ewl_der_peek(&tbs, &tag) == EWL_DER_OK && tag == EWL_DER_CONTEXT(3)) {
        if (ewl_der_read(&tbs, &f) != EWL_DER_OK ||
            ewl_check_extensions(buf, &tbs, &f, &c->ski) != EWL_DER_OK) {
            return EWL_DER_ERROR;
        }
    }
    return ewl_der_at_end(&tbs) ? EWL_DER_OK : EWL_DER_ERROR;
}

/* The certificate's subject public key for the verify callback:
 * EWL_VERIFY_OK, or EWL_VERIFY_UNSUPPORTED (not RSA or a named NIST curve
 * with an uncompressed point, or not decodable). */
static int ewl_public_key(const uint8_t *buf, const ewl_sig_cert_t *c, ewl_sig_key_t *k)
{
    ewl_der_t d, v;
    ewl_der_view_t oid, bits;
    ewl_der_tlv_t params, t, b;
    int has;
    unsigned unused;
    ewl_der_init(&d, buf, c->spki.off, c->spki.len);
    k->type = 0;
    if (ewl_der_expect(&d, EWL_DER_SEQUENCE, &t) != EWL_DER_OK ||
        ewl_der_enter(&d, &t, &v) != EWL_DER_OK ||
        ewl_read_alg(&v, &oid, &params, &has) != EWL_DER_OK ||
        ewl_der_expect(&v, EWL_DER_BIT_STRING, &b) != EWL_DER_OK ||
        ewl_der_bit_string(buf, &b, &bits, &unused) != EWL_DER_OK || unused != 0) {
        return EWL_VERIFY_UNSUPPORTED;
    }
    if (ewl_is(buf, oid, ewl_oid_rsa, sizeof ewl_oid_rsa)) {
        ewl_der_t r, in;
        ewl_der_tlv_t seq, n, e;
        ewl_der_view_t nm, em;
        int nneg, eneg;
        if (has && (params.tag != EWL_DER_NULL || params.len != 0)) {
            return EWL_VERIFY_UNSUPPORTED;
        }
        ewl_der_init(&r, buf, bits.off, bits.len);
        r.depth = v.depth;
        if (ewl_der_expect(&r, EWL_DER_SEQUENCE, &seq) != EWL_DER_OK || !ewl_der_at_end(&r) ||
            ewl_der_enter(&r, &seq, &in) != EWL_DER_OK ||
            ewl_der_expect(&in, EWL_DER_INTEGER, &n) != EWL_DER_OK ||
            ewl_der_expect(&in, EWL_DER_INTEGER, &e) != EWL_DER_OK || !ewl_der_at_end(&in) ||
            ewl_der_integer(buf, &n, &nneg, &nm) != EWL_DER_OK ||
            ewl_der_integer(buf, &e, &eneg, &em) != EWL_DER_OK || nneg || eneg ||
            nm.len > EWL_SIG_MAX_RSA_BYTES || em.len > EWL_SIG_MAX_RSA_BYTES ||
            buf[nm.off] == 0 || buf[em.off] == 0) {
            return EWL_VERIFY_UNSUPPORTED;
        }
        /* cryptography loads no key with an even e, or e < 3, or e >= n. */
        if ((buf[em.off + em.len - 1] & 1u) == 0 || (em.len == 1 && buf[em.off] < 3u) ||
            em.len > nm.len) {
            return EWL_VERIFY_UNSUPPORTED;
        }
        if (em.len == nm.len) {
            size_t j = 0;
            while (j < nm.len && buf[em.off + j] == buf[nm.off + j]) {
                j++;
            }
            if (j == nm.len || buf[em.off + j] > buf[nm.off + j]) {
                return EWL_VERIFY_UNSUPPORTED;
            }
        }
        k->type = EWL_KEY_RSA;
        k->modulus = buf + nm.off;
        k->modulus_len = nm.len;
        k->exponent = buf + em.off;
        k->exponent_len = em.len;
        return EWL_VERIFY_OK;
    }
    if (ewl_is(buf, oid, ewl_oid_ec_public_key, sizeof ewl_oid_ec_public_key)) {
        ewl_der_view_t curve;
        size_t size;
        if (!has || params.tag != EWL_DER_OID) {
            return EWL_VERIFY_UNSUPPORTED; /* explicit parameters */
        }
        curve = ewl_der_content(&params);
        if (ewl_is(buf, curve, ewl_oid_p256, sizeof ewl_oid_p256)) {
            k->curve = EWL_CURVE_P256;
            size = 32;
        } else if (ewl_is(buf, curve, ewl_oid_p384, sizeof ewl_oid_p384)) {
            k->curve = EWL_CURVE_P384;
            size = 48;
        } else if (ewl_is(buf, curve, ewl_oid_p521, sizeof ewl_oid_p521)) {
            k->curve = EWL_CURVE_P521;
            size = 66;
        } else {
            return EWL_VERIFY_UNSUPPORTED;
        }
        if (bits.len != 1 + 2 * size || buf[bits.off] != 0x04u) {
            return EWL_VERIFY_UNSUPPORTED; /* compressed or hybrid points */
        }
        k->type = EWL_KEY_EC;
        k->x = buf + bits.off + 1;
        k->y = buf + bits.off + 1 + size;
        k->coordinate_len = size;
        return EWL_VERIFY_OK;
    }
    return EWL_VERIFY_UNSUPPORTED;
}

/* ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } (DER, positive, each
 * at most size octets) into r || s, each left-padded to size (signers.md §7).
 * 0, or -1 when it is not that: the signature then does not verify. */
static int ewl_ecdsa_raw(const uint8_t *buf, ewl_der_view_t sig, size_t size, uint8_t *out)
{
    ewl_der_t d, in;
    ewl_der_tlv_t seq, i;
    int k;
    ewl_der_init(&d, buf, sig.off, sig.len);
    if (ewl_der_expect(&d, EWL_DER_SEQUENCE, &seq) != EWL_DER_OK || !ewl_der_at_end(&d) ||
        ewl_der_enter(&d, &seq, &in) != EWL_DER_OK) {
        return -1;
    }
    for (k = 0; k < 2; k++) {
        ewl_der_view_t m;
        int negative;
        size_t j;
        uint8_t *dst = out + (size_t)k * size;
        if (ewl_der_expect(&in, EWL_DER_INTEGER, &i) != EWL_DER_OK ||
            ewl_der_integer(buf, &i, &negative, &m) != EWL_DER_OK || negative || m.len > size) {
            return -1;
        }
        /* One loop (not a zero fill then a copy, which compilers turn into
         * memset and memcpy calls: the core links against nothing). */
        for (j = 0; j < size; j++) {
            size_t pad = size - m.len;
            dst[j] = j < pad ? 0 : buf[m.off + j - pad];
        }
    }
    return ewl_der_at_end(&in) ? 0 : -1;
}

/* Verify signature over digest with the key of c: EWL_VERIFY_*. */
static int ewl_verify_with(const uint8_t *buf, const ewl_sig_crypto_t *crypto,
                           ewl_sig_workspace_t *work, const ewl_sig_cert_t *c,
                           const ewl_scheme_t *s, const uint8_t *digest, size_t digest_len,
                           ewl_der_view_t signature)
{
    ewl_sig_key_t key;
    int r = ewl_public_key(buf, c, &key);
    if (r != EWL_VERIFY_OK) {
        return r;
    }
    if (s->scheme == EWL_SCHEME_ECDSA) {
        uint8_t *raw = work->scratch + EWL_HASH_MAX_SIZE;
        if (key.type != EWL_KEY_EC) {
            return EWL_VERIFY_UNSUPPORTED;
        }
        if (ewl_ecdsa_raw(buf, signature, key.coordinate_len, raw) != 0) {
            /* Not an ECDSA-Sig-Value: r = s = 0, which never verifies, so the
             * callback still says whether the key itself is usable (Python
             * loads the key first: a point off the curve is unsupported). */
            volatile uint8_t *zero = raw; /* volatile: no memset call (no libc) */
            size_t j;
            for (j = 0; j < 2 * key.coordinate_len; j++) {
                zero[j] = 0;
            }
            r = crypto->verify(crypto->ctx, &key, s->hash, EWL_PAD_ECDSA, 0, digest, digest_len,
                               raw, 2 * key.coordinate_len);
            return r == EWL_VERIFY_UNSUPPORTED ? r : EWL_VERIFY_BAD;
        }
        return crypto->verify(crypto->ctx, &key, s->hash, EWL_PAD_ECDSA, 0, digest, digest_len,
                              raw, 2 * key.coordinate_len);
    }
    if (key.type != EWL_KEY_RSA) {
        return EWL_VERIFY_UNSUPPORTED;
    }
    if (s->scheme == EWL_SCHEME_PSS) {
        return crypto->verify(crypto->ctx, &key, s->hash, EWL_PAD_PSS, s->salt, digest,
                              digest_len, buf + signature.off, signature.len);
    }
    if (s->scheme == EWL_SCHEME_RSA) {
        return crypto->verify(crypto->ctx, &key, s->hash, EWL_PAD_PKCS1, 0, digest, digest_len,
                              buf + signature.off, signature.len);
    }
    return EWL_VERIFY_UNSUPPORTED;
}

/* signatures._issued_by: child's signature verifies with parent's key under
 * child's own signatureAlgorithm (cryptography's verify_directly_issued_by). */
static int ewl_issued_by(const uint8_t *buf, const ewl_sig_crypto_t *crypto,
                         ewl_sig_workspace_t *work, const ewl_sig_cert_t *child,
                         const ewl_sig_cert_t *parent, int *host_failed)
{
    ewl_scheme_t s;
    uint8_t *digest = work->scratch;
    size_t size;
    if (ewl_signature_scheme(buf, child->sig_alg, &s) != EWL_DER_OK ||
        (s.scheme != EWL_SCHEME_RSA && s.scheme != EWL_SCHEME_ECDSA &&
         s.scheme != EWL_SCHEME_PSS) ||
        s.hash == EWL_HASH_NONE || (s.scheme == EWL_SCHEME_PSS && s.mgf_hash != s.hash)) {
        return 0;
    }
    size = ewl_hash_size(s.hash);
    if (crypto->hash(crypto->ctx, s.hash, buf + child->tbs.off, child->tbs.len, buf, 0, digest) !=
        0) {
        *host_failed = 1;
        return 0;
    }
    return ewl_verify_with(buf, crypto, work, parent, &s, digest, size, child->signature) ==
           EWL_VERIFY_OK;
}

/* Two INTEGER contents with the same value (redundant sign octets ignored:
 * asn1crypto reads the sid's serial as a number). */
static ewl_der_view_t ewl_int_normal(const uint8_t *buf, ewl_der_view_t v)
{
    while (v.len > 1 && ((buf[v.off] == 0x00u && buf[v.off + 1] < 0x80u) ||
                         (buf[v.off] == 0xffu && buf[v.off + 1] >= 0x80u))) {
        v.off++;
        v.len--;
    }
    return v;
}

/* --- SignedData ---------------------------------------------------------------------- */

typedef ewl_sig_signed_data_t ewl_signed_data_t;

/* An Attributes SET: each SEQUENCE { OID, SET OF ANY } checked. With
 * pending (unsigned attributes), the values of nested-signature attributes
 * are appended to pending[0, *n) (more than EWL_SIG_MAX_NESTED: an error),
 * and the values of the others are not looked at: they are not covered by
 * the signature, and signatures._nested reads only their type. */
static int ewl_read_attributes(const uint8_t *buf, const ewl_der_t *d, const ewl_der_tlv_t *t,
                               ewl_der_view_t *pending, uint32_t *n)
{
    ewl_der_t set;
    ewl_der_tlv_t attr;
    int r;
    if (ewl_der_enter(d, t, &set) != EWL_DER_OK) {
        return EWL_DER_ERROR;
    }
    while ((r = ewl_der_read(&set, &attr)) == EWL_DER_OK) {
        ewl_der_t in, vals;
        ewl_der_tlv_t oid, values, value;
        int nested;
        if (attr.tag != EWL_DER_SEQUENCE || ewl_der_enter(&set, &attr, &in) != EWL_DER_OK ||
            ewl_der_expect(&in, EWL_DER_OID, &oid) != EWL_DER_OK ||
            ewl_der_read(&in, &values) != EWL_DER_OK || !ewl_der_at_end(&in)) {
            return EWL_DER_ERROR;
        }
        nested = pending != NULL &&
                 ewl_is(buf, ewl_der_content(&oid), ewl_oid_nested, sizeof ewl_oid_nested);
        if (pending != NULL && !nested) {
            continue;
        }
        if (values.tag != EWL_DER_SET || ewl_der_enter(&in, &values, &vals) != EWL_DER_OK) {
            return EWL_DER_ERROR;
        }
        while ((r = ewl_der_read(&vals, &value)) == EWL_DER_OK) {
            unsigned number = value.tag & 0x1fu;
            if (number == 0 || number == 14u || number == 15u) {
                return EWL_DER_ERROR; /* a tag asn1crypto cannot build: it raises */
            }
            if (nested) {
                if (*n >= EWL_SIG_MAX_NESTED) {
                    return EWL_DER_ERROR;
                }
                pending[(*n)++] = ewl_der_whole(&value);
            }
        }
        if (r != EWL_DER_END) {
            return EWL_DER_ERROR;
        }
    }
    return r == EWL_DER_END ? EWL_DER_OK : EWL_DER_ERROR;
}

/* One SignerInfo; the first one's fields go to *sd. */
static int ewl_read_signer_info(const uint8_t *buf, const ewl_der_t *d, const ewl_der_tlv_t *t,
                                int first, ewl_signed_data_t *sd)
{
    ewl_der_t in;
    ewl_der_tlv_t f, sid, alg, sig;
    ewl_der_view_t oid;
    ewl_der_tlv_t params;
    int has;
    unsigned tag;
    if (t->tag != EWL_DER_SEQUENCE || ewl_der_enter(d, t, &in) != EWL_DER_OK ||
        ewl_der_expect(&in, EWL_DER_INTEGER, &f) != EWL_DER_OK ||
        ewl_der_read(&in, &sid) != EWL_DER_OK) {
        return EWL_DER_ERROR;
    }
    if (sid.tag == EWL_DER_SEQUENCE) {
        ewl_der_t s;
        ewl_der_tlv_t name, serial;
        if (ewl_der_enter(&in, &sid, &s) != EWL_DER_OK ||
            ewl_der_expect(&s, EWL_DER_SEQUENCE, &name) != EWL_DER_OK ||
            ewl_der_expect(&s, EWL_DER_INTEGER, &serial) != EWL_DER_OK || serial.len == 0 ||
            !ewl_der_at_end(&s)) {
            return EWL_DER_ERROR;
        }
        if (first) {
            sd->sid_is_ski = 0;
            sd->sid_issuer = ewl_der_whole(&name);
            sd->sid_serial = ewl_der_content(&serial);
        }
    } else if (sid.tag == EWL_DER_CONTEXT_PRIMITIVE(0)) {
        if (first) {
            sd->sid_is_ski = 1;
            sd->sid_ski = ewl_der_content(&sid);
        }
    } else {
        return EWL_DER_ERROR;
    }
    if (ewl_read_alg(&in, &oid, &params, &has) != EWL_DER_OK) {
        return EWL_DER_ERROR;
    }
    if (first) {
        sd->digest_oid = oid;
        sd->has_signed_attrs = 0;
    }
    if (ewl_der_peek(&in, &tag) == EWL_DER_OK && tag == EWL_DER_CONTEXT(0)) {
        if (ewl_der_read(&in, &f) != EWL_DER_OK ||
            ewl_read_attributes(buf, &in, &f, NULL, NULL) != EWL_DER_OK) {
            return EWL_DER_ERROR;
        }
        if (first) {
            sd->has_signed_attrs = 1;
            sd->signed_attrs = ewl_der_whole(&f);
        }
    }
    if (ewl_der_peek(&in, &tag) != EWL_DER_OK || tag != EWL_DER_SEQUENCE ||
        ewl_der_read(&in, &alg) != EWL_DER_OK) {
        return EWL_DER_ERROR;
    }
    {
        ewl_der_t a;
        ewl_der_init(&a, buf, alg.off, alg.hdr + alg.len);
        a.depth = in.depth;
        if (ewl_read_alg(&a, &oid, &params, &has) != EWL_DER_OK) {
            return EWL_DER_ERROR;
        }
    }
    if (ewl_der_expect(&in, EWL_DER_OCTET_STRING, &sig) != EWL_DER_OK) {
        return EWL_DER_ERROR;
    }
    if (first) {
        sd->sig_alg = ewl_der_whole(&alg);
        sd->signature = ewl_der_content(&sig);
    }
    if (ewl_der_peek(&in, &tag) == EWL_DER_OK && tag == EWL_DER_CONTEXT(1)) {
        /* Every attribute's shape (a type and a SET of values), as
         * signatures._signer_info reads it; no value's content is
         * interpreted (a timestamp that does not parse is not an error). */
        if (ewl_der_read(&in, &f) != EWL_DER_OK ||
            ewl_read_attributes(buf, &in, &f, NULL, NULL) != EWL_DER_OK) {
            return EWL_DER_ERROR;
        }
    }
    return ewl_der_at_end(&in) ? EWL_DER_OK : EWL_DER_ERROR;
}

/* SpcIndirectDataContent (the [0] EXPLICIT content: exactly one SEQUENCE
 * { data ANY, messageDigest DigestInfo }). */
static int ewl_read_indirect(const uint8_t *buf, const ewl_der_t *d, const ewl_der_tlv_t *t,
                             ewl_signed_data_t *sd)
{
    ewl_der_t wrap, in, di;
    ewl_der_tlv_t seq, data, info, digest;
    ewl_der_view_t oid;
    ewl_der_tlv_t params;
    int has;
    if (ewl_der_enter(d, t, &wrap) != EWL_DER_OK ||
        ewl_der_expect(&wrap, EWL_DER_SEQUENCE, &seq) != EWL_DER_OK || !ewl_der_at_end(&wrap) ||
        ewl_der_enter(&wrap, &seq, &in) != EWL_DER_OK || ewl_der_read(&in, &data) != EWL_DER_OK ||
        ewl_der_expect(&in, EWL_DER_SEQUENCE, &info) != EWL_DER_OK || !ewl_der_at_end(&in) ||
        ewl_der_enter(&in, &info, &di) != EWL_DER_OK ||
        ewl_read_alg(&di, &oid, &params, &has) != EWL_DER_OK ||
        ewl_der_expect(&di, EWL_DER_OCTET_STRING, &digest) != EWL_DER_OK ||
        !ewl_der_at_end(&di)) {
        return EWL_DER_ERROR;
    }
    sd->content = ewl_der_content(&seq);
    sd->digest_alg = ewl_digest_alg(buf, oid);
    sd->digest = ewl_der_content(&digest);
    return EWL_DER_OK;
}

/* ewl_read_signed_data's outcomes. */
#define EWL_READ_OK 0
#define EWL_READ_FAILED 1      /* malformed, nothing nested read (_collect raised) */
#define EWL_READ_BAD_CONTENT 2 /* malformed, nested ones read (_verify raised) */

/* The unsigned attributes of a SignerInfo, found as signatures._nested finds
 * them (asn1crypto's field matching, which reads the elements' headers
 * only): after version, sid and digestAlgorithm, an optional [0] (signed
 * attributes), signatureAlgorithm and signature, the next element if it is
 * [1]; anything after is ignored. Nested signatures into pending[0, *n). */
static int ewl_nested_of(const uint8_t *buf, const ewl_der_t *d, const ewl_der_tlv_t *t,
                         ewl_der_view_t *pending, uint32_t *n)
{
    ewl_der_t in;
    ewl_der_tlv_t f;
    unsigned index = 0, unsigned_at = 5;
    int r;
    if (t->tag != EWL_DER_SEQUENCE || ewl_der_enter(d, t, &in) != EWL_DER_OK) {
        return EWL_DER_ERROR;
    }
    while ((r = ewl_der_read(&in, &f)) == EWL_DER_OK) {
        if (index == 3 && f.tag == EWL_DER_CONTEXT(0)) {
            unsigned_at = 6;
        }
        if (index == unsigned_at && f.tag == EWL_DER_CONTEXT(1) &&
            ewl_read_attributes(buf, &in, &f, pending, n) != EWL_DER_OK) {
            return EWL_DER_ERROR;
        }
        index++;
    }
    if (r != EWL_DER_END || index < unsigned_at) {
        return EWL_DER_ERROR; /* a field missing: asn1crypto raises */
    }
    return EWL_DER_OK;
}

/* signatures._collect's parse, then _verify's: ContentInfo → SignedData,
 * SpcIndirectDataContent, the nested signatures' views into pending[0, *n);
 * then (unless only the digests are wanted: all 0) the bag parsed into
 * work->certs and the first SignerInfo into *sd. Returns EWL_READ_*. */
static int ewl_read_signed_data(const uint8_t *buf, ewl_der_view_t der, ewl_signed_data_t *sd,
                                ewl_sig_workspace_t *work, ewl_der_view_t *pending, uint32_t *n,
                                int all)
{
    ewl_der_t top, ci, sdr, enc, infos;
    ewl_der_tlv_t t, oid, content, seq, f, info, bag_tlv;
    unsigned tag;
    int r, has_bag = 0;
    ewl_der_init(&top, buf, der.off, der.len);
    if (ewl_der_expect(&top, EWL_DER_SEQUENCE, &t) != EWL_DER_OK || !ewl_der_at_end(&top) ||
        ewl_der_enter(&top, &t, &ci) != EWL_DER_OK ||
        ewl_der_expect(&ci, EWL_DER_OID, &oid) != EWL_DER_OK ||
        !ewl_is(buf, ewl_der_content(&oid), ewl_oid_signed_data, sizeof ewl_oid_signed_data) ||
        ewl_der_expect(&ci, EWL_DER_CONTEXT(0), &content) != EWL_DER_OK ||
        !ewl_der_at_end(&ci) || ewl_der_enter(&ci, &content, &sdr) != EWL_DER_OK ||
        ewl_der_expect(&sdr, EWL_DER_SEQUENCE, &seq) != EWL_DER_OK || !ewl_der_at_end(&sdr) ||
        ewl_der_enter(&sdr, &seq, &sdr) != EWL_DER_OK) {
        return EWL_READ_FAILED;
    }
    /* version INTEGER, digestAlgorithms (not compared: signatures.py reads it as ANY). */
    if (ewl_der_expect(&sdr, EWL_DER_INTEGER, &f) != EWL_DER_OK ||
        ewl_der_read(&sdr, &f) != EWL_DER_OK) {
        return EWL_READ_FAILED;
    }
    /* encapContentInfo { SPC_INDIRECT_DATA, [0] EXPLICIT SpcIndirectDataContent } */
    if (ewl_der_expect(&sdr, EWL_DER_SEQUENCE, &f) != EWL_DER_OK ||
        ewl_der_enter(&sdr, &f, &enc) != EWL_DER_OK ||
        ewl_der_expect(&enc, EWL_DER_OID, &oid) != EWL_DER_OK ||
        ewl_der_expect(&enc, EWL_DER_CONTEXT(0), &content) != EWL_DER_OK ||
        !ewl_der_at_end(&enc) ||
        !ewl_is(buf, ewl_der_content(&oid), ewl_oid_spc_indirect, sizeof ewl_oid_spc_indirect) ||
        ewl_read_indirect(buf, &enc, &content, sd) != EWL_DER_OK) {
        return EWL_READ_FAILED;
    }
    /* certificates [0] IMPLICIT OPTIONAL, crls [1] IMPLICIT OPTIONAL (not read) */
    if (ewl_der_peek(&sdr, &tag) == EWL_DER_OK && tag == EWL_DER_CONTEXT(0)) {
        if (ewl_der_read(&sdr, &bag_tlv) != EWL_DER_OK) {
            return EWL_READ_FAILED;
        }
        has_bag = 1;
    }
    if (ewl_der_peek(&sdr, &tag) == EWL_DER_OK && tag == EWL_DER_CONTEXT(1)) {
        if (ewl_der_read(&sdr, &f) != EWL_DER_OK) {
            return EWL_READ_FAILED;
        }
    }
    /* signerInfos SET OF SignerInfo: the nested signatures first (_nested). */
    if (ewl_der_expect(&sdr, EWL_DER_SET, &f) != EWL_DER_OK || !ewl_der_at_end(&sdr) ||
        ewl_der_enter(&sdr, &f, &infos) != EWL_DER_OK) {
        return EWL_READ_FAILED;
    }
    {
        ewl_der_t walk = infos;
        uint32_t count = 0;
        while ((r = ewl_der_read(&walk, &info)) == EWL_DER_OK) {
            if (++count > EWL_SIG_MAX_SIGNER_INFOS ||
                ewl_nested_of(buf, &walk, &info, pending, n) != EWL_DER_OK) {
                return EWL_READ_FAILED;
            }
        }
        if (r != EWL_DER_END) {
            return EWL_READ_FAILED;
        }
    }
    /* _verify: the bag (_bag), then the SignerInfos' fields. */
    work->cert_count = 0;
    if (!all) {
        return EWL_READ_OK; /* what the digests need is read */
    }
    if (has_bag) {
        ewl_der_t bag;
        ewl_der_tlv_t c;
        uint32_t elements = 0;
        if (ewl_der_enter(&sdr, &bag_tlv, &bag) != EWL_DER_OK) {
            return EWL_READ_BAD_CONTENT;
        }
        while ((r = ewl_der_read(&bag, &c)) == EWL_DER_OK) {
            if (++elements > EWL_SIG_MAX_CERTIFICATES) {
                return EWL_READ_BAD_CONTENT;
            }
            if (c.tag == EWL_DER_SEQUENCE) {
                ewl_der_view_t whole = ewl_der_whole(&c);
                uint32_t k;
                int seen = 0;
                for (k = 0; k < work->cert_count && !seen; k++) {
                    seen = ewl_der_view_equal(buf, work->certs[k].der, buf, whole);
                }
                if (!seen) {
                    ewl_sig_cert_t *cert = &work->certs[work->cert_count];
                    if (ewl_sig_parse_cert(buf, whole, cert) !=
                        EWL_DER_OK) {
                        return EWL_READ_BAD_CONTENT;
                    }
                    work->cert_count++;
                }
            } else if (c.tag < EWL_DER_CONTEXT(0) || c.tag > EWL_DER_CONTEXT(3)) {
                return EWL_READ_BAD_CONTENT; /* not a CertificateChoices alternative */
            }
        }
        if (r != EWL_DER_END) {
            return EWL_READ_BAD_CONTENT;
        }
    }
    sd->signer_infos = 0;
    while ((r = ewl_der_read(&infos, &info)) == EWL_DER_OK) {
        if (ewl_read_signer_info(buf, &infos, &info, sd->signer_infos == 0, sd) != EWL_DER_OK) {
            return EWL_READ_BAD_CONTENT;
        }
        sd->signer_infos++;
    }
    return EWL_READ_OK;
}

/* signatures._check_signer: contentType and messageDigest of the signed
 * attributes. Returns a status (EWL_SIG_VALID when they hold). */
static int ewl_check_signer(const uint8_t *buf, const ewl_sig_crypto_t *crypto,
                            ewl_sig_workspace_t *work, const ewl_signed_data_t *sd, int alg)
{
    ewl_der_t d, set;
    ewl_der_tlv_t t, attr;
    uint32_t content_types = 0, digests = 0;
    int content_type_ok = 0, digest_ok = 0;
    uint8_t *ours = work->scratch;
    size_t size = ewl_hash_size(alg);
    if (!sd->has_signed_attrs) {
        return EWL_SIG_BAD_SIGNED_ATTRIBUTES;
    }
    if (crypto->hash(crypto->ctx, alg, buf + sd->content.off, sd->content.len, buf, 0, ours) !=
        0) {
        return EWL_SIG_MALFORMED;
    }
    ewl_der_init(&d, buf, sd->signed_attrs.off, sd->signed_attrs.len);
    if (ewl_der_read(&d, &t) != EWL_DER_OK || ewl_der_enter(&d, &t, &set) != EWL_DER_OK) {
        return EWL_SIG_MALFORMED;
    }
    while (ewl_der_read(&set, &attr) == EWL_DER_OK) {
        ewl_der_t in, vals;
        ewl_der_tlv_t oid, values, value;
        int is_type, is_digest;
        if (ewl_der_enter(&set, &attr, &in) != EWL_DER_OK ||
            ewl_der_read(&in, &oid) != EWL_DER_OK || ewl_der_read(&in, &values) != EWL_DER_OK ||
            ewl_der_enter(&in, &values, &vals) != EWL_DER_OK) {
            return EWL_SIG_MALFORMED; /* checked when read */
        }
        is_type = ewl_is(buf, ewl_der_content(&oid), ewl_oid_content_type,
                         sizeof ewl_oid_content_type);
        is_digest = ewl_is(buf, ewl_der_content(&oid), ewl_oid_message_digest,
                           sizeof ewl_oid_message_digest);
        while (ewl_der_read(&vals, &value) == EWL_DER_OK) {
            if (is_type) {
                content_types++;
                content_type_ok = ewl_is(buf, ewl_der_whole(&value), ewl_der_spc_indirect,
                                         sizeof ewl_der_spc_indirect);
            } else if (is_digest) {
                ewl_der_view_t v = ewl_der_content(&value);
                digests++;
                digest_ok = value.tag == EWL_DER_OCTET_STRING && value.hdr == 2 &&
                            ewl_is(buf, v, ours, size);
            }
        }
    }
    if (content_types != 1 || !content_type_ok) {
        return EWL_SIG_BAD_SIGNED_ATTRIBUTES;
    }
    if (digests != 1 || !digest_ok) {
        return EWL_SIG_BAD_SIGNED_ATTRIBUTES;
    }
    return EWL_SIG_VALID;
}

/* signatures._find_signer: the index of the one certificate sid names, or
 * -1 (none, or several). */
static int ewl_find_signer(const uint8_t *buf, const ewl_sig_workspace_t *work,
                           const ewl_signed_data_t *sd)
{
    uint32_t k, matches = 0;
    int found = -1;
    ewl_der_view_t serial = ewl_int_normal(buf, sd->sid_serial);
    for (k = 0; k < work->cert_count; k++) {
        const ewl_sig_cert_t *c = &work->certs[k];
        int match;
        if (sd->sid_is_ski) {
            match = c->ski.len > 0 && ewl_der_view_equal(buf, c->ski, buf, sd->sid_ski);
        } else {
            match = ewl_der_view_equal(buf, c->serial, buf, serial) &&
                    ewl_der_view_equal(buf, c->issuer, buf, sd->sid_issuer);
        }
        if (match) {
            matches++;
            found = (int)k;
        }
    }
    return matches == 1 ? found : -1;
}

/* signatures._check_signature: the signature over the signed attributes,
 * re-tagged from [0] to SET. Returns a status. */
static int ewl_check_signature(const uint8_t *buf, const ewl_sig_crypto_t *crypto,
                               ewl_sig_workspace_t *work, const ewl_signed_data_t *sd, int alg,
                               const ewl_sig_cert_t *leaf)
{
    static const uint8_t set_tag = EWL_DER_SET;
    uint8_t digest[EWL_HASH_MAX_SIZE];
    ewl_scheme_t s;
    ewl_sig_key_t key;
    ewl_der_t d;
    ewl_der_view_t oid;
    ewl_der_tlv_t params;
    int has, r;
    if (!sd->has_signed_attrs) {
        return EWL_SIG_VALID;
    }
    if (crypto->hash(crypto->ctx, alg, &set_tag, 1, buf + sd->signed_attrs.off + 1,
                     sd->signed_attrs.len - 1, digest) != 0) {
        return EWL_SIG_MALFORMED;
    }
    if (ewl_public_key(buf, leaf, &key) != EWL_VERIFY_OK) {
        return EWL_SIG_UNSUPPORTED;
    }
    s.hash = alg;
    s.mgf_hash = alg;
    s.salt = 0;
    if (key.type == EWL_KEY_EC) {
        s.scheme = EWL_SCHEME_ECDSA; /* whatever signatureAlgorithm says, as cryptography */
    } else {
        ewl_scheme_t named;
        ewl_der_init(&d, buf, sd->sig_alg.off, sd->sig_alg.len);
        if (ewl_read_alg(&d, &oid, &params, &has) != EWL_DER_OK ||
            ewl_signature_scheme(buf, sd->sig_alg, &named) != EWL_DER_OK) {
            return EWL_SIG_MALFORMED;
        }
        if (named.scheme == EWL_SCHEME_RSA_ANY ||
            (named.scheme == EWL_SCHEME_RSA && named.hash == alg)) {
            s.scheme = EWL_SCHEME_RSA;
        } else if (named.scheme == EWL_SCHEME_PSS && named.hash == alg) {
            /* RSASSA-PSS: its hash must be the signer's; MGF1 uses the signer's. */
            s.scheme = EWL_SCHEME_PSS;
            s.salt = named.salt;
        } else {
            return EWL_SIG_UNSUPPORTED;
        }
    }
    r = ewl_verify_with(buf, crypto, work, leaf, &s, digest, ewl_hash_size(alg), sd->signature);
    if (r == EWL_VERIFY_OK) {
        return EWL_SIG_VALID;
    }
    return r == EWL_VERIFY_BAD ? EWL_SIG_BAD_SIGNATURE : EWL_SIG_UNSUPPORTED;
}

/* The last CN of a Name (cryptography's get_attributes_for_oid(...)[-1]). */
static void ewl_common_name(const uint8_t *buf, ewl_der_view_t name, ewl_sig_result_t *out)
{
    ewl_der_t d, rdns, atvs, in;
    ewl_der_tlv_t t, rdn, atv, oid, value;
    ewl_der_init(&d, buf, name.off, name.len);
    if (ewl_der_read(&d, &t) != EWL_DER_OK || ewl_der_enter(&d, &t, &rdns) != EWL_DER_OK) {
        return;
    }
    while (ewl_der_read(&rdns, &rdn) == EWL_DER_OK) {
        if (ewl_der_enter(&rdns, &rdn, &atvs) != EWL_DER_OK) {
            return;
        }
        while (ewl_der_read(&atvs, &atv) == EWL_DER_OK) {
            if (ewl_der_enter(&atvs, &atv, &in) != EWL_DER_OK ||
                ewl_der_read(&in, &oid) != EWL_DER_OK || ewl_der_read(&in, &value) != EWL_DER_OK) {
                return;
            }
            if (ewl_is(buf, ewl_der_content(&oid), ewl_oid_common_name,
                       sizeof ewl_oid_common_name)) {
                out->cn_tag = value.tag;
                out->cn = ewl_der_content(&value);
            }
        }
    }
}

/* TBS hash of one chain certificate into the result (signers.md §3). */
static int ewl_tbs_hash(const uint8_t *buf, const ewl_sig_crypto_t *crypto,
                        const ewl_sig_cert_t *c, ewl_sig_result_t *out, uint32_t i)
{
    ewl_scheme_t s;
    out->tbs_alg[i] = EWL_HASH_NONE;
    if (ewl_signature_scheme(buf, c->sig_alg, &s) != EWL_DER_OK || s.hash == EWL_HASH_NONE ||
        s.scheme == EWL_SCHEME_RSA_ANY) {
        return 0;
    }
    if (crypto->hash(crypto->ctx, s.hash, buf + c->tbs.off, c->tbs.len, buf, 0,
                     out->tbs_hash[i]) != 0) {
        return -1;
    }
    out->tbs_alg[i] = s.hash;
    return 0;
}

/* signatures._chain: leaf first, each issuer found in the bag whose key
 * verifies the child; out's chain views, TBS hashes and leaf CN. Returns
 * EWL_SIG_BROKEN_CHAIN, EWL_SIG_MALFORMED (host failure) or EWL_SIG_VALID. */
static int ewl_chain(const uint8_t *buf, const ewl_sig_crypto_t *crypto,
                     ewl_sig_workspace_t *work, uint32_t leaf, ewl_sig_result_t *out)
{
    uint32_t index[EWL_SIG_MAX_CHAIN];
    uint32_t current = leaf, j;
    int host_failed = 0;
    int status = EWL_SIG_BROKEN_CHAIN; /* "chain longer than MAX_CHAIN" unless it ends first */
    out->chain_len = 0;
    index[out->chain_len++] = leaf;
    ewl_common_name(buf, work->certs[leaf].subject, out);
    while (out->chain_len < EWL_SIG_MAX_CHAIN) {
        const ewl_sig_cert_t *c = &work->certs[current];
        uint32_t k;
        int any = 0, parent = -1, loop = 0;
        if (ewl_der_view_equal(buf, c->subject, buf, c->issuer)) {
            status = EWL_SIG_VALID; /* self-signed: the chain is complete */
            break;
        }
        for (k = 0; k < work->cert_count && parent < 0; k++) {
            if (ewl_der_view_equal(buf, work->certs[k].subject, buf, c->issuer)) {
                any = 1;
                if (ewl_issued_by(buf, crypto, work, c, &work->certs[k], &host_failed)) {
                    parent = (int)k;
                }
                if (host_failed) {
                    return EWL_SIG_MALFORMED;
                }
            }
        }
        if (!any) {
            status = EWL_SIG_VALID; /* the issuer is not embedded: the chain stops here */
            break;
        }
        if (parent < 0) {
            break; /* not signed by the embedded issuer */
        }
        for (j = 0; j < out->chain_len; j++) {
            loop |= index[j] == (uint32_t)parent;
        }
        if (loop) {
            break; /* the certificates issue each other in a loop */
        }
        index[out->chain_len++] = (uint32_t)parent;
        current = (uint32_t)parent;
    }
    for (j = 0; j < out->chain_len; j++) {
        out->chain[j] = work->certs[index[j]].der;
        if (ewl_tbs_hash(buf, crypto, &work->certs[index[j]], out, j) != 0) {
            return EWL_SIG_MALFORMED;
        }
    }
    return status;
}

/* Verify one SignedData (der: its ContentInfo) into *out; the nested
 * signatures it carries into pending[0, *n). */
static void ewl_verify_signed_data(const uint8_t *buf, ewl_der_view_t der,
                                   const ewl_sig_image_t *image, const ewl_sig_crypto_t *crypto,
                                   ewl_sig_workspace_t *work, ewl_sig_result_t *out,
                                   ewl_der_view_t *pending, uint32_t *n)
{
    ewl_signed_data_t *sd = &work->signed_data;
    int status = EWL_SIG_VALID;
    int r;
    *n = 0;
    r = ewl_read_signed_data(buf, der, sd, work, pending, n, crypto != NULL);
    if (r == EWL_READ_FAILED) {
        *n = 0;
        out->status = EWL_SIG_MALFORMED;
        return;
    }
    out->digest_alg = sd->digest_alg;
    out->digest = sd->digest;
    /* The image digest (V3), compared by _bind. */
    if (sd->digest_alg == EWL_HASH_NONE) {
        ewl_fail(&status, EWL_SIG_UNSUPPORTED);
    } else if (image != NULL && image->present[sd->digest_alg]) {
        out->digest_matches = ewl_is(buf, sd->digest, image->digest[sd->digest_alg],
                                     ewl_hash_size(sd->digest_alg));
        if (!out->digest_matches) {
            ewl_fail(&status, EWL_SIG_DIGEST_MISMATCH);
        }
    }
    if (r == EWL_READ_BAD_CONTENT) {
        /* _verify raised: no facts, but the nested ones are still read. */
        out->status = EWL_SIG_MALFORMED;
        out->digest_alg = EWL_HASH_NONE;
        out->digest.off = 0;
        out->digest.len = 0;
        out->digest_matches = -1;
        return;
    }
    if (crypto == NULL) {
        out->status = status; /* read only: the rest needs the crypto */
        return;
    }
    if (sd->signer_infos != 1) {
        ewl_fail(&status, EWL_SIG_MALFORMED);
    } else {
        int alg = ewl_digest_alg(buf, sd->digest_oid);
        int leaf;
        if (alg == EWL_HASH_NONE) {
            ewl_fail(&status, EWL_SIG_UNSUPPORTED);
        } else {
            int s = ewl_check_signer(buf, crypto, work, sd, alg);
            if (s != EWL_SIG_VALID) {
                ewl_fail(&status, s);
            }
        }
        leaf = ewl_find_signer(buf, work, sd);
        if (leaf < 0) {
            ewl_fail(&status, EWL_SIG_BROKEN_CHAIN);
        } else {
            int s;
            if (alg != EWL_HASH_NONE) {
                s = ewl_check_signature(buf, crypto, work, sd, alg, &work->certs[leaf]);
                if (s != EWL_SIG_VALID) {
                    ewl_fail(&status, s);
                }
            }
            s = ewl_chain(buf, crypto, work, (uint32_t)leaf, out);
            if (s != EWL_SIG_VALID) {
                ewl_fail(&status, s);
            }
        }
    }
    out->status = status;
}

static void ewl_result_init(ewl_sig_result_t *r, uint32_t nesting)
{
    r->status = EWL_SIG_MALFORMED;
    r->nesting = nesting;
    r->digest_alg = EWL_HASH_NONE;
    r->digest.off = 0;
    r->digest.len = 0;
    r->digest_matches = -1;
    r->chain_len = 0; /* chain[], tbs_alg[] and tbs_hash[] are set up to chain_len */
    r->cn_tag = 0;
    r->cn.off = 0;
    r->cn.len = 0;
}

int ewl_sig_verify_entry(const uint8_t *entry, size_t len, const ewl_sig_image_t *image,
                         const ewl_sig_crypto_t *crypto, ewl_sig_workspace_t *work,
                         ewl_sig_result_t *results, size_t cap, size_t *count)
{
    uint32_t length, level;
    ewl_der_t d;
    ewl_der_tlv_t t;
    size_t i, end;
    if (entry == NULL || work == NULL || results == NULL || count == NULL || cap == 0) {
        return -1;
    }
    if (cap > EWL_SIG_MAX_SIGNATURES) {
        cap = EWL_SIG_MAX_SIGNATURES;
    }
    *count = 1;
    ewl_result_init(&results[0], 0);
    /* V1: the WIN_CERTIFICATE container. */
    if (len < EWL_WIN_CERT_HEADER) {
        return 0;
    }
    length = ewl_load_u32le(entry);
    if (length < EWL_WIN_CERT_HEADER || length > len || length > EWL_SIG_MAX_ENTRY ||
        ewl_load_u16le(entry + 4) != EWL_WIN_CERT_REVISION_2_0 ||
        ewl_load_u16le(entry + 6) != EWL_WIN_CERT_TYPE_PKCS_SIGNED_DATA) {
        return 0;
    }
    ewl_der_init(&d, entry, EWL_WIN_CERT_HEADER, length - EWL_WIN_CERT_HEADER);
    if (ewl_der_read(&d, &t) != EWL_DER_OK) {
        return 0;
    }
    end = t.off + t.hdr + t.len;
    if (length - end >= 8) {
        return 0; /* data after the signature (CVE-2013-3900) */
    }
    for (i = end; i < length; i++) {
        if (entry[i] != 0) {
            return 0;
        }
    }
    /* Depth first, each signature before the ones nested in it. */
    *count = 0;
    level = 0;
    work->pending[0][0] = ewl_der_whole(&t);
    work->pending_count[0] = 1;
    work->pending_next[0] = 0;
    while (*count < cap) {
        ewl_sig_result_t *r;
        ewl_der_view_t der;
        uint32_t n = 0;
        while (work->pending_next[level] >= work->pending_count[level] && level > 0) {
            level--;
        }
        if (work->pending_next[level] >= work->pending_count[level]) {
            break;
        }
        der = work->pending[level][work->pending_next[level]++];
        r = &results[(*count)++];
        ewl_result_init(r, level);
        if (level < EWL_SIG_MAX_NESTING) {
            ewl_verify_signed_data(entry, der, image, crypto, work, r, work->pending[level + 1],
                                   &n);
        } else {
            ewl_der_view_t ignored[EWL_SIG_MAX_NESTED];
            ewl_verify_signed_data(entry, der, image, crypto, work, r, ignored, &n);
            n = 0;
        }
        if (n > 0) {
            level++;
            work->pending_count[level] = n;
            work->pending_next[level] = 0;
        }
    }
    return 0;
}
