/* Stack trace by frame-pointer walk (the kernel is built with -fno-omit-frame-pointer). */
#ifndef FARJUMP_TRACE_H
#define FARJUMP_TRACE_H

#include <stddef.h>
#include <stdint.h>

#define TRACE_MAX_FRAMES 8

enum trace_end {
    TRACE_END_OUTERMOST, /* RBP = 0: _start's frame, the walk is complete */
    TRACE_END_DEPTH,     /* TRACE_MAX_FRAMES reached, more frames may follow */
    TRACE_END_BAD_RBP,   /* a frame pointer outside the kernel stack or misaligned */
    TRACE_END_LOOP,      /* a frame pointer not above the previous one */
};

struct trace {
    uint64_t pc[TRACE_MAX_FRAMES];
    unsigned guessed; /* bit i: pc[i] was read from [RSP], not from a frame record */
    size_t count;
    enum trace_end end;
    uint64_t bad_rbp; /* the frame pointer that stopped the walk (BAD_RBP, LOOP) */
};

/* Walk from an interrupted context: pc[0] = rip, then the return addresses in the
 * frame records chained from rbp. Only ever reads memory inside the kernel stack. */
void trace_walk(uint64_t rip, uint64_t rsp, uint64_t rbp, struct trace *out);

#endif
