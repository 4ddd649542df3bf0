/* Reading a fuzz input as a stream of big-endian numbers (0 once it runs out). */
#ifndef SMIPC_FUZZ_INPUT_H
#define SMIPC_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

struct reader {
    const uint8_t *p;
    size_t left;
};

static inline unsigned take(struct reader *r, unsigned bytes)
{
    unsigned v = 0;
    for (unsigned i = 0; i < bytes && r->left; i++, r->left--)
        v = v << 8 | *r->p++;
    return v;
}

#endif
