# The course's nbgrader configuration. Copy it into the course directory (notebooks/README.md);
# on the hub every user's server reads it from hub/config (JUPYTER_CONFIG_PATH, set by
# hub/jupyterhub_config.py). Environment variables override the defaults, so one file serves
# the guide, the demo, the tests and a real server: COURSE_ID, NBGRADER_EXCHANGE, COURSE_ROOT.
import os

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.converters import GenerateAssignment
from nbgrader.preprocessors import GetGrades

from course_lib.grading.feedback import HideHiddenTests
from course_lib.grading.widget_state import DropWidgetState

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = os.environ.get("COURSE_ID", "segmentation")
if os.environ.get("COURSE_ROOT"):  # the instructor's course directory on the hub (~/course)
    c.CourseDirectory.root = os.path.expanduser(os.environ["COURSE_ROOT"])
# The exchange: where `nbgrader release_assignment` puts assignments, `fetch_assignment` reads
# them and `submit` writes. As nbgrader documents it: one folder on a disk every user's server
# sees, readable and writable by all (`mkdir -p /srv/nbgrader/exchange; chmod ugo+rw` it, 777;
# nbgrader makes <course>/inbound write-only for students, 733, and outbound read-only, 755). hub/classroom.py (`make hub`,
# the tests) creates it; on a real server use /srv/nbgrader/exchange (nbgrader's default).
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

# release/ gets what `make student` writes: without the instructor's saved widget state
# (course_lib/grading/widget_state.py); nbgrader's own steps unchanged, in their order.
c.GenerateAssignment.preprocessors = [*GenerateAssignment.class_traits()["preprocessors"].default(),
                                      DropWidgetState]
