/* SPDX-License-Identifier: Apache-2.0 */
/* Secrets at rest: AES-256-GCM sealing under a key-encryption key (KEK), one module for all. */
#ifndef BADGEFLOW_SEAL_H
#define BADGEFLOW_SEAL_H

#include <stddef.h>

#include "badgeflow/err.h"

#define BF_SEAL_KEK_LEN   32 /* AES-256 */
#define BF_SEAL_NONCE_LEN 12 /* random per seal: GCM's 96-bit IV */
#define BF_SEAL_TAG_LEN   16
#define BF_SEAL_VERSION   1 /* the leading byte of BF_SEAL_V1 */

/*
 * The stored layouts. Both are AES-256-GCM with a fresh random nonce per seal and the tag
 * last; they differ only in the leading version byte. Values of both sit in databases
 * (docs/gateway.md, docs/issuer.md): a layout is never changed, only a new one added.
 */
enum bf_seal_fmt {
    BF_SEAL_V1,   /* 0x01 || nonce || ciphertext || tag: webhook secrets (gateway, notifier) */
    BF_SEAL_BARE, /* nonce || ciphertext || tag: issuer signing keys (the kid as AAD) */
};

/* Bytes a seal in fmt adds to the plaintext (29 for V1, 28 for BARE); constant for a
 * constant fmt, so it can size arrays. */
#define BF_SEAL_OVERHEAD(fmt)                                                                      \
    (((fmt) == BF_SEAL_V1 ? 1u : 0u) + BF_SEAL_NONCE_LEN + BF_SEAL_TAG_LEN)

/*
 * Parse a KEK written as 64 hex digits (either case) into kek.
 * hex: NUL-terminated, may be NULL (refused). kek: written only on success.
 * Returns 0, or -BF_EINVAL with err saying what is wrong (length, or the position of the
 * first non-hex character; never the key's characters). Callers prefix their config key.
 */
int bf_seal_kek_parse(const char *hex, unsigned char kek[BF_SEAL_KEK_LEN],
                      struct bf_err *err) BF_MUST_CHECK;

/*
 * As bf_seal_kek_parse(), also accepting the standard base64 of the 32 bytes (44 characters,
 * one '='). Returns 0 or -BF_EINVAL.
 */
int bf_seal_kek_parse_any(const char *s, unsigned char kek[BF_SEAL_KEK_LEN],
                          struct bf_err *err) BF_MUST_CHECK;

/*
 * Seal len bytes of plain under kek in layout fmt, binding aad (NUL-terminated text, or NULL
 * or "" for none: the same thing in GCM) as additional authenticated data.
 * out: caller's buffer of cap bytes, at least len + BF_SEAL_OVERHEAD(fmt); *outlen gets the
 * bytes written. Nothing is kept or allocated.
 * Returns 0, -BF_ETOOBIG (plaintext over INT_MAX), -BF_EINTERNAL (cap too small, or OpenSSL
 * failed) or -BF_EIO (no randomness for the nonce); err says which.
 */
int bf_seal(const unsigned char kek[BF_SEAL_KEK_LEN], enum bf_seal_fmt fmt, const char *aad,
            const void *plain, size_t len, unsigned char *out, size_t cap, size_t *outlen,
            struct bf_err *err) BF_MUST_CHECK;

/*
 * Open len bytes of sealed (layout fmt) under kek with the aad it was sealed with.
 * out: caller's buffer of cap bytes (non-NULL even for an empty plaintext); gets the
 * plaintext, len - BF_SEAL_OVERHEAD(fmt) bytes, in *outlen. On failure out is wiped.
 * Returns 0; -BF_EINVAL if the value is shorter than the overhead or of another format
 * version; -BF_ETOOBIG if the plaintext would not fit in cap; -BF_EDENIED if it does not
 * authenticate (another KEK, an altered or cut byte, another aad). err says which.
 */
int bf_seal_open(const unsigned char kek[BF_SEAL_KEK_LEN], enum bf_seal_fmt fmt, const char *aad,
                 const unsigned char *sealed, size_t len, unsigned char *out, size_t cap,
                 size_t *outlen, struct bf_err *err) BF_MUST_CHECK;

#endif
