"""`distill view`: a local, read-only trace browser over a run directory or one stage directory.

catalog (which stages exist) -> query (filters and pages over lazy scans) and trace (one prompt's page) -> app
(answers as data) -> pages (escaped HTML) and server (HTTP, standard library). static/ holds the front end and
the vendored KaTeX and markdown-it (static/vendor/VENDORED.md).
"""
