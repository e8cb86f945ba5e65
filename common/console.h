/* The console: every line goes to both the VGA screen and COM1. */
#ifndef FARJUMP_CONSOLE_H
#define FARJUMP_CONSOLE_H

#include <stddef.h>

/* keep_screen != 0: continue below what is on screen (the loader, after the BIOS);
 * 0: clear the screen (the kernel). */
void console_init(int keep_screen);
void console_write(const char *s, size_t n);
/* Draw on another screen than VGA text (call before console_init; NULL: VGA text). */
void console_set_screen(void (*write)(const char *s, size_t n));

#endif
