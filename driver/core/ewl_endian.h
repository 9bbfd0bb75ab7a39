/* Explicit little-endian loads and stores on byte pointers.
 *
 * The blob and PE files are little-endian byte streams with no alignment
 * promise, so every field is assembled from bytes: no casts of the buffer to
 * wider types or packed structs (which are undefined behaviour on unaligned
 * addresses and differ between compilers). Compilers turn these into single
 * loads on x86 and ARM64. */
#ifndef EWL_ENDIAN_H
#define EWL_ENDIAN_H

#include <stdint.h>

static inline uint16_t ewl_load_u16le(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] | ((unsigned)p[1] << 8));
}

static inline uint32_t ewl_load_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static inline void ewl_store_u32le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

#endif /* EWL_ENDIAN_H */
