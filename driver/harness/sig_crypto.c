/* Host crypto for the signature core: see sig_crypto.h. */
#include "sig_crypto.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

static const EVP_MD *ewlh_md(int alg)
{
    switch (alg) {
    case EWL_HASH_SHA1:
        return EVP_sha1();
    case EWL_HASH_SHA256:
        return EVP_sha256();
    case EWL_HASH_SHA384:
        return EVP_sha384();
    case EWL_HASH_SHA512:
        return EVP_sha512();
    default:
        return NULL;
    }
}

static int ewlh_hash(void *ctx, int alg, const uint8_t *a, size_t a_len, const uint8_t *b,
                     size_t b_len, uint8_t *out)
{
    const EVP_MD *md = ewlh_md(alg);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned n = 0;
    int ok = md != NULL && c != NULL && EVP_DigestInit_ex(c, md, NULL) == 1 &&
             EVP_DigestUpdate(c, a, a_len) == 1 && (b_len == 0 || EVP_DigestUpdate(c, b, b_len) == 1) &&
             EVP_DigestFinal_ex(c, out, &n) == 1 && n == ewl_hash_size(alg);
    (void)ctx;
    EVP_MD_CTX_free(c);
    return ok ? 0 : -1;
}

static EVP_PKEY *ewlh_key(const ewl_sig_key_t *key)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    BIGNUM *n = NULL, *e = NULL;
    unsigned char point[1 + 2 * 66];
    int ok = bld != NULL;
    if (ok && key->type == EWL_KEY_RSA) {
        n = BN_bin2bn(key->modulus, (int)key->modulus_len, NULL);
        e = BN_bin2bn(key->exponent, (int)key->exponent_len, NULL);
        ok = n != NULL && e != NULL && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
             OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
        ctx = ok ? EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL) : NULL;
    } else if (ok && key->type == EWL_KEY_EC) {
        const char *group = key->curve == EWL_CURVE_P256   ? "prime256v1"
                            : key->curve == EWL_CURVE_P384 ? "secp384r1"
                                                           : "secp521r1";
        point[0] = 4;
        memcpy(point + 1, key->x, key->coordinate_len);
        memcpy(point + 1 + key->coordinate_len, key->y, key->coordinate_len);
        ok = OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) &&
             OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point,
                                              1 + 2 * key->coordinate_len);
        ctx = ok ? EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL) : NULL;
    } else {
        ok = 0;
    }
    ok = ok && ctx != NULL && (params = OSSL_PARAM_BLD_to_param(bld)) != NULL &&
         EVP_PKEY_fromdata_init(ctx) == 1 &&
         EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
    if (!ok) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    BN_free(n);
    BN_free(e);
    return pkey;
}

static int ewlh_verify(void *ctx, const ewl_sig_key_t *key, int alg, int padding,
                       unsigned salt_length, const uint8_t *digest, size_t digest_len,
                       const uint8_t *signature, size_t signature_len)
{
    const EVP_MD *md = ewlh_md(alg);
    EVP_PKEY *pkey = ewlh_key(key);
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char *der = NULL;
    const unsigned char *sig = signature;
    size_t sig_len = signature_len;
    int result = EWL_VERIFY_UNSUPPORTED;
    (void)ctx;
    if (pkey == NULL || md == NULL || (pctx = EVP_PKEY_CTX_new(pkey, NULL)) == NULL ||
        EVP_PKEY_verify_init(pctx) != 1 || EVP_PKEY_CTX_set_signature_md(pctx, md) != 1) {
        goto done;
    }
    if (padding == EWL_PAD_PKCS1) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
            goto done;
        }
    } else if (padding == EWL_PAD_PSS) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, (int)salt_length) != 1) {
            goto done;
        }
    } else if (padding == EWL_PAD_ECDSA) {
        /* r || s back to the DER OpenSSL takes. */
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(signature, (int)(signature_len / 2), NULL);
        BIGNUM *s = BN_bin2bn(signature + signature_len / 2, (int)(signature_len / 2), NULL);
        int n;
        if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
            ECDSA_SIG_free(es);
            BN_free(r);
            BN_free(s);
            goto done;
        }
        n = i2d_ECDSA_SIG(es, &der);
        ECDSA_SIG_free(es);
        if (n <= 0) {
            goto done;
        }
        sig = der;
        sig_len = (size_t)n;
    } else {
        goto done;
    }
    result = EVP_PKEY_verify(pctx, sig, sig_len, digest, digest_len) == 1 ? EWL_VERIFY_OK
                                                                           : EWL_VERIFY_BAD;
done:
    OPENSSL_free(der);
    EVP_PKEY_CTX_free(pctx);
    EVP_PKEY_free(pkey);
    return result;
}

void ewlh_sig_openssl(ewl_sig_crypto_t *crypto)
{
    crypto->ctx = NULL;
    crypto->hash = ewlh_hash;
    crypto->verify = ewlh_verify;
}

static int ewlh_stub_hash(void *ctx, int alg, const uint8_t *a, size_t a_len, const uint8_t *b,
                          size_t b_len, uint8_t *out)
{
    uint32_t h = 2166136261u;
    size_t i, n = ewl_hash_size(alg);
    (void)ctx;
    if (n == 0) {
        return -1;
    }
    for (i = 0; i < a_len; i++) {
        h = (h ^ a[i]) * 16777619u;
    }
    for (i = 0; i < b_len; i++) {
        h = (h ^ b[i]) * 16777619u;
    }
    for (i = 0; i < n; i++) {
        h = (h ^ (uint32_t)i) * 16777619u;
        out[i] = (uint8_t)(h >> 24);
    }
    return 0;
}

static int ewlh_stub_verify(void *ctx, const ewl_sig_key_t *key, int alg, int padding,
                            unsigned salt_length, const uint8_t *digest, size_t digest_len,
                            const uint8_t *signature, size_t signature_len)
{
    uint32_t h = 0;
    size_t i;
    (void)ctx;
    (void)salt_length;
    if (ewl_hash_size(alg) != digest_len || signature_len == 0) {
        return EWL_VERIFY_BAD;
    }
    for (i = 0; i < digest_len; i++) {
        h += digest[i];
    }
    for (i = 0; i < signature_len; i++) {
        h += signature[i];
    }
    if (key->type == EWL_KEY_RSA) {
        for (i = 0; i < key->modulus_len; i++) {
            h += key->modulus[i];
        }
        for (i = 0; i < key->exponent_len; i++) {
            h += key->exponent[i];
        }
        if (padding != EWL_PAD_PKCS1 && padding != EWL_PAD_PSS) {
            abort();
        }
    } else if (key->type == EWL_KEY_EC) {
        for (i = 0; i < key->coordinate_len; i++) {
            h += key->x[i] + key->y[i];
        }
        if (padding != EWL_PAD_ECDSA || signature_len != 2 * key->coordinate_len) {
            abort();
        }
    } else {
        abort();
    }
    return (h & 1u) == 0 ? EWL_VERIFY_OK : EWL_VERIFY_BAD;
}

void ewlh_sig_stub(ewl_sig_crypto_t *crypto)
{
    crypto->ctx = NULL;
    crypto->hash = ewlh_stub_hash;
    crypto->verify = ewlh_stub_verify;
}
