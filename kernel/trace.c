/* Frame-pointer stack walk.
 *
 * With frame pointers every function starts with push rbp; mov rbp, rsp, so
 * [rbp] = the caller's rbp and [rbp+8] = the return address into the caller; _start
 * sets RBP = 0, which ends the chain. The walk runs inside the panic, on a stack
 * that may be the very thing that broke: each frame pointer is checked to lie in
 * the kernel stack, 8-byte aligned and above the previous one before it is read, so
 * a corrupt RBP stops the walk instead of faulting again or looping. */
#include "trace.h"

#include "stack.h"
#include "symbols.h"

/* kernel.ld: the code lies in [__kernel_start, __text_end). */
extern const char __kernel_start[], __text_end[];

static int is_text(uint64_t addr)
{
    return addr >= (uint64_t)(uintptr_t)__kernel_start && addr < (uint64_t)(uintptr_t)__text_end;
}

/* Whether ret looks like a return address: in the kernel's code, right after a CALL.
 * Sets *direct_to to the target of a direct CALL rel32 (E8), else 0. */
static int after_call(uint64_t ret, uint64_t *direct_to)
{
    *direct_to = 0;
    if (!is_text(ret) || !is_text(ret - 7))
        return 0;
    const uint8_t *p = (const uint8_t *)(uintptr_t)ret;
    if (p[-5] == 0xE8) {
        uint32_t rel = (uint32_t)p[-4] | (uint32_t)p[-3] << 8 | (uint32_t)p[-2] << 16 |
                       (uint32_t)p[-1] << 24;
        *direct_to = ret + (uint64_t)(int64_t)(int32_t)rel;
        return 1;
    }
    /* CALL r/m64 (FF /2): 2 to 7 bytes with ModRM, SIB, displacement and REX. */
    for (int len = 2; len <= 7; len++)
        if (p[-len] == 0xFF && (p[-len + 1] >> 3 & 7) == 2)
            return 1;
    return 0;
}

/* The return address of the innermost function when RBP is not (yet) its frame:
 * GCC leaves the frame pointer out of leaf functions that need no stack, and a
 * fault can hit before `push rbp; mov rbp, rsp` has run. The address is then at
 * [RSP] (or [RSP+8] right after the push). Sets *verified when a direct CALL to the
 * function's own start proves it; else it is a plausible guess. */
static int innermost_return(uint64_t rip, uint64_t rsp, uint64_t *ret, int *verified)
{
    static const uint8_t prologue[4] = { 0x55, 0x48, 0x89, 0xE5 }; /* push rbp; mov rbp, rsp */
    struct symbol sym;
    uint64_t slot = rsp, target;
    *verified = 0;
    if (is_text(rip) && symbol_lookup(rip, &sym) && is_text(sym.address + sizeof prologue)) {
        const uint8_t *code = (const uint8_t *)(uintptr_t)sym.address;
        int framed = 1;
        for (size_t i = 0; i < sizeof prologue; i++)
            framed &= code[i] == prologue[i];
        if (framed && rip >= sym.address + sizeof prologue)
            return 0; /* RBP is this function's frame: the normal walk covers it */
        if (framed && rip > sym.address)
            slot = rsp + 8; /* after push rbp */
        if ((slot & 7) != 0 || !stack_contains(slot, 8))
            return 0;
        *ret = *(const uint64_t *)(uintptr_t)slot;
        if (!after_call(*ret, &target))
            return 0;
        *verified = target == sym.address;
        return 1;
    }
    /* RIP outside the code (a call through a bad pointer, a jump into data): nothing
     * ran there yet, so the caller's return address is at [RSP]. */
    if ((slot & 7) != 0 || !stack_contains(slot, 8))
        return 0;
    *ret = *(const uint64_t *)(uintptr_t)slot;
    return after_call(*ret, &target);
}

void trace_walk(uint64_t rip, uint64_t rsp, uint64_t rbp, struct trace *out)
{
    out->count = 0;
    out->guessed = 0;
    out->bad_rbp = 0;
    out->pc[out->count++] = rip;

    uint64_t ret;
    int verified;
    if (innermost_return(rip, rsp, &ret, &verified)) {
        if (!verified)
            out->guessed |= 1u << out->count;
        out->pc[out->count++] = ret;
    }

    uint64_t prev = 0;
    for (;;) {
        if (rbp == 0) {
            out->end = TRACE_END_OUTERMOST;
            return;
        }
        if ((rbp & 7) != 0 || !stack_contains(rbp, 16)) {
            out->end = TRACE_END_BAD_RBP;
            out->bad_rbp = rbp;
            return;
        }
        if (rbp <= prev) { /* the stack grows down: callers' frames are higher */
            out->end = TRACE_END_LOOP;
            out->bad_rbp = rbp;
            return;
        }
        if (out->count == TRACE_MAX_FRAMES) {
            out->end = TRACE_END_DEPTH;
            return;
        }
        const uint64_t *record = (const uint64_t *)(uintptr_t)rbp;
        uint64_t ret_addr = record[1];
        if (ret_addr == 0) { /* no return address: nothing called this frame */
            out->end = TRACE_END_OUTERMOST;
            return;
        }
        out->pc[out->count++] = ret_addr;
        prev = rbp;
        rbp = record[0];
    }
}
