/* The CPU exceptions, vectors 0-31: the one table the kernel's stubs and panic screen,
 * the loader's stubs and message, and the host tools (build/gen) all use.
 *
 * EXCEPTION(vector, mnemonic, name, pushes_error_code), SDM Vol 3A Table 6-1. Vector 9
 * has had no mnemonic since the 486 (the SDM writes "-"); 15 and 22-31 are Intel
 * reserved. AMD uses 28 (#HV), 29 (#VC) and 30 (#SX); #VC and #SX push an error code,
 * so the stubs treat 29 and 30 as error-code vectors, or an AMD CPU would leave the frame
 * one qword off. */
#ifndef FARJUMP_EXCEPTIONS_H
#define FARJUMP_EXCEPTIONS_H

#define EXCEPTION_VECTORS 32

#define EXCEPTION_TABLE(EXCEPTION)                                              \
    EXCEPTION(0, "#DE", "Divide Error", 0)                                      \
    EXCEPTION(1, "#DB", "Debug Exception", 0)                                   \
    EXCEPTION(2, "NMI", "Non-Maskable Interrupt", 0)                            \
    EXCEPTION(3, "#BP", "Breakpoint", 0)                                        \
    EXCEPTION(4, "#OF", "Overflow", 0)                                          \
    EXCEPTION(5, "#BR", "BOUND Range Exceeded", 0)                              \
    EXCEPTION(6, "#UD", "Invalid Opcode", 0)                                    \
    EXCEPTION(7, "#NM", "Device Not Available", 0)                              \
    EXCEPTION(8, "#DF", "Double Fault", 1)                                      \
    EXCEPTION(9, "-", "Coprocessor Segment Overrun (reserved)", 0)              \
    EXCEPTION(10, "#TS", "Invalid TSS", 1)                                      \
    EXCEPTION(11, "#NP", "Segment Not Present", 1)                              \
    EXCEPTION(12, "#SS", "Stack-Segment Fault", 1)                              \
    EXCEPTION(13, "#GP", "General Protection", 1)                               \
    EXCEPTION(14, "#PF", "Page Fault", 1)                                       \
    EXCEPTION(15, "-", "Reserved", 0)                                           \
    EXCEPTION(16, "#MF", "x87 FPU Floating-Point Error", 0)                     \
    EXCEPTION(17, "#AC", "Alignment Check", 1)                                  \
    EXCEPTION(18, "#MC", "Machine Check", 0)                                    \
    EXCEPTION(19, "#XM", "SIMD Floating-Point Exception", 0)                    \
    EXCEPTION(20, "#VE", "Virtualization Exception", 0)                         \
    EXCEPTION(21, "#CP", "Control Protection Exception", 1)                     \
    EXCEPTION(22, "-", "Reserved", 0)                                           \
    EXCEPTION(23, "-", "Reserved", 0)                                           \
    EXCEPTION(24, "-", "Reserved", 0)                                           \
    EXCEPTION(25, "-", "Reserved", 0)                                           \
    EXCEPTION(26, "-", "Reserved", 0)                                           \
    EXCEPTION(27, "-", "Reserved", 0)                                           \
    EXCEPTION(28, "-", "Reserved (AMD: #HV Hypervisor Injection)", 0)           \
    EXCEPTION(29, "-", "Reserved (AMD: #VC VMM Communication)", 1)              \
    EXCEPTION(30, "-", "Reserved (AMD: #SX Security Exception)", 1)             \
    EXCEPTION(31, "-", "Reserved", 0)

/* Bit v set: the CPU pushes an error code for vector v. Written so that the GNU assembler
 * can evaluate it too (boot/loader.c's stubs). */
#define EXCEPTION_EC_BIT_(v, mnemonic, name, ec) + (ec << v)
#define EXCEPTION_ERROR_CODES (0 EXCEPTION_TABLE(EXCEPTION_EC_BIT_))

#ifndef __ASSEMBLER__
/* Mnemonic ("#PF", "NMI", "-") and name ("Page Fault") of a vector; "-" and "Reserved"
 * for anything >= 32. */
static inline const char *exception_mnemonic(unsigned long long vector)
{
#define EXCEPTION_MNEMONIC_(v, mnemonic, name, ec) mnemonic,
    static const char *const mnemonics[EXCEPTION_VECTORS] = { EXCEPTION_TABLE(EXCEPTION_MNEMONIC_) };
#undef EXCEPTION_MNEMONIC_
    return vector < EXCEPTION_VECTORS ? mnemonics[vector] : "-";
}

static inline const char *exception_name(unsigned long long vector)
{
#define EXCEPTION_NAME_(v, mnemonic, name, ec) name,
    static const char *const names[EXCEPTION_VECTORS] = { EXCEPTION_TABLE(EXCEPTION_NAME_) };
#undef EXCEPTION_NAME_
    return vector < EXCEPTION_VECTORS ? names[vector] : "Reserved";
}

/* Does the CPU push an error code for this vector? */
static inline int exception_has_error_code(unsigned long long vector)
{
    return vector < EXCEPTION_VECTORS && (EXCEPTION_ERROR_CODES >> vector & 1);
}
#endif

#endif
