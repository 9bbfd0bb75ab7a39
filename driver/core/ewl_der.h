/* A bounded DER reader: the one place the core decodes ASN.1
 * (reference signers.md §9, "Bounded DER reader rules for the core").
 *
 * - Definite, minimal lengths only (no indefinite form, no long form for a
 *   length under 128, no leading zero length octet), at most 4 length octets.
 * - Low tag numbers only (one identifier octet): the high-tag form is refused.
 * - A TLV never extends past the element that encloses it (or the buffer).
 * - Entering a constructed element counts one level; EWL_DER_MAX_DEPTH bounds
 *   it per parse. Nothing here recurses: callers walk one level at a time.
 * - Views are (offset, length) pairs into the caller's buffer; nothing is
 *   copied or allocated.
 *
 * Portable C99 (<stdint.h>/<stddef.h> only, no libc, no globals). */
#ifndef EWL_DER_H
#define EWL_DER_H

#include <stddef.h>
#include <stdint.h>

#define EWL_DER_MAX_DEPTH 16u
/* The largest length accepted (4 length octets, kept under 2^31 so that
 * offset + length never wraps a 32-bit size_t for buffers under 2 GiB). */
#define EWL_DER_MAX_LENGTH 0x7fffffffu

/* Universal tags as they appear in the identifier octet. */
#define EWL_DER_BOOLEAN 0x01u
#define EWL_DER_INTEGER 0x02u
#define EWL_DER_BIT_STRING 0x03u
#define EWL_DER_OCTET_STRING 0x04u
#define EWL_DER_NULL 0x05u
#define EWL_DER_OID 0x06u
#define EWL_DER_UTF8_STRING 0x0cu
#define EWL_DER_PRINTABLE_STRING 0x13u
#define EWL_DER_T61_STRING 0x14u
#define EWL_DER_IA5_STRING 0x16u
#define EWL_DER_UTC_TIME 0x17u
#define EWL_DER_GENERALIZED_TIME 0x18u
#define EWL_DER_UNIVERSAL_STRING 0x1cu
#define EWL_DER_BMP_STRING 0x1eu
#define EWL_DER_SEQUENCE 0x30u
#define EWL_DER_SET 0x31u
#define EWL_DER_CONSTRUCTED 0x20u
/* [n] context-specific, constructed (EXPLICIT, or IMPLICIT over a
 * constructed type) and primitive. */
#define EWL_DER_CONTEXT(n) (0xa0u | (n))
#define EWL_DER_CONTEXT_PRIMITIVE(n) (0x80u | (n))

/* What the reader functions return. */
#define EWL_DER_OK 0
#define EWL_DER_END 1   /* no element left (ewl_der_read at the end) */
#define EWL_DER_ERROR 2 /* not DER, past its enclosing element, too deep... */

/* A byte range of the caller's buffer. */
typedef struct ewl_der_view {
    size_t off;
    size_t len;
} ewl_der_view_t;

/* One element: identifier octet, where it starts, header and content sizes. */
typedef struct ewl_der_tlv {
    unsigned tag;
    size_t off; /* of the identifier octet */
    size_t hdr; /* identifier and length octets */
    size_t len; /* content octets */
} ewl_der_tlv_t;

/* Reading position inside one element's content (or the whole buffer). */
typedef struct ewl_der {
    const uint8_t *buf;
    size_t pos;
    size_t end;
    unsigned depth;
} ewl_der_t;

/* A reader over buf[off, off + len) at depth 0; the caller guarantees that
 * range lies inside its buffer. */
void ewl_der_init(ewl_der_t *d, const uint8_t *buf, size_t off, size_t len);

/* The next element (its header checked, its content inside the reader's
 * range), and the reader moved past it. EWL_DER_END when none is left. On
 * EWL_DER_ERROR the reader is unchanged. */
int ewl_der_read(ewl_der_t *d, ewl_der_tlv_t *t);

/* ewl_der_read, then EWL_DER_ERROR unless the element has this tag (a
 * missing element is an error too). */
int ewl_der_expect(ewl_der_t *d, unsigned tag, ewl_der_tlv_t *t);

/* The tag of the next element without reading it: EWL_DER_OK and *tag,
 * or EWL_DER_END. A malformed next element is left for ewl_der_read. */
int ewl_der_peek(const ewl_der_t *d, unsigned *tag);

/* A reader over a constructed element's content, one level deeper. Errors
 * when the element is primitive or EWL_DER_MAX_DEPTH would be passed. */
int ewl_der_enter(const ewl_der_t *d, const ewl_der_tlv_t *t, ewl_der_t *inner);

/* Whether every element of the reader's range has been read. */
int ewl_der_at_end(const ewl_der_t *d);

/* The whole element, and its content only. */
ewl_der_view_t ewl_der_whole(const ewl_der_tlv_t *t);
ewl_der_view_t ewl_der_content(const ewl_der_tlv_t *t);

/* Whether view a of buf_a holds the same bytes as view b of buf_b. */
int ewl_der_view_equal(const uint8_t *buf_a, ewl_der_view_t a, const uint8_t *buf_b,
                       ewl_der_view_t b);

/* Whether the view holds exactly the n bytes of lit. */
int ewl_der_view_is(const uint8_t *buf, ewl_der_view_t v, const uint8_t *lit, size_t n);

/* An INTEGER's content checked for DER (at least one octet, no redundant
 * leading 0x00 / 0xff octet): EWL_DER_OK, *negative, and *magnitude the
 * content without a leading 0x00 sign octet. */
int ewl_der_integer(const uint8_t *buf, const ewl_der_tlv_t *t, int *negative,
                    ewl_der_view_t *magnitude);

/* A BIT STRING's content checked for DER (an unused-bits octet 0-7, 0 for an
 * empty string, unused bits zero); *bits is the content after that octet and
 * *unused the count of unused bits. */
int ewl_der_bit_string(const uint8_t *buf, const ewl_der_tlv_t *t, ewl_der_view_t *bits,
                       unsigned *unused);

#endif /* EWL_DER_H */
