"""The instructor's side of the course: grading, review, the competition's scoring, the reports.

Nothing here is imported by a lesson. ``labkit.course.grading`` builds the nbgrader course folder
and grades submissions, each in a bubblewrap sandbox (``sandbox``, ``runner``), with probes inside
and judges outside (``checks``); ``review`` flags suspicious student code for the instructor (an
extra signal, never the defence). ``book`` builds the course's website. ``python -m labkit.course --help``
lists the grading commands.
"""
