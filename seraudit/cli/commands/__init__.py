"""One module per `seraudit` sub-command; each exposes `add_parser(subparsers)`.

A command parses its arguments and calls the library. Options that several
commands share come from `seraudit.cli.options`, so they mean the same everywhere.

Modules import their heavy dependencies (TensorFlow, openSMILE) inside the
command's function, so `seraudit --help` stays fast.
"""
