/* GDT and TSS (SDM Vol 3A §3.4.5, §7.7, §8.2.3 64-bit TSS).
 *
 * The loader's GDT has no TSS, and without a TSS the CPU cannot switch stacks on an
 * exception: a kernel stack overflow then faults again while pushing the #PF frame
 * (-> #DF), and again while pushing the #DF frame (-> triple fault, reset), so no
 * panic screen would ever appear. With IST1 in the TSS and vector 8's gate pointing at
 * it, #DF always starts on double_fault_stack. */
#include "gdt.h"

#include <stddef.h>
#include <stdint.h>

/* 64-bit TSS, SDM Vol 3A Figure 8-11. Only the IST matters here (no ring 3 yet, so
 * RSP0-2 are never used). */
struct tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7]; /* ist[0] is IST1 */
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base; /* >= limit: no I/O permission bitmap */
} __attribute__((packed));
_Static_assert(sizeof(struct tss64) == 104, "SDM Figure 8-11");

#define GDT_ENTRIES 7
_Static_assert(SEL_TSS / 8 + 2 == GDT_ENTRIES, "the TSS descriptor is the last, 16 bytes");

/* 8 KiB: the panic path (kprintf buffers, the symbol lookup) needs about 1 KiB;
 * the rest is slack for a fault inside the panic. 16-byte aligned for the ABI. */
unsigned char double_fault_stack[DOUBLE_FAULT_STACK_SIZE] __attribute__((aligned(16)));
#define double_fault_stack_end (double_fault_stack + DOUBLE_FAULT_STACK_SIZE)

static struct tss64 tss;

/* Code/data descriptors, written as the loader writes them (base 0, limit 4 GiB, G=1):
 * 9A = present, DPL0, code execute/read; 92 = present, DPL0, data read/write;
 * flags nibble C = G+D (32-bit), A = G+L (64-bit code). */
static uint64_t gdt[GDT_ENTRIES] __attribute__((aligned(16))) = {
    [0] = 0, /* the null selector */
    [SEL_CODE32 / 8] = 0x00cf9a000000ffff,
    [SEL_DATA32 / 8] = 0x00cf92000000ffff,
    [SEL_CODE64 / 8] = 0x00af9a000000ffff,
    [SEL_DATA64 / 8] = 0x00cf92000000ffff,
    /* the TSS descriptor is filled in at run time: its base is an address */
};

/* LGDT operand in 64-bit mode: 16-bit limit, 64-bit base (§3.5.1). */
struct gdt_pointer {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

/* 64-bit TSS descriptor, SDM Vol 3A Figure 8-4: a 16-byte system descriptor. */
static void set_tss_descriptor(uint64_t base, uint32_t limit)
{
    uint64_t low = (limit & 0xFFFFull)                /* limit 15:0 */
                   | (base & 0xFFFFFFull) << 16       /* base 23:0 */
                   | 0x89ull << 40                    /* P=1, DPL0, type 9: 64-bit TSS (available) */
                   | (uint64_t)((limit >> 16) & 0xF) << 48 /* limit 19:16, G=0: bytes */
                   | ((base >> 24) & 0xFFull) << 56;  /* base 31:24 */
    gdt[SEL_TSS / 8] = low;
    gdt[SEL_TSS / 8 + 1] = base >> 32; /* base 63:32, then reserved zero */
}

void gdt_init(void)
{
    tss.ist[IST_DOUBLE_FAULT - 1] = (uint64_t)(uintptr_t)double_fault_stack_end;
    tss.iomap_base = sizeof tss;
    set_tss_descriptor((uint64_t)(uintptr_t)&tss, sizeof tss - 1);

    struct gdt_pointer ptr = { sizeof gdt - 1, (uint64_t)(uintptr_t)gdt };
    /* LGDT alone changes nothing until the segment registers are reloaded: CS through
     * a far return (no far JMP with a 64-bit target exists), the data registers by MOV. */
    __asm__ volatile("lgdt %0\n\t"
                     "pushq %1\n\t"
                     "leaq 1f(%%rip), %%rax\n\t"
                     "pushq %%rax\n\t"
                     "lretq\n"
                     "1:\n\t"
                     "movw %2, %%ax\n\t"
                     "movw %%ax, %%ds\n\t"
                     "movw %%ax, %%es\n\t"
                     "movw %%ax, %%ss\n\t"
                     "movw %%ax, %%fs\n\t"
                     "movw %%ax, %%gs\n\t"
                     "ltr %w3"
                     :
                     : "m"(ptr), "i"(SEL_CODE64), "i"(SEL_DATA64), "r"((uint16_t)SEL_TSS)
                     : "rax", "memory");
}
