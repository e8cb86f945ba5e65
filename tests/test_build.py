"""The build contract: file names, sizes, symbols and DWARF line info (issue: boot chain)."""
import os
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import farjump_contracts as fc
import pytest

ROOT = Path(__file__).resolve().parent.parent

STAGE_SYMBOLS = [
    ("stage1.elf", "stage1_start", "boot/stage1.asm"),
    ("stage2.elf", "stage2_start", "boot/stage2.asm"),
    ("stage2.elf", "pm_entry", "boot/stage2.asm"),
    ("stage2.elf", "lm_entry", "boot/stage2.asm"),
    ("stage2.elf", "kernel_jump", "boot/stage2.asm"),
    ("ap_trampoline.elf", "ap_start", "kernel/ap/trampoline.asm"),
    ("ap_trampoline.elf", "ap_pm_entry", "kernel/ap/trampoline.asm"),
    ("ap_trampoline.elf", "ap_lm_entry", "kernel/ap/trampoline.asm"),
]


def symbols(elf):
    out = subprocess.run(["nm", str(elf)], capture_output=True, text=True, check=True, timeout=120).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            syms[parts[2]] = (int(parts[0], 16), parts[1])
    return syms


def addr2line(elf, addr):
    out = subprocess.run(["addr2line", "-e", str(elf), hex(addr)], capture_output=True,
                         text=True, check=True, timeout=120).stdout.strip()
    path, _, line = out.rpartition(":")
    return path, int(line)


def test_stage1_is_one_boot_sector(build):
    data = (build / "stage1.bin").read_bytes()
    assert len(data) == 512
    assert data[510:] == b"\x55\xaa"


def test_stage2_starts_with_magic(build):
    data = (build / "stage2.bin").read_bytes()
    # xchg bx,bx (87 db), jmp short (eb xx), then STAGE2_MAGIC that stage 1 checks.
    assert data[0:2] == b"\x87\xdb" and data[2] == 0xEB
    assert data[4:8] == b"FJS2"


def test_symbols_at_their_addresses(build):
    s1 = symbols(build / "stage1.elf")
    s2 = symbols(build / "stage2.elf")
    k = symbols(build / "kernel.elf")
    assert s1["stage1_start"] == (0x7C00, "T")
    assert s2["stage2_start"] == (0x8000, "T")
    # The mode switches are global text symbols inside stage 2, in boot order.
    assert s2["stage2_start"][0] < s2["pm_entry"][0] < s2["lm_entry"][0] < s2["kernel_jump"][0]
    assert all(s2[n][1] == "T" for n in ("pm_entry", "lm_entry", "kernel_jump"))
    assert k["kernel_main"][1] == "T"
    assert k["kernel_main"][0] >= 0xFFFFFFFF80100000
    assert k["_start"][0] == 0xFFFFFFFF80100000


@pytest.mark.parametrize("elf,symbol,source", STAGE_SYMBOLS)
def test_dwarf_maps_stage_symbols_to_nasm_lines(build, elf, symbol, source):
    addr = symbols(build / elf)[symbol][0]
    path, line = addr2line(build / elf, addr)
    assert path.endswith(source), path
    lines = (ROOT / source).read_text().splitlines()
    # The line DWARF names is the first instruction after the label `symbol:`.
    label = next(i for i, text in enumerate(lines, 1) if text.startswith(symbol + ":"))
    assert line > label
    between = [t.split(";")[0].strip() for t in lines[label:line - 1]]
    assert all(not t for t in between), f"{symbol}: line {line} is not the first instruction"
    assert lines[line - 1].split(";")[0].strip(), "DWARF points at a blank/comment line"


