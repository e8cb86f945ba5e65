"""common/kprintf.c compiled for the host with gcc and run: the real formatter, no emulator.

The harness supplies console_write (kprintf's only dependency), so kprintf's
chunked output is captured too. Standard conversions are also checked against
the host C library's snprintf.
"""

import os
import shutil
import subprocess

import pytest

SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    os.pardir, "common"))

# (C arguments after the buffer: format and values, expected output)
CASES = [
    (r'''"%5d|%-5d|%05x|%s|%c|%p|%lu|%llx|%%", 42, -7, 0xbeefu, "hi", (int)'Z', '''
     r'(void *)0xb8000, 123456789012UL, 0xffffffff80100000ULL',
     "   42|-7   |0beef|hi|Z|0x00000000000b8000|123456789012|ffffffff80100000|%"),
    (r'"%s", (char *)0', "(null)"),
    (r'"[%8s][%-8s]", "ab", "cd"', "[      ab][cd      ]"),
    (r'"[%*d][%-*d][%*d]", 4, 1, 4, 2, -4, 3', "[   1][2   ][3   ]"),
    (r'"%d %i %d", 0, -2147483647 - 1, 2147483647', "0 -2147483648 2147483647"),
    (r'"%lld", (long long)(-9223372036854775807LL - 1)', "-9223372036854775808"),
    (r'"%llu", 18446744073709551615ULL', "18446744073709551615"),
    (r'"%x %X %#", 0xabcdefu, 0xabcdefu', "abcdef ABCDEF %#"),
    (r'"%zu %zx", (size_t)4096, (size_t)4096', "4096 1000"),
    (r'"%05d|%-05d|%5d", -42, -42, -42', "-0042|-42  |  -42"),
    (r'"%p", (void *)0', "0x0000000000000000"),
    (r'"%20p|", (void *)1', "  0x0000000000000001|"),
    (r'"%q %w!", 1', "%q %w!"),
    (r'"100%"', "100%"),
    (r'"%.3s|%.*s|%.0d|%.4x", "abcdef", 2, "xyz", 0, 0x2au', "abc|xy||002a"),
    (r'''"%c%c%c", (int)'a', (int)'b', (int)'c' ''', "abc"),
    (r'"%hhu %hd", 257, 65535', "1 -1"),
    (r'''"%3c|%-3c|", (int)'x', (int)'y' ''', "  x|y  |"),
]

# Standard conversions where kprintf must agree with the C library.
LIBC_SAME = [
    r'"%d|%5d|%-5d|%05d|%u|%x|%X|%08x|%-8x|", -1, 12, 12, -12, 4000000000u, 255u, 255u, 255u, 255u',
    r'''"%s|%10s|%-10s|%.2s|%c", "str", "right", "left", "cut", (int)'!' ''',
    r'"%ld %lu %lx %lld %llu %llx %zu", -5L, 5UL, 0x5UL, -6LL, 6ULL, 0x6ULL, (size_t)7',
    r'"%*d|%-*d|%.*s", 6, 7, 6, 7, 3, "abcdef"',
    r'"%.5d|%8.3d|%-8.3d|%.0d|%x", 42, 42, -42, 0, 0u',
]

HARNESS = r"""
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "kprintf.h"

static char captured[4096];
static size_t captured_len;
static int writes;

void console_write(const char *s, size_t n)
{
    memcpy(captured + captured_len, s, n);
    captured_len += n;
    writes++;
}

/* One record per check: name, TAB, output, NUL, newline (outputs have no NULs). */
static void record(const char *name, const char *s)
{
    printf("%s\t%s", name, s);
    putchar(0);
    putchar('\n');
}

int main(void)
{
    char buf[512], ref[512];
    int n;
    (void)ref;
@CASES@
@LIBC@
    /* Truncation: C snprintf semantics (returns the untruncated length). */
    memset(buf, '#', sizeof buf);
    n = ksnprintf(buf, 5, "%s", "abcdefgh");
    printf("trunc\t%d %s", n, buf); putchar(0); putchar('\n');
    memset(buf, '#', sizeof buf);
    n = ksnprintf(buf, 0, "%d", 12345);
    printf("size0\t%d %c", n, buf[0]); putchar(0); putchar('\n');
    n = ksnprintf(buf, 1, "xyz");
    printf("size1\t%d %d", n, buf[0]); putchar(0); putchar('\n');

    /* kprintf: everything reaches console_write, in chunks, not per character. */
    n = kprintf("%s-%d-%s", "0123456789012345678901234567890123456789012345678901234567890123456789",
                7, "tail");
    captured[captured_len] = 0;
    printf("kprintf\t%d %d %s", n, writes > 1 && writes < 10, captured); putchar(0); putchar('\n');
    captured_len = 0; writes = 0;
    n = kprintf("Hello World!\n");
    captured[captured_len] = 0;
    printf("kprintf2\t%d %d %s", n, writes, captured); putchar(0); putchar('\n');
    return 0;
}
"""


def run(cmd):
    proc = subprocess.run(cmd, capture_output=True, timeout=60)
    assert proc.returncode == 0, (cmd, proc.stderr.decode(errors="replace"))
    return proc.stdout


def build_harness(tmp_path):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc not installed (scripts/install-deps installs it)")
    cases = []
    for i, (args, _) in enumerate(CASES):
        cases.append(f'    n = ksnprintf(buf, sizeof buf, {args});\n'
                     f'    (void)n; record("case{i}", buf);')
    libc = []
    for i, args in enumerate(LIBC_SAME):
        libc.append(f'    ksnprintf(buf, sizeof buf, {args});\n'
                    f'    snprintf(ref, sizeof ref, {args});\n'
                    f'    record("libc{i}", strcmp(buf, ref) == 0 ? "same" : buf);')
    source = HARNESS.replace("@CASES@", "\n".join(cases)).replace("@LIBC@", "\n".join(libc))
    harness = tmp_path / "harness.c"
    harness.write_text(source)
    exe = tmp_path / "harness"
    # kprintf.c itself must build warning-free for the host too; the harness
    # deliberately passes formats GCC's -Wformat rejects (unknown conversions).
    run([gcc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-c",
         "-o", str(tmp_path / "kprintf.o"), os.path.join(SRC, "kprintf.c")])
    run([gcc, "-std=c11", "-O2", "-Wall", "-Wno-format", "-Wno-format-extra-args",
         "-iquote", SRC, "-o", str(exe), str(harness), str(tmp_path / "kprintf.o")])
    out = run([str(exe)])
    results = {}
    for rec in out.split(b"\0\n"):
        if rec:
            name, _, value = rec.partition(b"\t")
            results[name.decode()] = value.decode()
    return results


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return build_harness(tmp_path_factory.mktemp("kprintf"))


@pytest.mark.parametrize("index", range(len(CASES)))
def test_format(results, index):
    assert results[f"case{index}"] == CASES[index][1], CASES[index][0]


@pytest.mark.parametrize("index", range(len(LIBC_SAME)))
def test_agrees_with_libc(results, index):
    assert results[f"libc{index}"] == "same", LIBC_SAME[index]


def test_truncation(results):
    assert results["trunc"] == "8 abcd"
    assert results["size0"] == "5 #"
    assert results["size1"] == "3 0"


def test_kprintf_chunks_to_console(results):
    body = "0123456789" * 7 + "-7-tail"
    assert results["kprintf"] == f"{len(body)} 1 {body}"
    assert results["kprintf2"] == "13 1 Hello World!\n"
