/* printf for the kernel and the loader.
 *
 * Conversions: %s (NULL prints "(null)") %c %d %i %u %x %X %p (0x + 16 hex digits) %%.
 * Flags '-' (left-justify) and '0' (zero-pad numbers), field width (digits or '*'),
 * precision ('.' digits or '*': maximum characters for %s, minimum digits for
 * integers), length modifiers hh h l ll z. An unknown conversion is printed as
 * written. All functions return the number of characters the output has
 * (ksnprintf: would have had, as C snprintf does). */
#ifndef FARJUMP_KPRINTF_H
#define FARJUMP_KPRINTF_H

#include <stdarg.h>
#include <stddef.h>

__attribute__((format(printf, 1, 2))) int kprintf(const char *fmt, ...);
__attribute__((format(printf, 1, 0))) int kvprintf(const char *fmt, va_list ap);
__attribute__((format(printf, 3, 4))) int ksnprintf(char *buf, size_t size, const char *fmt, ...);
__attribute__((format(printf, 3, 0))) int kvsnprintf(char *buf, size_t size, const char *fmt,
                                                     va_list ap);

#endif
