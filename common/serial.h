/* COM1 16550 UART: the console's second half, readable from QEMU's -serial. */
#ifndef FARJUMP_SERIAL_H
#define FARJUMP_SERIAL_H

#include <stddef.h>

void serial_init(void);
void serial_putc(char c);
void serial_write(const char *s, size_t n);

#endif
