"""Self-contained HTML pages a learner steps through (one file, no network, inline in Jupyter):
the numbers are recorded from the engine in Python; the page's script only shows them."""
