"""scripts/walkthrough (python3 -m fjqemu.walkthrough): capture the docs' session outputs
from the current build, and write or check them. The package docstring says how."""
from __future__ import annotations

import argparse
import os
import shutil
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .. import IMAGE, ROOT
from . import __doc__ as PACKAGE_DOC
from .capture import STOP, Paths, capture, kill_children
from .check import IMAGES, check_blocks, make_images
from .config import DOC, DOCS, IMG, MAKE, CaptureError, shown_name
from .template import parse, render

# ---- main ------------------------------------------------------------------------------------------
def doc_images() -> list[str]:
    """The test images the docs boot by name (IMAGE=build/fault/NAME.img or
    build/triple/NAME.img), which make builds on demand."""
    found = set()
    for doc in DOCS:
        found.update(re.findall(r"\bIMAGE=(build/(?:fault|triple)/[a-z0-9-]+\.img)\b",
                                doc.read_text()))
    return sorted(found)


def build() -> None:
    try:
        # The ISO, the UEFI disk and the test images the docs name (IMAGE=build/fault/...,
        # build/triple/...) too: the docs boot them (make run BOOT=..., make why IMAGE=...),
        # and a make that built one first would print the build into the doc.
        p = subprocess.run([MAKE, "-s", "all", "build/bochs.sym", "build/farjump.iso",
                            "build/efi.img", *doc_images()], cwd=ROOT,
                           capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise SystemExit("walkthrough: make did not finish in 600 s")
    if p.returncode != 0:
        raise SystemExit(f"walkthrough: make failed:\n{p.stdout[-3000:]}{p.stderr[-3000:]}")



def capture_all(docs: list, write: bool, tmp: Path) -> list:
    """Capture every doc, all at the same time (each has its own QEMU, GDB and Bochs).
    docs: [(doc, blocks)]. Returns [(paths, CaptureError or None)], in the same order."""
    results = [None] * len(docs)

    def one(i, doc, blocks):
        try:
            d = tmp / f"{i}-{doc.stem}"
            d.mkdir()
            paths = Paths(d, write)
            results[i] = (paths, None)
            capture(blocks, paths)
        except CaptureError as e:
            results[i] = (results[i][0] if results[i] else None, e)
        except Exception:   # noqa: BLE001 -- a bug here must not hide the other docs
            import traceback
            results[i] = (None, CaptureError("internal error:\n" + traceback.format_exc()))

    threads = [threading.Thread(target=one, args=(i, doc, blocks), daemon=True)
               for i, (doc, blocks) in enumerate(docs)]
    try:
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    except KeyboardInterrupt:
        # End every GDB, shell, bochs-run and QEMU started so far (and any a thread is just
        # starting), and let the threads finish before the work directory goes.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        STOP.set()
        t0 = time.monotonic()
        while any(th.is_alive() for th in threads) and time.monotonic() - t0 < 15:
            # SIGTERM first (scripts/bochs-run then kills its Bochs), SIGKILL after 5 s.
            kill_children(signal.SIGTERM if time.monotonic() - t0 < 5 else signal.SIGKILL)
            for th in threads:
                th.join(timeout=0.2)
        kill_children(signal.SIGKILL)
        raise
    return results


def run(docs, write: bool, do_build: bool = True, keep: Path | None = None) -> int:
    t0 = time.monotonic()
    if isinstance(docs, Path):
        docs = [docs]
    if do_build:
        build()
    try:
        texts = [doc.read_text() for doc in docs]
    except OSError as e:
        raise SystemExit(f"walkthrough: cannot read {e.filename}: {e.strerror}")
    parsed = [(doc, parse(text, shown_name(doc))) for doc, text in zip(docs, texts)]
    image = IMAGE
    if any(b.kind != "sh" for _, blocks in parsed for b in blocks) and not image.is_file():
        hint = "run 'make' first" if not do_build else "the build did not make it"
        raise SystemExit(f"walkthrough: no disk image at {shown_name(image)} ({hint})")
    tmp = Path(tempfile.mkdtemp(prefix="fj-walkthrough-"))
    status = 0
    try:
        results = capture_all(parsed, write, tmp)
        for (doc, blocks), text, (paths, err) in zip(parsed, texts, results):
            shown = shown_name(doc)
            if err is not None:
                print(f"walkthrough: {shown}: a command of the doc failed:\n{err}",
                      file=sys.stderr)
                status = 1
                continue
            problems = make_images(paths, required=doc == DOC)
            if write:
                if problems:
                    print("walkthrough: " + "\n".join(problems), file=sys.stderr)
                    status = 1
                    continue
                new = render(text, blocks)
                if new != text:
                    doc.write_text(new)
                imgs = (f" and {', '.join('docs/img/' + n for n in IMAGES)}"
                        if doc == DOC else "")
                print(f"walkthrough: wrote {len(blocks)} blocks to {shown}{imgs}")
                continue
            report = check_blocks(blocks) + problems
            for name in IMAGES if doc == DOC else ():
                if not (IMG / name).exists():
                    report.append(f"docs/img/{name} is missing (run scripts/walkthrough --write)")
            if report:
                print("\n".join(report))
                print(f"walkthrough: {shown} is out of date ({len(report)} blocks or images "
                      f"differ); 'scripts/walkthrough --write' regenerates it", file=sys.stderr)
                status = 1
                continue
            print(f"walkthrough: {shown}: {len(blocks)} blocks match a fresh capture")
        print(f"walkthrough: {len(docs)} docs, {time.monotonic() - t0:.1f} s")
        return status
    finally:
        if keep:
            shutil.copytree(tmp, keep, dirs_exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None) -> int:
    # The captures must not depend on whether this runs under make (`make test`): a
    # child make that inherits MAKELEVEL prints "Entering directory" lines, and
    # MAKEFLAGS may carry the parent's jobserver.
    for var in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES"):
        os.environ.pop(var, None)
    ap = argparse.ArgumentParser(prog="scripts/walkthrough",
                                 description=PACKAGE_DOC.split("\n")[0],
                                 epilog="See qemu/fjqemu/walkthrough/__init__.py for the "
                                        "capture blocks and how they run.")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--write", action="store_true", help="rewrite the docs and docs/img/*.png")
    g.add_argument("--check", action="store_true", help="compare a fresh capture with the docs")
    ap.add_argument("--doc", type=Path, action="append",
                    help="a template; repeat for several (default: "
                         + ", ".join(shown_name(d) for d in DOCS) + ")")
    ap.add_argument("--no-build", action="store_true", help="do not run make first")
    ap.add_argument("--keep", type=Path, help="copy the raw captures to this directory")
    args = ap.parse_args(argv)
    docs = [d.resolve() for d in args.doc] if args.doc else list(DOCS)
    for d in args.doc or ():
        if not d.is_file():
            print(f"walkthrough: --doc {d}: no such file", file=sys.stderr)
            return 2
    try:
        return run(docs, args.write, not args.no_build, args.keep)
    except KeyboardInterrupt:
        print("walkthrough: interrupted; stopped its QEMU, GDB, Bochs and shell runs",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
