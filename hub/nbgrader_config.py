# The course's nbgrader configuration: copy it into the course directory (`course/` in
# notebooks/README.md, the instructor's ~/course on the hub; `make hub` does it).
# Environment variables override the defaults, so one file serves the demo, the tests and a
# real server: COURSE_ID, NBGRADER_EXCHANGE.
import os

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import GetGrades

from course_lib.grading.feedback import HideHiddenTests

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = os.environ.get("COURSE_ID", "segmentation")
# The exchange: where `nbgrader release_assignment` puts assignments, `fetch_assignment` reads
# them and `submit` writes. nbgrader's documented layout: the folder world-writable with the
# sticky bit (chmod 1777), on a disk every user's server sees. hub/jupyterhub_config.py and
# `make hub` create it; on a real server use /srv/nbgrader/exchange (nbgrader's default).
c.Exchange.root = os.environ.get("NBGRADER_EXCHANGE", "/srv/nbgrader/exchange")

# seconds per cell: nbgrader's default (30) is too short for the notebooks' training cells
c.Execute.timeout = 600

# A deleted graded cell is restored from the gradebook and graded (instead of a blank "needs
# manual grade" that export and feedback ignore); `python -m course_lib.grading tampering`
# names the submission.
c.OverwriteCells.add_missing_cells = True

# Feedback without the hidden tests (course_lib/grading/feedback.py): they stay secret for the
# next term.
c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, HideHiddenTests]
