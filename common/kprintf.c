/* One formatter, two sinks: a small stack buffer flushed to console_write
 * (kprintf) or a caller's buffer (ksnprintf). Shared with the loader, so it
 * only calls console_write. */
#include "kprintf.h"

#include <stdint.h>

#include "console.h"

#define CONSOLE_CHUNK 64

struct sink {
    char *buf;
    size_t cap;   /* bytes available in buf */
    size_t used;  /* bytes stored in buf */
    size_t total; /* characters produced, including those that did not fit */
    int console;  /* 1: flush buf to console_write when full */
};

static void sink_flush(struct sink *out)
{
    if (out->console && out->used) {
        /* NUL after the chunk (buf has room for it): console_write takes a length, but a
         * debugger shows its char * as a C string, and stale stack bytes after the chunk
         * would read as output. */
        out->buf[out->used] = '\0';
        console_write(out->buf, out->used);
        out->used = 0;
    }
}

static void sink_putc(struct sink *out, char c)
{
    if (out->console && out->used == out->cap)
        sink_flush(out);
    if (out->used < out->cap)
        out->buf[out->used++] = c;
    out->total++;
}

static void sink_pad(struct sink *out, char c, int count)
{
    while (count-- > 0)
        sink_putc(out, c);
}

struct spec {
    int left;      /* '-' */
    int zero;      /* '0' */
    int width;
    int precision; /* -1: none */
};

static void put_string(struct sink *out, const char *s, const struct spec *sp)
{
    int len = 0;
    while (s[len] && (sp->precision < 0 || len < sp->precision))
        len++;
    if (!sp->left)
        sink_pad(out, ' ', sp->width - len);
    for (int i = 0; i < len; i++)
        sink_putc(out, s[i]);
    if (sp->left)
        sink_pad(out, ' ', sp->width - len);
}

/* prefix: "-", "0x" or "" ; digits of the magnitude, in the given base. */
static void put_number(struct sink *out, uint64_t value, unsigned base, int upper,
                       const char *prefix, const struct spec *sp)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24]; /* 2^64 has 20 decimal digits */
    int n = 0;
    do {
        tmp[n++] = digits[value % base];
        value /= base;
    } while (value);
    if (sp->precision == 0 && n == 1 && tmp[0] == '0')
        n = 0; /* C: zero with precision 0 prints no digits */

    int prefix_len = 0;
    while (prefix[prefix_len])
        prefix_len++;
    int zeros = sp->precision > n ? sp->precision - n : 0;
    int pad = sp->width - prefix_len - zeros - n;
    /* '0' pads between the sign and the digits; ignored with '-' or a precision. */
    if (sp->zero && !sp->left && sp->precision < 0) {
        zeros += pad > 0 ? pad : 0;
        pad = 0;
    }
    if (!sp->left)
        sink_pad(out, ' ', pad);
    for (int i = 0; i < prefix_len; i++)
        sink_putc(out, prefix[i]);
    sink_pad(out, '0', zeros);
    while (n > 0)
        sink_putc(out, tmp[--n]);
    if (sp->left)
        sink_pad(out, ' ', pad);
}

enum length { LEN_HH, LEN_H, LEN_NONE, LEN_L, LEN_LL, LEN_Z };

static int parse_int(const char **p)
{
    int value = 0;
    while (**p >= '0' && **p <= '9') {
        if (value < 100000) /* clamp absurd widths instead of overflowing */
            value = value * 10 + (**p - '0');
        (*p)++;
    }
    return value;
}