def test_ap_trampoline_layout(build):
    """The AP path's symbols: linked where the kernel copies the trampoline (AP_TRAMPOLINE,
    the SIPI vector's page), in journey order, ending before struct ap_params; ap_main is
    the kernel's C; the flat copy the kernel carries is the ELF's bytes."""
    t = symbols(build / "ap_trampoline.elf")
    assert fc.AP_TRAMPOLINE == fc.AP_SIPI_VECTOR << 12 and fc.AP_TRAMPOLINE < 0x100000
    assert t["ap_start"] == (fc.AP_TRAMPOLINE, "T")
    assert t["ap_start"][0] < t["ap_pm_entry"][0] < t["ap_lm_entry"][0] < fc.AP_PARAMS
    assert len((build / "ap_trampoline.bin").read_bytes()) <= fc.AP_PARAMS - fc.AP_TRAMPOLINE
    k = symbols(build / "kernel.elf")
    assert k["ap_main"][1] == "T" and k["ap_main"][0] >= 0xFFFFFFFF80100000
    assert "ap_start" not in k
    blob = (k["ap_trampoline_blob"][0], k["ap_trampoline_blob_end"][0])
    assert blob[1] - blob[0] == len((build / "ap_trampoline.bin").read_bytes())
    path, line = addr2line(build / "kernel.elf", k["ap_main"][0])
    assert path.endswith("kernel/smp.c") and line > 0


def test_dwarf_maps_kernel_main_to_c(build):
    addr = symbols(build / "kernel.elf")["kernel_main"][0]
    path, line = addr2line(build / "kernel.elf", addr)
    assert path.endswith("kernel/main.c") and line > 0


