/* Host crypto for ewl_signature.h: OpenSSL's libcrypto behind the core's
 * hash and verify callbacks (the kernel plugs in CNG instead), and a
 * deterministic stub for the fuzzer. */
#ifndef EWL_SIG_CRYPTO_H
#define EWL_SIG_CRYPTO_H

#include "ewl_signature.h"

/* OpenSSL: SHA-1/2 digests; RSA PKCS #1 v1.5 and PSS, ECDSA P-256/384/521. */
void ewlh_sig_openssl(ewl_sig_crypto_t *crypto);

/* The fuzzer's stub: a hash that mixes every byte it is given (so ASan sees
 * every range), a verify that reads the key and the signature and accepts
 * when their first bytes agree (so both outcomes are reached). */
void ewlh_sig_stub(ewl_sig_crypto_t *crypto);

#endif /* EWL_SIG_CRYPTO_H */
