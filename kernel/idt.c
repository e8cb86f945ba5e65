/* 256-entry IDT of 64-bit interrupt gates; vectors 0-31 go to isr.asm. */
#include "idt.h"

#include <stddef.h>

#include "cpu.h"
#include "exceptions.h"
#include "gdt.h"
#include "panic.h"

_Static_assert(sizeof(struct interrupt_frame) == 22 * 8, "isr.asm pushes 22 qwords");
_Static_assert(offsetof(struct interrupt_frame, rax) == 14 * 8, "rax is pushed first");
_Static_assert(offsetof(struct interrupt_frame, vector) == 15 * 8, "vector after GPRs");
_Static_assert(offsetof(struct interrupt_frame, rip) == 17 * 8, "CPU frame at the top");

#define IDT_ENTRIES 256

/* 64-bit IDT gate descriptor, 16 bytes (SDM Vol 3A §6.14.1, Figure 6-8). */
struct idt_gate {
    uint16_t offset_low;  /* handler bits 15:0 */
    uint16_t selector;    /* code segment the handler runs in */
    uint8_t ist;          /* bits 2:0 interrupt stack table index, 0 = none */
    uint8_t type_attr;    /* P (bit 7), DPL (6:5), 0, type (3:0) */
    uint16_t offset_mid;  /* handler bits 31:16 */
    uint32_t offset_high; /* handler bits 63:32 */
    uint32_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct idt_gate) == 16, "64-bit gates are 16 bytes");

/* Operand of LIDT in 64-bit mode: 16-bit limit, 64-bit linear base (§6.10). */
struct idt_pointer {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

#define GATE_PRESENT 0x80
#define GATE_DPL0 0x00
#define GATE_TYPE_INTERRUPT 0x0E /* clears IF on entry, unlike a trap gate (0xF) */

/* Aligned to 16 so that no gate straddles a cache line (SDM recommends 8). */
static struct idt_gate idt[IDT_ENTRIES] __attribute__((aligned(16)));

extern const uint64_t isr_stub_table[EXCEPTION_VECTORS]; /* isr.asm */

static void set_gate(unsigned vector, uint64_t handler, uint16_t selector, uint8_t ist)
{
    idt[vector] = (struct idt_gate){
        .offset_low = (uint16_t)handler,
        .selector = selector,
        .ist = ist,
        .type_attr = GATE_PRESENT | GATE_DPL0 | GATE_TYPE_INTERRUPT,
        .offset_mid = (uint16_t)(handler >> 16),
        .offset_high = (uint32_t)(handler >> 32),
        .reserved = 0,
    };
}

void idt_init(void)
{
    /* gdt_init ran first: take the code selector we run in. */
    uint16_t cs = read_cs();
    for (unsigned v = 0; v < EXCEPTION_VECTORS; v++)
        set_gate(v, isr_stub_table[v], cs, 0);
    /* #DF switches to its own stack (gdt.c's TSS): it is how a kernel stack overflow
     * shows up, and the overflowed stack cannot take another push. */
    set_gate(8, isr_stub_table[8], cs, IST_DOUBLE_FAULT); /* #DF */
    /* Vectors 32-255 stay zero (no gate): INT n on one gives #GP(n * 8 + 2), which is caught. */
    struct idt_pointer ptr = { sizeof idt - 1, (uint64_t)(uintptr_t)idt };
    __asm__ volatile("lidt %0" : : "m"(ptr) : "memory");
}

/* The same LIDT for an AP (kernel/smp.c). Kept apart from idt_init's, whose own LIDT and
 * `ptr` tests/gdb/broken_driver.py breaks on. */
void idt_load(void)
{
    struct idt_pointer ptr = { sizeof idt - 1, (uint64_t)(uintptr_t)idt };
    __asm__ volatile("lidt %0" : : "m"(ptr) : "memory");
}

void exception_handler(struct interrupt_frame *frame)
{
    /* Every exception is fatal for now. The panic guards against faulting again. */
    panic_exception(frame);
}
