/* The framebuffer console: text on the screen when there is no VGA text mode (UEFI). */
#ifndef FARJUMP_FBCON_H
#define FARJUMP_FBCON_H

#include <stddef.h>
#include <stdint.h>

#include "bootinfo.h"

/* When boot_info describes a framebuffer, clear it and make it the console's screen
 * (console_set_screen); returns 1 then, 0 when the screen stays VGA text. Call before
 * console_init. */
int fbcon_init(const struct boot_info *bi);

/* The panic screen's row `row` (VGA text attribute `attr`, `cols` cells of `text`, padded
 * with blanks) drawn on the framebuffer; 0 when there is none (the screen is VGA text). */
int fbcon_put_row(unsigned row, uint8_t attr, const char *text, size_t len, unsigned cols);

#endif
