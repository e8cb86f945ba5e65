/* Deliberate CPU exceptions, one per FJ_FAULT variant (see kernel/fault_hooks.h): test
 * code, linked only into the build/fault/ kernels, where these definitions of the hooks
 * replace the kernel's weak empty ones.
 *
 * Each fault happens inside its own non-inlined function, with inline assembly where
 * C would let the compiler move, fold or drop the faulting access, so the panic's
 * "RIP <symbol>" and stack trace are predictable: RIP in fault_<name>, called from
 * fault_inject, called from kernel_main. */
#include "fault_hooks.h"

#include <stdint.h>

#ifndef FJ_FAULT
#error "build with -DFJ_FAULT=NAME (the Makefile's build/fault/NAME.img rules)"
#endif

#define FAULT_divide 1
#define FAULT_invalid_opcode 2
#define FAULT_pf_unmapped 3
#define FAULT_pf_rodata 4
#define FAULT_pf_nx 5
#define FAULT_gp_noncanonical 6
#define FAULT_gp_selector 7
#define FAULT_gp_idt 8
#define FAULT_stack_overflow 9
#define FAULT_bad_rbp 10
#define FAULT_nested 11
#define FAULT_gp_idt_low 12
#define FAULT_triple_pf 13
#define FAULT_ID_(name) FAULT_##name
#define FAULT_ID(name) FAULT_ID_(name)
#define SELECTED FAULT_ID(FJ_FAULT)
#if SELECTED == 0 /* an unknown name expands to an identifier, which #if reads as 0 */
#error "unknown FJ_FAULT name: see the list in tests/guests/fault/fault.c"
#endif

/* Canonical (bits 63:47 equal) but mapped by nobody: far above the 1 GiB identity map
 * and below the kernel. The tests look for this exact CR2. */
#define UNMAPPED_ADDRESS 0x00000badc0de0000ull
/* Bits 63:47 not all equal: any access is #GP(0), not #PF (SDM Vol 3A §3.3.7.1). */
#define NONCANONICAL_ADDRESS 0x8000badc0de00000ull
/* Index 0x3FF, GDT, RPL 0: far past the end of the kernel's 7-entry GDT. */
#define BAD_SELECTOR 0x1ff8

#define FAULT_FN __attribute__((noinline, used))

/* #DE: DIV by zero. */
FAULT_FN void fault_divide(void)
{
    __asm__ volatile("xor %%ecx, %%ecx\n\tdiv %%ecx" : : : "rax", "rcx", "rdx");
}

/* #UD: UD2 is the architecturally guaranteed invalid opcode. */
FAULT_FN void fault_invalid_opcode(void)
{
    __asm__ volatile("ud2");
}

/* #PF, not present, read. */
FAULT_FN void fault_pf_unmapped(void)
{
    uint64_t value;
    __asm__ volatile("movq (%1), %0" : "=r"(value) : "r"(UNMAPPED_ADDRESS) : "memory");
    (void)value;
}

/* #PF, present, write: .rodata is mapped read-only and CR0.WP makes that hold for
 * ring 0 too. A global, so that CR2 shows a symbol. */
const uint64_t fault_rodata_target = 0x600d;

FAULT_FN void fault_pf_rodata(void)
{
    __asm__ volatile("movq $1, %0" : "=m"(*(uint64_t *)(uintptr_t)&fault_rodata_target));
}

/* #PF, present, instruction fetch: .data is mapped NX (when the CPU has NX). The
 * bytes would be a harmless RET if they ever ran. */
uint8_t fault_nx_code[16] = { 0xC3 };

FAULT_FN void fault_pf_nx(void)
{
    void (*volatile fn)(void) = (void (*)(void))(uintptr_t)fault_nx_code;
    fn();
}

/* #GP(0): a non-canonical address. */
FAULT_FN void fault_gp_noncanonical(void)
{
    uint64_t value;
    __asm__ volatile("movq (%1), %0" : "=r"(value) : "r"(NONCANONICAL_ADDRESS) : "memory");
    (void)value;
}

/* #GP(selector): loading DS with a selector past the GDT limit (SDM §6.13). */
FAULT_FN void fault_gp_selector(void)
{
    __asm__ volatile("movw %0, %%ds" : : "r"((uint16_t)BAD_SELECTOR));
}

/* #GP(vector * 8 + 2): INT 0x80 through an IDT entry that is not a gate (idt.c fills
 * only 0-31); the error code has the IDT bit set. */
FAULT_FN void fault_gp_idt(void)
{
    __asm__ volatile("int $0x80");
}

/* The same with a vector below 0x80 (0x40): QEMU's TCG error code then names an index
 * (0x80) that is itself a valid vector, which the panic screen must not report. */
FAULT_FN void fault_gp_idt_low(void)
{
    __asm__ volatile("int $0x40");
}

/* #DF: unbounded recursion runs into the stack guard page; pushing the #PF frame
 * there faults again, which is a double fault, delivered on the IST1 stack.
 * The call goes through a volatile pointer so GCC can neither see the recursion
 * (no -Winfinite-recursion, no loop conversion) nor make it a tail call. */
static unsigned (*volatile recurse)(unsigned);

FAULT_FN static unsigned fault_stack_overflow(unsigned depth)
{
    volatile uint8_t frame[256]; /* about 300 bytes per call: the 16 KiB stack lasts ~50 */
    frame[0] = (uint8_t)depth;
    return recurse(depth + 1) + frame[0];
}

/* A corrupt frame pointer: the stack walk must stop at it instead of faulting. RBP
 * is not declared clobbered (GCC refuses that with frame pointers); UD2 never returns. */
FAULT_FN void fault_bad_rbp(void)
{
    __asm__ volatile("movabs $0x00000badc0de0000, %%rbp\n\tud2" : : : "memory");
}

/* A triple fault in the kernel (tests/test_why.py): an empty IDT (limit 0), then the
 * #PF of fault_pf_unmapped. Delivering the #PF finds no gate (#GP, IDT bit set: a
 * contributory fault after a #PF is a #DF, SDM Vol 3A Table 6-5), delivering the #DF
 * finds none either: shutdown. */
FAULT_FN void fault_triple_pf(void)
{
    static const struct __attribute__((packed)) { uint16_t limit; uint64_t base; }
        empty_idtr = { 0, 0 };
    __asm__ volatile("lidt %0" : : "m"(empty_idtr));
    fault_pf_unmapped();
}

void fault_inject(void)
{
#if SELECTED == FAULT_divide
    fault_divide();
#elif SELECTED == FAULT_invalid_opcode || SELECTED == FAULT_nested
    fault_invalid_opcode();
#elif SELECTED == FAULT_pf_unmapped
    fault_pf_unmapped();
#elif SELECTED == FAULT_pf_rodata
    fault_pf_rodata();
#elif SELECTED == FAULT_pf_nx
    fault_pf_nx();
#elif SELECTED == FAULT_gp_noncanonical
    fault_gp_noncanonical();
#elif SELECTED == FAULT_gp_selector
    fault_gp_selector();
#elif SELECTED == FAULT_gp_idt
    fault_gp_idt();
#elif SELECTED == FAULT_gp_idt_low
    fault_gp_idt_low();
#elif SELECTED == FAULT_stack_overflow
    recurse = fault_stack_overflow;
    recurse(1);
#elif SELECTED == FAULT_bad_rbp
    fault_bad_rbp();
#elif SELECTED == FAULT_triple_pf
    fault_triple_pf();
#endif
}

void fault_in_panic(void)
{
#if SELECTED == FAULT_nested
    fault_divide(); /* the first panic (#UD) faults again: the nested-fault guard */
#endif
}
