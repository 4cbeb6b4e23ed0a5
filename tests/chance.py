"""The part of a message a test may search for what must be absent (session 56).

A check that a number or a value is NOT in an error line or a log (``"1003" not in
str(e.value)``) passes or fails by chance when the text also holds what the test does not
choose: pytest's temporary folder (``/tmp/pytest-of-<user>/pytest-<N>/popen-gw<k>/...``: N counts
the user's pytest runs, so ``pytest-1003`` after as many; a user ``nancy`` or ``ferdinand`` puts
``nan`` in it; a macOS temp dir is random letters and digits) or the checkout's folder. Session
55's CI failed so: ``\\b7\\b`` searched in an error line that began ``/tmp/pytest-of-root/pytest-7/``.
``without_paths`` cuts those folders out first; what is left is the message's own words and
values, and the file names the test chose.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).parent
# The checkout as found and as resolved (tests name their data folders both ways).
REPO_FOLDERS = (str(_HERE.parent), str(_HERE.resolve().parent))


def without_paths(text: str, *folders: str | Path) -> str:
    """``text`` with each of ``folders`` (a test's ``tmp_path``, its basetemp) and the checkout's
    folder replaced by ``<folder>`` wherever it occurs, longest first (so none is cut inside a
    longer one). Only the folders are cut: a value the test planted elsewhere in the text
    (``03/15/2019``, a person_id) stays to be found."""
    for folder in sorted({str(f) for f in (*folders, *REPO_FOLDERS)}, key=len, reverse=True):
        text = text.replace(folder, "<folder>")
    return text
