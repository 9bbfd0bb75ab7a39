/* Authenticode signatures of one WIN_CERTIFICATE entry, read and verified as
 * src/exewhitelist/signatures.py does (docs/signatures.md §2; reference
 * signers.md §1-§3, §7, §9): the same statuses, in the same precedence, the
 * same chain and TBS hashes, the same leaf common name.
 *
 * Portable C99 (<stdint.h>/<stddef.h> only, no libc, no allocation, no
 * globals, no recursion). Every DER structure is read by ewl_der.h; each
 * certificate and each nested signature is its own bounded parse. Hashing
 * and public-key verification are the caller's (CNG in the kernel, OpenSSL
 * in the harness), through ewl_sig_crypto_t. The caller also provides the
 * workspace (ewl_sig_workspace_t: a few KiB, kept off the kernel stack) and
 * the results. */
#ifndef EWL_SIGNATURE_H
#define EWL_SIGNATURE_H

#include <stddef.h>
#include <stdint.h>

#include "ewl_der.h"

/* The status of one signature: exewhitelist.signatures.SignatureStatus, by
 * declaration order (tests/test_core_signature.py checks them against it).
 * A lower non-zero number takes precedence: it is the first failed check in
 * signatures._ORDER. */
#define EWL_SIG_VALID 0
#define EWL_SIG_MALFORMED 1
#define EWL_SIG_UNSUPPORTED 2
#define EWL_SIG_DIGEST_MISMATCH 3
#define EWL_SIG_BAD_SIGNED_ATTRIBUTES 4
#define EWL_SIG_BAD_SIGNATURE 5
#define EWL_SIG_BROKEN_CHAIN 6
#define EWL_SIG_STATUS_COUNT 7
#define EWL_SIG_STATUS_NAMES                                                                    \
    {"valid", "malformed", "unsupported", "digest_mismatch", "bad_signed_attributes",          \
     "bad_signature", "broken_chain"}

/* Hash algorithms (callbacks and results). 0: none or not one of these. */
#define EWL_HASH_NONE 0
#define EWL_HASH_SHA1 1
#define EWL_HASH_SHA256 2
#define EWL_HASH_SHA384 3
#define EWL_HASH_SHA512 4
#define EWL_HASH_COUNT 5
#define EWL_HASH_MAX_SIZE 64u

/* Limits (signers.md §9): past one, the signature is malformed. */
#define EWL_SIG_MAX_ENTRY 0x10000u  /* bytes of a WIN_CERTIFICATE entry */
#define EWL_SIG_MAX_CERTIFICATES 16u /* elements of a certificate bag */
#define EWL_SIG_MAX_NESTED 4u        /* nested signatures of one signature */
#define EWL_SIG_MAX_NESTING 4u       /* levels of nesting read (as signatures.MAX_NESTING) */
#define EWL_SIG_MAX_CHAIN 8u         /* certificates of a chain (signatures.MAX_CHAIN) */
#define EWL_SIG_MAX_SIGNATURES 16u   /* per entry (signatures.MAX_SIGNATURES) */
#define EWL_SIG_MAX_SIGNER_INFOS 4u  /* SignerInfos read (one is valid) */
#define EWL_SIG_MAX_RSA_BYTES 1024u  /* modulus (8192 bits) */

/* Public keys, as the verify callback receives them (views into the buffer
 * given to ewl_sig_verify_entry). */
#define EWL_KEY_RSA 1
#define EWL_KEY_EC 2
#define EWL_CURVE_P256 1
#define EWL_CURVE_P384 2
#define EWL_CURVE_P521 3

