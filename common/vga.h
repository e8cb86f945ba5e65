/* VGA 80x25 colour text mode at 0xB8000 (identity-mapped in both loader and kernel). */
#ifndef FARJUMP_VGA_H
#define FARJUMP_VGA_H

#include <stddef.h>

enum vga_color {
    VGA_BLACK = 0,
    VGA_BLUE = 1,
    VGA_GREEN = 2,
    VGA_CYAN = 3,
    VGA_RED = 4,
    VGA_MAGENTA = 5,
    VGA_BROWN = 6,
    VGA_LIGHT_GREY = 7,
    VGA_DARK_GREY = 8,
    VGA_LIGHT_BLUE = 9,
    VGA_LIGHT_GREEN = 10,
    VGA_LIGHT_CYAN = 11,
    VGA_LIGHT_RED = 12,
    VGA_LIGHT_MAGENTA = 13,
    VGA_YELLOW = 14,
    VGA_WHITE = 15,
};

#define VGA_COLS 80
#define VGA_ROWS 25

void vga_init(void);   /* clear to light grey on black, cursor at 0,0 */
void vga_attach(void); /* keep the screen, continue at the hardware cursor */
void vga_set_color(enum vga_color fg, enum vga_color bg);
void vga_write(const char *s, size_t n);

#endif
