"""Session 32 coordinator: the heartbeat's quote of a long progress line is cut between words and
never ends on a number cut from its qualifier (the full suite saw "a count of 20 ..." from "a count
of 20 or more may be hidden", read by test_privacy_export as a person count of 20)."""
import logging
import re

import pytest

from trd_spark.logs import LastStep


def _quoted(message: str) -> str:
    step = LastStep(exclude="heartbeat")
    step.emit(logging.LogRecord("trd_spark.x", logging.INFO, __file__, 1, message, None, None))
    return re.fullmatch(r"; since '(.*)' \d+s ago", step.since()).group(1)


@pytest.mark.parametrize("tail", ["20 or more may be hidden there to protect a smaller one",
                                  "20+ persons, exact count not logged, and more words here",
                                  "1,234 records and more words that run past the cut"])
def test_a_cut_quote_ends_on_no_number(tail):
    # The number starts at every place around the cut: whichever word the cut falls in, the quote
    # keeps whole words of the message and ends on none holding a digit.
    for pad in range(LastStep.SHOWN_CHARS - 40, LastStep.SHOWN_CHARS + 2):
        message = "step: " + "x" * (pad - 7) + " " + tail  # the tail starts at ``pad``
        quoted = _quoted(message)
        assert quoted.endswith(" ...") and len(quoted) <= LastStep.SHOWN_CHARS + 1, quoted
        kept = quoted[:-4].split(" ")
        assert kept == message.split(" ")[:len(kept)], (pad, quoted)  # whole words, from the start
        assert not any(c.isdigit() for c in kept[-1]), (pad, quoted)


def test_one_long_word_is_cut_inside():
    path = "gs://bucket/" + "a" * 200
    assert _quoted(path) == path[:LastStep.SHOWN_CHARS - 3] + " ..."


def test_a_short_line_is_quoted_whole():
    assert _quoted("pgs: matching 61 scores in dataset discovery") == "pgs: matching 61 scores in dataset discovery"
