/* The MBR's boot_layout table: where stage 1 finds stage 2 and stage 2 the kernel.
 *
 * The image builder (qemu/fjqemu/image.py) fills it at BOOT_LAYOUT (layout.h), inside the
 * MBR just below the partition table, from the sizes of the files it puts on the disk;
 * stage1.asm reserves it as zeros. */
#ifndef FARJUMP_BOOT_LAYOUT_H
#define FARJUMP_BOOT_LAYOUT_H

#include <stdint.h>

#define LAYOUT_MAGIC 0x4a46u      /* "FJ" in memory order */
/* Stage 2 starts with a magic breakpoint and a short jump (4 bytes), then this magic,
 * which stage 1 checks: a missing or foreign stage 2 gives a message, not a jump into
 * garbage. */
#define STAGE2_MAGIC 0x32534a46u  /* "FJS2" in memory order */
#define STAGE2_MAGIC_OFFSET 4

struct boot_layout {
    uint16_t magic;          /* LAYOUT_MAGIC */
    uint32_t stage2_lba;     /* first sector of stage 2 */
    uint16_t stage2_sectors; /* its length in 512-byte sectors */
    uint32_t kernel_lba;     /* first sector of the kernel ELF file */
    uint32_t kernel_bytes;   /* its length in bytes */
} __attribute__((packed));

#endif
