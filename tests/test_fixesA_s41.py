"""Session 41, helper fixesA: the native engine's split-site check on chrY rows written REF-last.

A BGEN written REF-last (plink2 ``--export bgen-1.2`` without ``ref-first``) gives a site A>G,C,T
split per alt as the rows ``G,A``, ``C,A``, ``T,A``: each row's dosage is the REF A's, and the
site's alt copies of a row are ``2 - its dosage`` (``split_site_sums``' ``sum_flip``). On chrY a
non-male's calls are read as 0 copies (``native_task._drop_non_males_on_y``): ``2 - 0`` would
give her 2 alt copies per row, a false error for a valid file, so ``_SplitSiteCheck`` zeroes a
non-male's flipped chrY rows (78f0c06, untested there). Cheap: no Spark or Hail session.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest

from trd_spark.errors import InputDataError


def _check_chry_ref_last(dose: np.ndarray, male: np.ndarray) -> None:
    """``_SplitSiteCheck`` over chrY:3000000 A>G,C,T written REF-last (rows ``G,A``, ``C,A``,
    ``T,A``: ``dose`` holds A's dosage, rows x samples, as read) after the reader's own
    ``_drop_non_males_on_y`` (``male`` per sample), as ``_fill_missing_calls`` feeds it."""
    from trd_spark.pgs.native_task import _drop_non_males_on_y, _SplitSiteCheck
    from trd_spark.pgs.pgen_engine import split_site_sums

    rows = pd.DataFrame({"contig": ["chrY"] * 3, "position": [3000000] * 3, "ref": ["G", "C", "T"],
                         "alt": ["A"] * 3})
    arrays, _ = split_site_sums(rows, None, [0, 3])
    assert arrays["sum_flip"].tolist() == [True] * 3 and list(arrays["sum_site"]) == ["chrY:3000000 A>G,C,T"]
    y_rows = np.ones(3, dtype=bool)
    dose = dose.copy()
    _drop_non_males_on_y(dose, y_rows, male)
    task = SimpleNamespace(y_rows=y_rows, male=male, **arrays)
    check = _SplitSiteCheck(cast(Any, task), cast(Any, SimpleNamespace(matrix="/data/y.bgen")))
    none = np.array([], dtype=np.int64)
    check.add(0, dose, none, none)


def test_a_non_males_flipped_chry_rows_add_no_alt_copies():
    """Samples: male (A dosages 2, 2, 2: no alt), female (her stored 2, 2, 2 read as 0 copies on
    chrY), unknown sex (stored 1.0, 1.4, 1.1, also read as 0): no error, where ``2 - 0`` would
    be 6 alt copies each. A male's A dosages 1.0, 1.4, 1.1 are alt copies 1.0 + 0.6 + 0.9 = 2.5:
    the error (the check is live). With no male known (``male`` None) nobody's chrY is checked.
    Mutant (killed here, passes the other tests): the chrY zeroing in ``_SplitSiteCheck.add``
    removed (``if False and self.y_rows ...``): 'give 6.0000 alt copies' for the female."""
    valid = np.array([[2.0, 2.0, 1.0], [2.0, 2.0, 1.4], [2.0, 2.0, 1.1]])
    male = np.array([True, False, False])
    _check_chry_ref_last(valid, male)
    with pytest.raises(InputDataError, match=r"y\.bgen: the BGEN .* give 2\.5000 alt copies in all at "
                                             r"chrY:3000000 A>G,C,T \(1\.000,0\.600,0\.900\)"):
        _check_chry_ref_last(valid[:, [2, 1, 0]], male)
    _check_chry_ref_last(valid[:, [2, 1, 0]], None)
