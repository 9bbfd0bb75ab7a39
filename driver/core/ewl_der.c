/* The bounded DER reader: see ewl_der.h. */
#include "ewl_der.h"

void ewl_der_init(ewl_der_t *d, const uint8_t *buf, size_t off, size_t len)
{
    d->buf = buf;
    d->pos = off;
    d->end = off + len;
    d->depth = 0;
}

/* Decode the header at d->pos into *t; the content must end by d->end. */
static int ewl_der_header(const ewl_der_t *d, ewl_der_tlv_t *t)
{
    size_t avail = d->end - d->pos;
    size_t len = 0;
    size_t hdr = 2;
    unsigned first;
    unsigned tag;
    if (d->pos >= d->end) {
        return EWL_DER_END;
    }
    if (avail < 2) {
        return EWL_DER_ERROR;
    }
    tag = d->buf[d->pos];
    if ((tag & 0x1fu) == 0x1fu) {
        return EWL_DER_ERROR; /* high tag number form */
    }
    first = d->buf[d->pos + 1];
    if (first < 0x80u) {
        len = first;
    } else {
        unsigned n = first & 0x7fu;
        unsigned i;
        if (n == 0 || n > 4 || avail - 2 < n) {
            return EWL_DER_ERROR; /* indefinite, or more octets than we take */
        }
        if (d->buf[d->pos + 2] == 0) {
            return EWL_DER_ERROR; /* a leading zero octet: not minimal */
        }
        for (i = 0; i < n; i++) {
            len = (len << 8) | d->buf[d->pos + 2 + i];
        }
        if (len < 0x80u || len > EWL_DER_MAX_LENGTH) {
            return EWL_DER_ERROR; /* the short form was required, or too long */
        }
        hdr += n;
    }
    if (len > avail - hdr) {
        return EWL_DER_ERROR; /* past the enclosing element */
    }
    t->tag = tag;
    t->off = d->pos;
    t->hdr = hdr;
    t->len = len;
    return EWL_DER_OK;
}

int ewl_der_read(ewl_der_t *d, ewl_der_tlv_t *t)
{
    int r = ewl_der_header(d, t);
    if (r == EWL_DER_OK) {
        d->pos = t->off + t->hdr + t->len;
    }
    return r;
}

int ewl_der_expect(ewl_der_t *d, unsigned tag, ewl_der_tlv_t *t)
{
    ewl_der_t saved = *d;
    if (ewl_der_read(d, t) != EWL_DER_OK || t->tag != tag) {
        *d = saved;
        return EWL_DER_ERROR;
    }
    return EWL_DER_OK;
}

int ewl_der_peek(const ewl_der_t *d, unsigned *tag)
{
    if (d->pos >= d->end) {
        return EWL_DER_END;
    }
    *tag = d->buf[d->pos];
    return EWL_DER_OK;
}

int ewl_der_enter(const ewl_der_t *d, const ewl_der_tlv_t *t, ewl_der_t *inner)
{
    if ((t->tag & EWL_DER_CONSTRUCTED) == 0 || d->depth >= EWL_DER_MAX_DEPTH) {
        return EWL_DER_ERROR;
    }
    inner->buf = d->buf;
    inner->pos = t->off + t->hdr;
    inner->end = inner->pos + t->len;
    inner->depth = d->depth + 1;
    return EWL_DER_OK;
}

int ewl_der_at_end(const ewl_der_t *d)
{
    return d->pos >= d->end;
}

ewl_der_view_t ewl_der_whole(const ewl_der_tlv_t *t)
{
    ewl_der_view_t v;
    v.off = t->off;
    v.len = t->hdr + t->len;
    return v;
}

ewl_der_view_t ewl_der_content(const ewl_der_tlv_t *t)
{
    ewl_der_view_t v;
    v.off = t->off + t->hdr;
    v.len = t->len;
    return v;
}

int ewl_der_view_equal(const uint8_t *buf_a, ewl_der_view_t a, const uint8_t *buf_b,
                       ewl_der_view_t b)
{
    size_t i;
    unsigned diff = 0;
    if (a.len != b.len) {
        return 0;
    }
    for (i = 0; i < a.len; i++) {
        diff |= (unsigned)(buf_a[a.off + i] ^ buf_b[b.off + i]);
    }
    return diff == 0;
}

int ewl_der_view_is(const uint8_t *buf, ewl_der_view_t v, const uint8_t *lit, size_t n)
{
    ewl_der_view_t l;
    l.off = 0;
    l.len = n;
    return ewl_der_view_equal(buf, v, lit, l);
}

int ewl_der_integer(const uint8_t *buf, const ewl_der_tlv_t *t, int *negative,
                    ewl_der_view_t *magnitude)
{
    ewl_der_view_t v = ewl_der_content(t);
    if (t->tag != EWL_DER_INTEGER || v.len == 0) {
        return EWL_DER_ERROR;
    }
    if (v.len > 1 && ((buf[v.off] == 0x00u && buf[v.off + 1] < 0x80u) ||
                      (buf[v.off] == 0xffu && buf[v.off + 1] >= 0x80u))) {
        return EWL_DER_ERROR; /* a redundant sign octet */
    }
    *negative = buf[v.off] >= 0x80u;
    if (v.len > 1 && buf[v.off] == 0x00u) {
        v.off++;
        v.len--;
    }
    *magnitude = v;
    return EWL_DER_OK;
}

int ewl_der_bit_string(const uint8_t *buf, const ewl_der_tlv_t *t, ewl_der_view_t *bits,
                       unsigned *unused)
{
    ewl_der_view_t v = ewl_der_content(t);
    unsigned u;
    if (t->tag != EWL_DER_BIT_STRING || v.len == 0) {
        return EWL_DER_ERROR;
    }
    u = buf[v.off];
    if (u > 7 || (v.len == 1 && u != 0) ||
        (v.len > 1 && (buf[v.off + v.len - 1] & ((1u << u) - 1u)) != 0)) {
        return EWL_DER_ERROR;
    }
    bits->off = v.off + 1;
    bits->len = v.len - 1;
    *unused = u;
    return EWL_DER_OK;
}
