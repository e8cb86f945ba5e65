/* VGA text console. Shared with the loader: all state lives in `vga` below,
 * and the only address used is the fixed, identity-mapped 0xB8000. */
#include "vga.h"

#include <stdint.h>

#include "io.h"

#define VGA_BUFFER_PHYS 0xB8000
#define CRTC_INDEX 0x3D4 /* colour adapters; 0x3B4 would be monochrome */
#define CRTC_DATA 0x3D5
#define CRTC_CURSOR_HIGH 0x0E /* cursor location, in cells from the screen start */
#define CRTC_CURSOR_LOW 0x0F
#define TAB_WIDTH 8

struct vga_console {
    volatile uint16_t *buffer; /* volatile: MMIO, every store must reach the card */
    unsigned row, col;
    uint8_t attr; /* high nibble background, low nibble foreground */
};

static struct vga_console vga;

static inline uint8_t make_attr(enum vga_color fg, enum vga_color bg)
{
    return (uint8_t)((((unsigned)bg & 0xF) << 4) | ((unsigned)fg & 0xF));
}

static inline uint16_t make_cell(char c, uint8_t attr)
{
    return (uint16_t)((uint16_t)attr << 8 | (uint8_t)c);
}

static void clear_row(unsigned row)
{
    for (unsigned col = 0; col < VGA_COLS; col++)
        vga.buffer[row * VGA_COLS + col] = make_cell(' ', vga.attr);
}

static void update_cursor(void)
{
    uint16_t pos = (uint16_t)(vga.row * VGA_COLS + vga.col);
    outb(CRTC_INDEX, CRTC_CURSOR_HIGH);
    outb(CRTC_DATA, (uint8_t)(pos >> 8));
    outb(CRTC_INDEX, CRTC_CURSOR_LOW);
    outb(CRTC_DATA, (uint8_t)pos);
}

static void scroll(void)
{
    for (unsigned i = 0; i < (VGA_ROWS - 1) * VGA_COLS; i++)
        vga.buffer[i] = vga.buffer[i + VGA_COLS];
    clear_row(VGA_ROWS - 1);
    vga.row = VGA_ROWS - 1;
}

void vga_init(void)
{
    vga.buffer = (volatile uint16_t *)(uintptr_t)VGA_BUFFER_PHYS;
    vga.attr = make_attr(VGA_LIGHT_GREY, VGA_BLACK);
    for (unsigned row = 0; row < VGA_ROWS; row++)
        clear_row(row);
    vga.row = 0;
    vga.col = 0;
    update_cursor();
}

void vga_attach(void)
{
    vga.buffer = (volatile uint16_t *)(uintptr_t)VGA_BUFFER_PHYS;
    vga.attr = make_attr(VGA_LIGHT_GREY, VGA_BLACK);
    outb(CRTC_INDEX, CRTC_CURSOR_HIGH);
    uint16_t pos = (uint16_t)(inb(CRTC_DATA) << 8);
    outb(CRTC_INDEX, CRTC_CURSOR_LOW);
    pos |= inb(CRTC_DATA);
    if (pos >= VGA_ROWS * VGA_COLS) /* nonsense from an odd BIOS: start at the bottom */
        pos = (VGA_ROWS - 1) * VGA_COLS;
    vga.row = pos / VGA_COLS;
    vga.col = pos % VGA_COLS;
}

void vga_set_color(enum vga_color fg, enum vga_color bg)
{
    vga.attr = make_attr(fg, bg);
}

/* One character, without moving the hardware cursor (vga_write does that once). */
static void put_char(char c)
{
    switch (c) {
    case '\n':
        vga.col = 0;
        vga.row++;
        break;
    case '\r':
        vga.col = 0;
        break;
    case '\t':
        vga.col = (vga.col + TAB_WIDTH) & ~(unsigned)(TAB_WIDTH - 1);
        if (vga.col >= VGA_COLS) {
            vga.col = 0;
            vga.row++;
        }
        break;
    case '\b':
        if (vga.col > 0)
            vga.col--;
        break;
    default:
        vga.buffer[vga.row * VGA_COLS + vga.col] = make_cell(c, vga.attr);
        if (++vga.col == VGA_COLS) {
            vga.col = 0;
            vga.row++;
        }
        break;
    }
    if (vga.row >= VGA_ROWS)
        scroll();
}

void vga_write(const char *s, size_t n)
{
    if (!vga.buffer) /* neither vga_init nor vga_attach ran: attach rather than crash */
        vga_attach();
    for (size_t i = 0; i < n; i++)
        put_char(s[i]);
    update_cursor();
}