typedef struct ewl_sig_key {
    int type;                /* EWL_KEY_* */
    const uint8_t *modulus;  /* RSA: big-endian, no leading zero octet */
    size_t modulus_len;
    const uint8_t *exponent; /* RSA: big-endian, no leading zero octet */
    size_t exponent_len;
    int curve;               /* EC: EWL_CURVE_* */
    const uint8_t *x;        /* EC: the uncompressed point's coordinates, */
    const uint8_t *y;        /* coordinate_len bytes each, big-endian */
    size_t coordinate_len;   /* 32, 48 or 66 */
} ewl_sig_key_t;

/* Signature schemes (the verify callback's padding). */
#define EWL_PAD_PKCS1 1 /* RSASSA-PKCS1-v1_5: the callback builds the DigestInfo */
#define EWL_PAD_PSS 2   /* RSASSA-PSS, MGF1 with the same hash, salt_length */
#define EWL_PAD_ECDSA 3 /* ECDSA: signature is r || s, coordinate_len bytes each */

/* verify's answers. */
#define EWL_VERIFY_OK 0
#define EWL_VERIFY_BAD 1         /* the signature does not verify */
#define EWL_VERIFY_UNSUPPORTED 2 /* the key or the scheme cannot be used */

typedef struct ewl_sig_crypto {
    void *ctx;
    /* out = alg(a || b) (b may be empty). Returns 0, or non-zero on failure
     * (the signature is then malformed: the host failed, not the file). */
    int (*hash)(void *ctx, int alg, const uint8_t *a, size_t a_len, const uint8_t *b,
                size_t b_len, uint8_t *out);
    /* Verify signature over digest (of hash alg) with key and padding
     * (salt_length for EWL_PAD_PSS). Returns EWL_VERIFY_*. */
    int (*verify)(void *ctx, const ewl_sig_key_t *key, int alg, int padding,
                  unsigned salt_length, const uint8_t *digest, size_t digest_len,
                  const uint8_t *signature, size_t signature_len);
} ewl_sig_crypto_t;

/* The file's Authenticode digests (EWL_DIGEST_AUTHENTICODE: padded), by
 * algorithm; present[alg] == 0 when not computed (nothing is compared). */
typedef struct ewl_sig_image {
    uint8_t present[EWL_HASH_COUNT];
    uint8_t digest[EWL_HASH_COUNT][EWL_HASH_MAX_SIZE];
} ewl_sig_image_t;

/* One signature's verdict and facts. Views are into the entry buffer. */
typedef struct ewl_sig_result {
    int status;             /* EWL_SIG_* */
    uint32_t nesting;       /* 0: the entry's own signature; 1: nested in it... */
    int digest_alg;         /* of SpcIndirectDataContent's DigestInfo (EWL_HASH_*; 0: other) */
    ewl_der_view_t digest;  /* its digest octets (len 0 when not read) */
    int digest_matches;     /* 1, 0, or -1: not compared */
    uint32_t chain_len;     /* leaf first, each issuer found in the bag; the three
                               arrays below are set for [0, chain_len) */
    ewl_der_view_t chain[EWL_SIG_MAX_CHAIN]; /* each certificate's DER */
    int tbs_alg[EWL_SIG_MAX_CHAIN];          /* EWL_HASH_*: 0, no TBS hash WDAC pins */
    uint8_t tbs_hash[EWL_SIG_MAX_CHAIN][EWL_HASH_MAX_SIZE];
    unsigned cn_tag;        /* the leaf's last subject CN: its string tag (0: none) */
    ewl_der_view_t cn;      /* and its content octets */
} ewl_sig_result_t;

/* One certificate of a bag, parsed on its own. */
typedef struct ewl_sig_cert {
    ewl_der_view_t der;       /* the whole certificate */
    ewl_der_view_t tbs;       /* tbsCertificate with its tag and length */
    ewl_der_view_t serial;    /* INTEGER magnitude */
    int serial_negative;
    ewl_der_view_t issuer;    /* Name, tag and length included */
    ewl_der_view_t subject;
    ewl_der_view_t spki;      /* SubjectPublicKeyInfo */
    ewl_der_view_t sig_alg;   /* the outer signatureAlgorithm's content */
    ewl_der_view_t signature; /* the BIT STRING's bits */
    ewl_der_view_t ski;       /* subjectKeyIdentifier's key id (len 0: none) */
} ewl_sig_cert_t;

