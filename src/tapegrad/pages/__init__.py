"""Self-contained HTML pages a learner steps through: one file, no network, opens from file://
and inline in Jupyter. The numbers in a page are recorded from the engine in Python; the
page's script only shows them."""
