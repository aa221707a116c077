"""The command line: ``fasciculation-dx`` and ``python -m fasciculation_dx``.

``main`` parses arguments and runs the clinician commands (query, nodes, validate, demo);
``args`` holds the shared argument types and options; ``score``, ``research`` (simulate,
calibrate, evaluate), ``report`` and ``tools`` (serve, export) add the other commands, each
imported only when its command runs. The command line is the top of the package: it may import
any wing, the facade and the web page; nothing imports it.
"""