/* What one SignedData holds (views into the entry), as read. */
typedef struct ewl_sig_signed_data {
    int digest_alg;              /* SpcIndirectDataContent's DigestInfo */
    ewl_der_view_t digest;
    ewl_der_view_t content;      /* SpcIndirectDataContent's content octets */
    uint32_t signer_infos;
    int sid_is_ski;              /* of the first SignerInfo: */
    ewl_der_view_t sid_issuer;   /* Name, tag and length included */
    ewl_der_view_t sid_serial;   /* INTEGER content */
    ewl_der_view_t sid_ski;
    ewl_der_view_t digest_oid;   /* digestAlgorithm's OID */
    int has_signed_attrs;
    ewl_der_view_t signed_attrs; /* [0] IMPLICIT, tag and length included */
    ewl_der_view_t sig_alg;      /* signatureAlgorithm, tag included */
    ewl_der_view_t signature;    /* encryptedDigest's octets */
} ewl_sig_signed_data_t;

/* The caller's working memory for ewl_sig_verify_entry (no state survives a
 * call). */
typedef struct ewl_sig_workspace {
    ewl_sig_signed_data_t signed_data;
    ewl_sig_cert_t certs[EWL_SIG_MAX_CERTIFICATES];
    uint32_t cert_count;
    /* The nested signatures still to read: a stack of levels. */
    ewl_der_view_t pending[EWL_SIG_MAX_NESTING + 1][EWL_SIG_MAX_NESTED];
    uint32_t pending_count[EWL_SIG_MAX_NESTING + 1];
    uint32_t pending_next[EWL_SIG_MAX_NESTING + 1];
    uint8_t scratch[EWL_HASH_MAX_SIZE * 2 + 136]; /* digests, r || s of P-521 */
} ewl_sig_workspace_t;

/* Read one WIN_CERTIFICATE entry (its 8-byte header first; len: the bytes
 * available, at least dwLength) and verify every signature in it: its own,
 * then each nested one depth first after its parent, as
 * signatures.parse_table(...).verify(...) lists them. With crypto NULL only
 * what the digests need is read (signatures.parse_table(...).algorithms: the
 * structure down to SpcIndirectDataContent and the nested signatures, not
 * the certificates nor the SignerInfos): each result's nesting, digest_alg
 * and digest are set, its status says only whether that much could be read
 * (valid then means "not checked"). image may be NULL (no digest compared). Fills results[0,
 * *count) (at most cap, and at most EWL_SIG_MAX_SIGNATURES). A bad
 * container (V1: dwLength, revision 0x0200, type 2, DER end within dwLength
 * followed by fewer than 8 zero bytes) gives one malformed result. Returns 0,
 * or -1 for bad arguments (cap 0, NULL pointers but crypto and image). */
int ewl_sig_verify_entry(const uint8_t *entry, size_t len, const ewl_sig_image_t *image,
                         const ewl_sig_crypto_t *crypto, ewl_sig_workspace_t *work,
                         ewl_sig_result_t *results, size_t cap, size_t *count);

/* One certificate (cert: the view of its whole DER in buf), parsed on its
 * own into *c as cryptography's parser would accept it: EWL_DER_OK, or
 * EWL_DER_ERROR when it is not a certificate. */
int ewl_sig_parse_cert(const uint8_t *buf, ewl_der_view_t cert, ewl_sig_cert_t *c);

/* The digest size of an EWL_HASH_* algorithm (0 for none). */
size_t ewl_hash_size(int alg);

/* The name of status s ("valid"...), or NULL when out of range. */
const char *ewl_sig_status_name(int s);

#endif /* EWL_SIGNATURE_H */
