/* The framebuffer console: text on the screen when there is no VGA text mode (UEFI). */
#ifndef FARJUMP_FBCON_H
#define FARJUMP_FBCON_H

#include "bootinfo.h"

/* When boot_info describes a framebuffer, clear it and make it the console's screen
 * (console_set_screen); returns 1 then, 0 when the screen stays VGA text. Call before
 * console_init. */
int fbcon_init(const struct boot_info *bi);

#endif
