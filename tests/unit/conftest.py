"""Unit tests of the pure decoders: put gdb/ and build/gen (farjump_contracts) on sys.path."""

import os
import sys

GDB_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       os.pardir, os.pardir, "gdb")
GDB_DIR = os.path.normpath(GDB_DIR)
GEN_DIR = os.path.normpath(os.path.join(GDB_DIR, os.pardir, "build", "gen"))
for _d in (GEN_DIR, GDB_DIR):
    if _d not in sys.path:
        sys.path.insert(0, _d)

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "fixtures")

# Keep hypothesis from writing .hypothesis/ (example database, charmap
# cache) into the work tree; tests set max_examples/deadline themselves.
import tempfile  # noqa: E402

from hypothesis import settings  # noqa: E402
from hypothesis.configuration import set_hypothesis_home_dir  # noqa: E402

set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(),
                                     "farjump-hypothesis"))

settings.register_profile("farjump-unit", database=None)
settings.load_profile("farjump-unit")
