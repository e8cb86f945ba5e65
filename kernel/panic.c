/* The panic screen.
 *
 * It writes the VGA text buffer directly (fixed rows, one attribute per row) instead
 * of going through vga.c and the console: the fault may have come from the console
 * code or corrupted its state, and a fixed layout cannot scroll the title away. The
 * same lines go to COM1 as plain text, where a log or a test can read all of them
 * (the screen has 25 rows; a long stack trace is cut on VGA, never on COM1). */
#include "panic.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bochs.h"
#include "cpu.h"
#include "exceptions.h"
#include "fault_hooks.h"
#include "fbcon.h"
#include "io.h"
#include "kprintf.h"
#include "serial.h"
#include "stack.h"
#include "symbols.h"
#include "trace.h"
#include "vga.h"

#define SCREEN ((volatile uint16_t *)(uintptr_t)0xB8000) /* identity mapped */
#define ROW_FOOTER (VGA_ROWS - 1)
#define ATTR(fg, bg) ((uint8_t)((bg) << 4 | (fg)))
#define ATTR_BAR ATTR(VGA_WHITE, VGA_RED)
#define ATTR_FAULT ATTR(VGA_WHITE, VGA_BLACK)      /* what happened, where */
#define ATTR_NOTE ATTR(VGA_YELLOW, VGA_BLACK)      /* explanations */
#define ATTR_TEXT ATTR(VGA_LIGHT_GREY, VGA_BLACK)  /* register dumps */
#define ATTR_HEAD ATTR(VGA_LIGHT_CYAN, VGA_BLACK)  /* section headings */
#define LINE_MAX 160 /* COM1 lines may be longer than the 80 columns VGA shows */

/* Exception vectors whose error code the panic decodes (SDM Vol 3A §6.13); the full
 * table, with which vectors push one, is contracts/exceptions.h. */
#define VEC_DF 8
#define VEC_TS 10
#define VEC_NP 11
#define VEC_SS 12
#define VEC_GP 13
#define VEC_PF 14

static unsigned next_row;

static void put_row(unsigned row, uint8_t attr, const char *text, size_t len)
{
    if (fbcon_put_row(row, attr, text, len, VGA_COLS))
        return; /* no VGA text mode (UEFI): the same rows on the framebuffer */
    for (unsigned col = 0; col < VGA_COLS; col++) {
        char c = col < len ? text[col] : ' ';
        SCREEN[row * VGA_COLS + col] = (uint16_t)((uint16_t)attr << 8 | (uint8_t)c);
    }
}

static size_t vformat(char *buf, const char *fmt, va_list ap)
{
    int n = kvsnprintf(buf, LINE_MAX, fmt, ap);
    return n < 0 ? 0 : (size_t)n >= LINE_MAX ? LINE_MAX - 1 : (size_t)n;
}

