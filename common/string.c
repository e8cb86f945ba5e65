/* memset/memcpy/memmove with REP string instructions: GCC's loop-idiom pass
 * would turn the plain C loops back into calls to these very functions.
 * The direction flag is clear on entry by the SysV ABI (and our interrupt
 * stubs do not change it), so REP MOVSB/STOSB walk upwards. */
#include "string.h"

#include <stdint.h>

/* Large blocks go 8 bytes per iteration (REP STOSQ/MOVSQ), then the tail byte-wise:
 * emulators run a REP string instruction one iteration at a time (QEMU TCG: about 15 ns
 * each), and the loader clears and copies ~70 KiB of kernel on every boot. */
void *memset(void *dst, int c, size_t n)
{
    void *d = dst;
    if (n >= 64) {
        size_t q = n / 8;
        uint64_t v = (uint8_t)c * 0x0101010101010101ull;
        __asm__ volatile("rep stosq" : "+D"(d), "+c"(q) : "a"(v) : "memory");
        n %= 8;
    }
    __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
    return dst;
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    void *d = dst;
    if (n >= 64) {
        size_t q = n / 8;
        __asm__ volatile("rep movsq" : "+D"(d), "+S"(src), "+c"(q) : : "memory");
        n %= 8;
    }
    __asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d <= s || d >= s + n)
        return memcpy(dst, src, n);
    /* Overlap with dst above src: copy backwards (DF=1), then restore DF=0. */
    d += n - 1;
    s += n - 1;
    __asm__ volatile("std; rep movsb; cld" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *p = a, *q = b;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != q[i])
            return p[i] < q[i] ? -1 : 1;
    }
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}
