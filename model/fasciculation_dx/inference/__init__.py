"""Answering queries: the compiled engine, batch scoring, evidence checks and what a query shows.

``compiled`` is the exact engine behind every posterior, ``batch`` scores many cases at once,
``evidence`` checks and parses findings, ``information`` ranks the next tests (cheapest useful
tier first), ``explain`` splits a posterior into each finding's weight of evidence (for the leading
cause and for a pathological cause) and ``query`` assembles a whole differential
as JSON-ready data. Modules here may import :mod:`fasciculation_dx.network`, the errors and the
atomic writers; never analysis, the facade, the command line, reporting or the web page.
"""
