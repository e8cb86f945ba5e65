"""Unit tests of the pure decoders (fjgdb comes from pytest.ini's pythonpath)."""

import os

# Keep hypothesis from writing .hypothesis/ (example database, charmap
# cache) into the work tree; tests set max_examples/deadline themselves.
import tempfile  # noqa: E402

from hypothesis import settings  # noqa: E402
from hypothesis.configuration import set_hypothesis_home_dir  # noqa: E402

set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(),
                                     "farjump-hypothesis"))

settings.register_profile("farjump-unit", database=None)
settings.load_profile("farjump-unit")