def test_disk_layout_table_matches_the_files(build):
    img = (build / "disk.img").read_bytes()
    stage2 = (build / "stage2.bin").read_bytes()
    kernel = (build / "kernel.disk.elf").read_bytes()
    table = img[fc.BOOT_LAYOUT_MBR_OFFSET:fc.BOOT_LAYOUT_MBR_OFFSET + fc.BOOT_LAYOUT_SIZE]
    field = {name: table[off:off + size] for name, off, size in fc.BOOT_LAYOUT_FIELDS}
    magic = field["magic"]
    s2_lba, s2_sectors, k_lba, k_bytes = (int.from_bytes(field[n], "little") for n in (
        "stage2_lba", "stage2_sectors", "kernel_lba", "kernel_bytes"))
    assert fc.BOOT_LAYOUT_MBR_OFFSET == 0x1AE and fc.BOOT_LAYOUT_SIZE == 16
    assert magic == b"FJ"
    assert (s2_lba, s2_sectors) == (1, -(-len(stage2) // 512))
    # Stage 2 as built, but for the CRC-32s the image builder writes into its header.
    on_disk = img[512 * s2_lba:512 * s2_lba + len(stage2)]
    crcs = {n: int.from_bytes(on_disk[o:o + z], "little") for n, o, z in fc.STAGE2_HEADER_FIELDS
            if n.endswith("crc32")}
    assert crcs == {"stage2_crc32": zlib.crc32(stage2[fc.STAGE2_HEADER_SIZE:]),
                    "kernel_crc32": zlib.crc32(kernel)}
    assert on_disk[:8] == stage2[:8] and on_disk[16:] == stage2[16:]
    assert fc.STAGE2_HEADER_SIZE == 16
    assert k_bytes == len(kernel)
    assert img[512 * k_lba:512 * k_lba + k_bytes] == kernel
    assert kernel[:4] == b"\x7fELF"
    assert len(img) % (16 * 63 * 512) == 0   # whole cylinders, for Bochs' geometry detection
    # Sector 0 of the image is stage1.bin plus the table, nothing else.
    stage1 = (build / "stage1.bin").read_bytes()
    assert img[:0x1AE] == stage1[:0x1AE] and img[0x1BE:512] == stage1[0x1BE:512]


def test_disk_kernel_has_no_dwarf_but_kernel_elf_has(build):
    def sections(elf):
        out = subprocess.run(["readelf", "-SW", str(elf)], capture_output=True, text=True,
                             check=True, timeout=120).stdout
        return set(re.findall(r"\]\s+(\.\S+)", out))
    assert ".debug_line" in sections(build / "kernel.elf")
    assert ".debug_line" not in sections(build / "kernel.disk.elf")


def test_kernel_segments_have_section_permissions(build):
    out = subprocess.run(["readelf", "-lW", str(build / "kernel.elf")], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    loads = [l.split() for l in out.splitlines() if l.strip().startswith("LOAD")]
    # Type Offset VirtAddr PhysAddr FileSiz MemSiz Flg... Align
    flags = ["".join(l[6:-1]) for l in loads]
    assert flags == ["RE", "R", "RW"], flags
    for l in loads:
        virt, phys = int(l[2], 16), int(l[3], 16)
        assert virt - phys == 0xFFFFFFFF80000000 and phys >= 0x100000


def test_mkimage_rejects_a_bad_stage1(build, tmp_path):
    bad = tmp_path / "s1.bin"
    bad.write_bytes(b"\0" * 512)
    r = subprocess.run(["/usr/bin/python3", "-m", "fjqemu.image", "--stage1", str(bad),
                        "--stage2", str(build / "stage2.bin"), "--kernel",
                        str(build / "kernel.disk.elf"), "-o", str(tmp_path / "x.img")],
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=f"{ROOT / 'qemu'}:{build / 'gen'}"))
    assert r.returncode == 1
    assert "55 aa" in r.stderr and "Traceback" not in r.stderr


def copy_tree(build, tree: Path) -> Path:
    """The work tree's files (tracked and new, not ignored) and its build, times kept, so
    that make in the copy rebuilds only what the test changes."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True, timeout=60).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tree / name)
    shutil.copytree(build, tree / "build", symlinks=True, copy_function=copy_if_there)
    return tree


def copy_if_there(src, dst):
    """shutil.copy2, but a file gone meanwhile is not copied: a session of another test
    (make debug's build/gdb-port) may remove its file while the tree is copied."""
    try:
        return shutil.copy2(src, dst)
    except FileNotFoundError:
        if Path(src).exists():
            raise
        return dst


def test_deleting_a_source_relinks(build, tmp_path):
    """Issue 15 item 13: the link depends on the object list, so a kernel source that is
    deleted leaves no stale kernel behind. In a copy of the tree and its build."""
    tree = copy_tree(build, tmp_path / "tree")
    extra = tree / "kernel" / "zz_extra.c"
    extra.write_text("void zz_extra_function(void);\nvoid zz_extra_function(void)\n{\n}\n")

    def make_and_symbols():
        r = subprocess.run(["make", "-s", "all"], cwd=tree, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        return symbols(tree / "build" / "kernel.elf")

    assert "zz_extra_function" in make_and_symbols()
    extra.unlink()
    assert "zz_extra_function" not in make_and_symbols()


def test_builds_in_a_path_with_a_space(build, tmp_path):
    """Issue 15 item 15: the absolute paths the build passes on (NASM's source path, the
    host tools' PYTHONPATH) are quoted. In a copy of the tree and its build, under a
    directory with a space; the NASM objects and the image are rebuilt there."""
    tree = copy_tree(build, tmp_path / "with space" / "farjump")
    for src in ("boot/stage1.asm", "kernel/isr.asm"):
        os.utime(tree / src)
    old = (tree / "build" / "disk.img").stat().st_mtime_ns
    r = subprocess.run(["make", "-s", "all"], cwd=tree, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tree / "build" / "disk.img").stat().st_mtime_ns > old
    path, _ = addr2line(tree / "build" / "stage1.elf", 0x7C00)
    assert path.endswith("boot/stage1.asm") and "with space" in path, path


def test_source_paths_are_relative_for_asm_and_c_alike(build, tmp_path):
    """Issue 15 item 12: GDB names NASM and C sources the same way (relative to the
    repository), and finds both files."""
    from fjqemu.gdbrun import gdb_command, run_batch
    script = tmp_path / "paths.py"
    script.write_text(
        "import gdb\n"
        "for e in ('stage1_start', 'stage2_main', 'loader_main', '_start', 'kernel_main'):\n"
        "    s = gdb.find_pc_line(int(gdb.parse_and_eval('(unsigned long)&' + e))).symtab\n"
        "    print('SRC', e, s.filename, s.fullname())\n")
    rc, out, err = run_batch(gdb_command(scripts=[script]), timeout=60)
    rows = [line.split()[1:] for line in out.splitlines() if line.startswith("SRC ")]
    assert len(rows) == 5, out + err
    for name, filename, fullname in rows:
        assert not filename.startswith("/"), (name, filename)
        assert fullname == str(ROOT / filename) and Path(fullname).is_file(), (name, fullname)


def test_builds_into_an_absolute_build_directory(build, tmp_path):
    """make B=/elsewhere all (make bench's build row does it): every path built from $(B),
    the generated Python contracts' directory included, works when B is absolute."""
    out = tmp_path / "b"
    r = subprocess.run(["make", "-s", f"B={out}", "all"], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert (out / "disk.img").stat().st_size > 0
    assert (out / "gen" / "farjump_contracts.py").is_file()
