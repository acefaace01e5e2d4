"""The model report: one self-contained HTML page a person opens to see how a version trained,
how it scores, how it compares with the champion, and what it was trained on.

`gather` collects what the services stored (through the client: this package is shared by the
CLI and the controller, which stores a report with each decided run); `render` turns it into
the page. Plots are matplotlib's (`tuneloop.plots`), inline as SVG.
"""

from tuneloop.report.gather import gather
from tuneloop.report.page import render

__all__ = ["gather", "render"]
