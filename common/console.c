#include "console.h"

#include "serial.h"
#include "vga.h"

void console_init(int keep_screen)
{
    serial_init();
    if (keep_screen)
        vga_attach();
    else
        vga_init();
}

void console_write(const char *s, size_t n)
{
    vga_write(s, n);
    serial_write(s, n);
}