/* One line: the next VGA row (if any is left above the footer) and COM1. */
__attribute__((format(printf, 2, 3))) static void line(uint8_t attr, const char *fmt, ...)
{
    char buf[LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    size_t len = vformat(buf, fmt, ap);
    va_end(ap);
    if (next_row < ROW_FOOTER)
        put_row(next_row, attr, buf, len);
    next_row++;
    serial_write(buf, len);
    serial_write("\n", 1);
}

/* A line at a fixed row (the footer), also on COM1. */
__attribute__((format(printf, 3, 4))) static void line_at(unsigned row, uint8_t attr,
                                                          const char *fmt, ...)
{
    char buf[LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    size_t len = vformat(buf, fmt, ap);
    va_end(ap);
    put_row(row, attr, buf, len);
    serial_write(buf, len);
    serial_write("\n", 1);
}

static void clear_screen(void)
{
    for (unsigned row = 0; row < VGA_ROWS; row++)
        put_row(row, ATTR_TEXT, "", 0);
    /* Hide the hardware cursor (CRTC cursor start register, bit 5 = off): it would
     * blink wherever the console last wrote. */
    outb(0x3D4, 0x0A);
    outb(0x3D5, 0x20);
    next_row = 0;
}

/* #PF error code, SDM Vol 3A §4.7 Figure 4-12. */
static void decode_page_fault(uint64_t ec)
{
    line(ATTR_FAULT, "error code 0x%llx: P=%u W=%u U=%u RSVD=%u I=%u PK=%u SS=%u",
         (unsigned long long)ec, (unsigned)(ec & 1), (unsigned)(ec >> 1 & 1),
         (unsigned)(ec >> 2 & 1), (unsigned)(ec >> 3 & 1), (unsigned)(ec >> 4 & 1),
         (unsigned)(ec >> 5 & 1), (unsigned)(ec >> 6 & 1));
    line(ATTR_NOTE, "  %s, %s, %s mode%s%s%s",
         ec & 1 ? "protection violation (page present)" : "page not present",
         ec & 0x10 ? "instruction fetch" : ec & 2 ? "write" : "read",
         ec & 4 ? "user" : "supervisor", ec & 8 ? ", reserved bit set in a paging entry" : "",
         ec & 0x20 ? ", protection key" : "", ec & 0x40 ? ", shadow stack" : "");
}

/* The vector of an IDT error code. The SDM says index = vector. QEMU's TCG encodes
 * vector * 16 + 2 in long mode instead, i.e. index = 2 * vector: an index past 255 can
 * only mean that; below, for a software INT n (EXT=0) the instruction at RIP says n, and
 * index == 2 * n (n != 0) is the quirk. *quirk is set when the QEMU encoding was found. */
static unsigned idt_vector(unsigned index, unsigned ext, uint64_t rip, bool *quirk)
{
    struct symbol sym;
    *quirk = false;
    if (index > 255) {
        *quirk = true;
        return index / 2;
    }
    /* RIP is read only inside the kernel's own code (mapped: it was executing there). */
    if (!ext && symbol_lookup(rip, &sym)) {
        const volatile uint8_t *insn = (const volatile uint8_t *)(uintptr_t)rip;
        unsigned n = insn[1];
        if (insn[0] == 0xCD && n != 0 && index == 2 * n) { /* INT imm8 */
            *quirk = true;
            return n;
        }
    }
    return index;
}

/* Selector error code (#TS #NP #SS #GP), SDM Vol 3A §6.13 Figure 6-6. */
static void decode_selector(uint64_t ec, uint64_t rip)
{
    unsigned ext = ec & 1, idt = ec >> 1 & 1, ti = ec >> 2 & 1;
    unsigned index = (unsigned)(ec >> 3) & 0x1FFF;
    const char *table = idt ? "IDT" : ti ? "LDT" : "GDT";
    line(ATTR_FAULT, "error code 0x%llx: selector index 0x%x, table %s, EXT=%u",
         (unsigned long long)ec, index, table, ext);
    if (ec == 0)
        line(ATTR_NOTE, "  0: not about a segment selector (e.g. a non-canonical address)");
    else if (idt) {
        bool quirk;
        unsigned vector = idt_vector(index, ext, rip, &quirk);
        line(ATTR_NOTE, "  IDT vector 0x%x, %s%s", vector,
             ext ? "external event" : "raised by software (INT n)",
             quirk ? " (QEMU TCG: index = vector * 2)" : "");
    }
    else
        line(ATTR_NOTE, "  %s selector 0x%llx (RPL not recorded)%s", table,
             (unsigned long long)(ec & 0xFFFC), ext ? ", during delivery of an external event" : "");
}

/* " = name+off/size" for a data address inside a kernel symbol, else "". */
static const char *symbol_suffix(uint64_t addr, char *buf, size_t size)
{
    struct symbol sym;
    if (!symbol_lookup(addr, &sym) || size < 4)
        return "";
    buf[0] = ' ', buf[1] = '=', buf[2] = ' ';
    symbol_format(addr, false, buf + 3, size - 3);
    return buf;
}

static void print_error_code(const struct interrupt_frame *f, uint64_t cr2)
{
    char sym[LINE_MAX / 2];
    uint64_t v = f->vector, ec = f->error_code;
    if (v == VEC_PF) {
        decode_page_fault(ec);
        line(ATTR_FAULT, "CR2 0x%016llx (faulting address)%s%s", (unsigned long long)cr2,
             symbol_suffix(cr2, sym, sizeof sym),
             stack_in_guard(cr2) ? " stack guard page: kernel stack overflow" : "");
    } else if (v == VEC_DF) {
        line(ATTR_FAULT, "error code 0x%llx (always 0): a fault while delivering another one",
             (unsigned long long)ec);
        /* The usual cause: a #PF on the stack whose frame cannot be pushed there. */
        if (stack_in_guard(f->rsp) || stack_in_guard(cr2))
            line(ATTR_NOTE, "kernel stack overflow: %s 0x%016llx is in the stack guard page",
                 stack_in_guard(f->rsp) ? "RSP" : "CR2",
                 (unsigned long long)(stack_in_guard(f->rsp) ? f->rsp : cr2));
        else
            line(ATTR_NOTE, "not a stack overflow (RSP, CR2 not in the guard page): check IDT/GDT");
        line(ATTR_FAULT, "CR2 0x%016llx (last page-fault address)%s", (unsigned long long)cr2,
             symbol_suffix(cr2, sym, sizeof sym));
    } else if (v == VEC_TS || v == VEC_NP || v == VEC_SS || v == VEC_GP) {
        decode_selector(ec, f->rip);
    } else if (exception_has_error_code(v)) {
        line(ATTR_FAULT, "error code 0x%llx", (unsigned long long)ec);
    } else {
        line(ATTR_FAULT, "error code: none (the CPU pushes none for %s)", exception_mnemonic(v));
    }
}

/* RFLAGS bits by name (SDM Vol 1 §3.4.3), the set ones only. */
static const char *rflags_names(uint64_t rflags, char *buf, size_t size)
{
    static const struct {
        unsigned bit;
        const char *name;
    } flags[] = { { 0, "CF" },  { 2, "PF" },  { 4, "AF" },  { 6, "ZF" },  { 7, "SF" },
                  { 8, "TF" },  { 9, "IF" },  { 10, "DF" }, { 11, "OF" }, { 14, "NT" },
                  { 16, "RF" }, { 17, "VM" }, { 18, "AC" }, { 21, "ID" } };
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        if (!(rflags >> flags[i].bit & 1))
            continue;
        int n = ksnprintf(buf + used, size - used, "%s%s", used ? " " : "", flags[i].name);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

static void print_registers(const struct interrupt_frame *f, uint64_t cr2)
{
    char buf[LINE_MAX / 2];
    line(ATTR_FAULT, "RIP 0x%016llx %s", (unsigned long long)f->rip,
         symbol_format(f->rip, false, buf, sizeof buf));
    line(ATTR_TEXT, "CS 0x%04llx  SS 0x%04llx  RSP 0x%016llx  RFLAGS 0x%llx [%s]",
         (unsigned long long)f->cs, (unsigned long long)f->ss, (unsigned long long)f->rsp,
         (unsigned long long)f->rflags, rflags_names(f->rflags, buf, sizeof buf));
    line(ATTR_TEXT, "%s", "");
    const struct {
        const char *name;
        uint64_t value;
    } regs[] = {
        { "RAX", f->rax }, { "RBX", f->rbx }, { "RCX", f->rcx }, { "RDX", f->rdx },
        { "RSI", f->rsi }, { "RDI", f->rdi }, { "RBP", f->rbp }, { "R8 ", f->r8 },
        { "R9 ", f->r9 },  { "R10", f->r10 }, { "R11", f->r11 }, { "R12", f->r12 },
        { "R13", f->r13 }, { "R14", f->r14 }, { "R15", f->r15 },
    };
    for (size_t i = 0; i < sizeof regs / sizeof regs[0]; i += 3)
        line(ATTR_TEXT, "%s %016llx  %s %016llx  %s %016llx", regs[i].name,
             (unsigned long long)regs[i].value, regs[i + 1].name,
             (unsigned long long)regs[i + 1].value, regs[i + 2].name,
             (unsigned long long)regs[i + 2].value);
    /* CR0 and CR4 have no bits above 31 defined: 8 digits keep the line in 80 columns. */
    line(ATTR_TEXT, "CR0 %08llx  CR2 %016llx  CR3 %016llx  CR4 %08llx",
         (unsigned long long)read_cr0(), (unsigned long long)cr2,
         (unsigned long long)read_cr3(), (unsigned long long)read_cr4());
}

static void print_trace(const struct interrupt_frame *f)
{
    struct trace t;
    char sym[LINE_MAX / 2];
    trace_walk(f->rip, f->rsp, f->rbp, &t);
    line(ATTR_TEXT, "%s", "");
    line(ATTR_HEAD, "stack trace (frame pointers, most recent first):");
    for (size_t i = 0; i < t.count; i++)
        line(ATTR_TEXT, " #%u 0x%016llx %s%s", (unsigned)i, (unsigned long long)t.pc[i],
             t.guessed >> i & 1 ? "? " : "", symbol_format(t.pc[i], i > 0, sym, sizeof sym));
    switch (t.end) {
    case TRACE_END_OUTERMOST:
        line(ATTR_HEAD, " end of stack");
        break;
    case TRACE_END_DEPTH:
        line(ATTR_HEAD, " ... (stopped after %u frames)", (unsigned)TRACE_MAX_FRAMES);
        break;
    case TRACE_END_BAD_RBP:
        line(ATTR_NOTE, " stopped: frame pointer 0x%llx is outside the kernel stack",
             (unsigned long long)t.bad_rbp);
        break;
    case TRACE_END_LOOP:
        line(ATTR_NOTE, " stopped: frame pointer 0x%llx does not go up the stack",
             (unsigned long long)t.bad_rbp);
        break;
    }
}

/* Second entry: a fault inside the panic itself. One line, no symbol lookup, no
 * stack walk (either may be what faulted), then halt. */
__attribute__((noreturn)) static void panic_nested(const struct interrupt_frame *f)
{
    char buf[LINE_MAX];
    int n = ksnprintf(buf, sizeof buf, "fault while panicking: vector %llu %s at RIP 0x%016llx, halted",
                      (unsigned long long)f->vector, exception_mnemonic(f->vector),
                      (unsigned long long)f->rip);
    size_t len = n < 0 ? 0 : (size_t)n >= sizeof buf ? sizeof buf - 1 : (size_t)n;
    put_row(ROW_FOOTER, ATTR_BAR, buf, len);
    serial_write("\n", 1);
    serial_write(buf, len);
    serial_write("\n", 1);
    BOCHS_BREAK();
    halt_forever();
}

void panic_exception(const struct interrupt_frame *f)
{
    /* Counts entries; interrupts are off (interrupt gates) and there is one CPU. */
    static volatile unsigned entries;
    unsigned entry = entries++;
    if (entry == 1)
        panic_nested(f);
    if (entry > 1)
        halt_forever(); /* the one-line report faulted too: stop without trying again */

    uint64_t cr2 = read_cr2(); /* first: nothing below may page-fault, but be sure */
    clear_screen();
    serial_write("\n", 1);
    line(ATTR_BAR, " KERNEL PANIC: vector %llu %s %s", (unsigned long long)f->vector,
         exception_mnemonic(f->vector), exception_name(f->vector));
    fault_in_panic(); /* test hook (fault_hooks.h): empty but in the nested-fault test kernel */
    print_error_code(f, cr2);
    print_registers(f, cr2);
    print_trace(f);
    line_at(ROW_FOOTER, ATTR_BAR,
            " System halted, interrupts off. GDB: break exception_handler; fj idt; fj pt ADDR");
    BOCHS_BREAK(); /* Bochs with magic_break stops here, the screen complete */
    halt_forever();
}
