#include "console.h"

#include "serial.h"
#include "vga.h"

/* Set by console_set_screen: a screen other than VGA text (the kernel's framebuffer
 * console, kernel/fbcon.c). NULL: the VGA text buffer. */
static void (*screen_write)(const char *s, size_t n);

void console_set_screen(void (*write)(const char *s, size_t n))
{
    screen_write = write;
}

void console_init(int keep_screen)
{
    serial_init();
    if (screen_write)
        return; /* no VGA text mode: 0xb8000 may be framebuffer memory */
    if (keep_screen)
        vga_attach();
    else
        vga_init();
}

void console_write(const char *s, size_t n)
{
    if (screen_write)
        screen_write(s, n);
    else
        vga_write(s, n);
    serial_write(s, n);
}