__attribute__((noinline)) static void format(struct sink *out, const char *fmt, va_list ap)
{
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            sink_putc(out, *p);
            continue;
        }
        const char *start = p++;
        struct spec sp = { 0, 0, 0, -1 };

        for (;; p++) {
            if (*p == '-')
                sp.left = 1;
            else if (*p == '0')
                sp.zero = 1;
            else
                break;
        }
        if (*p == '*') {
            sp.width = va_arg(ap, int);
            if (sp.width < 0) { /* C: a negative '*' width means '-' */
                sp.left = 1;
                sp.width = -sp.width;
            }
            p++;
        } else {
            sp.width = parse_int(&p);
        }
        if (*p == '.') {
            p++;
            if (*p == '*') {
                sp.precision = va_arg(ap, int);
                if (sp.precision < 0)
                    sp.precision = -1;
                p++;
            } else {
                sp.precision = parse_int(&p);
            }
        }

        enum length len = LEN_NONE;
        if (*p == 'h') {
            len = LEN_H;
            if (*++p == 'h') {
                len = LEN_HH;
                p++;
            }
        } else if (*p == 'l') {
            len = LEN_L;
            if (*++p == 'l') {
                len = LEN_LL;
                p++;
            }
        } else if (*p == 'z') {
            len = LEN_Z;
            p++;
        }

        switch (*p) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            put_string(out, s ? s : "(null)", &sp);
            break;
        }
        case 'c': {
            char c = (char)va_arg(ap, int); /* promoted to int through '...' */
            if (!sp.left)
                sink_pad(out, ' ', sp.width - 1);
            sink_putc(out, c);
            if (sp.left)
                sink_pad(out, ' ', sp.width - 1);
            break;
        }
        case 'd':
        case 'i': {
            int64_t v;
            switch (len) {
            case LEN_HH: v = (signed char)va_arg(ap, int); break;
            case LEN_H: v = (short)va_arg(ap, int); break;
            case LEN_L: v = va_arg(ap, long); break;
            case LEN_LL: v = va_arg(ap, long long); break;
            case LEN_Z: v = (int64_t)va_arg(ap, size_t); break; /* no ssize_t here */
            default: v = va_arg(ap, int); break;
            }
            /* Negate in unsigned arithmetic: -INT64_MIN overflows in signed. */
            uint64_t mag = v < 0 ? -(uint64_t)v : (uint64_t)v;
            put_number(out, mag, 10, 0, v < 0 ? "-" : "", &sp);
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            uint64_t v;
            switch (len) {
            case LEN_HH: v = (unsigned char)va_arg(ap, unsigned); break;
            case LEN_H: v = (unsigned short)va_arg(ap, unsigned); break;
            case LEN_L: v = va_arg(ap, unsigned long); break;
            case LEN_LL: v = va_arg(ap, unsigned long long); break;
            case LEN_Z: v = va_arg(ap, size_t); break;
            default: v = va_arg(ap, unsigned); break;
            }
            put_number(out, v, *p == 'u' ? 10 : 16, *p == 'X', "", &sp);
            break;
        }
        case 'p': {
            struct spec ptr = sp;
            ptr.zero = 0;
            ptr.precision = 16; /* always all 16 digits: addresses line up */
            put_number(out, (uint64_t)(uintptr_t)va_arg(ap, void *), 16, 0, "0x", &ptr);
            break;
        }
        case '%':
            sink_putc(out, '%');
            break;
        case '\0': /* a lone '%' at the end: print what there is and stop */
            for (const char *q = start; q < p; q++)
                sink_putc(out, *q);
            return;
        default: /* unknown: print the whole specification as written */
            for (const char *q = start; q <= p; q++)
                sink_putc(out, *q);
            break;
        }
    }
}

int kvprintf(const char *fmt, va_list ap)
{
    char chunk[CONSOLE_CHUNK + 1];  /* + the NUL sink_flush writes */
    struct sink out = { chunk, CONSOLE_CHUNK, 0, 0, 1 };
    format(&out, fmt, ap);
    sink_flush(&out);
    return (int)out.total;
}

int kprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = kvprintf(fmt, ap);
    va_end(ap);
    return n;
}

int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    /* Keep the last byte for the terminating NUL; size 0 writes nothing. */
    struct sink out = { buf, size ? size - 1 : 0, 0, 0, 0 };
    format(&out, fmt, ap);
    if (size)
        buf[out.used] = '\0';
    return (int)out.total;
}

int ksnprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = kvsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}
