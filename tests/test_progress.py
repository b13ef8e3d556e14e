"""The course's progress bar redraws at most once a second (a notebook test runner reads a
long cell's output messages only at its end: too many are dropped)."""

import inspect

from course_lib import _progress, train
from course_lib.data import rendered
from course_lib.models import trunk


def test_the_bar_redraws_at_most_once_a_second_and_disappears():
    bar = _progress.progress_bar(range(3), desc="x")
    try:
        assert bar.mininterval >= 1.0 and bar.leave is False and list(bar) == [0, 1, 2]
    finally:
        bar.close()


def test_every_long_loop_uses_it():
    for module in (train, rendered, trunk):
        source = inspect.getsource(module)
        assert "progress_bar(" in source and "tqdm(" not in source, module.__name__
