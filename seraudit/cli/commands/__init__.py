"""One module per `seraudit` sub-command; each exposes `add_parser(subparsers)`.

Modules import their heavy dependencies (TensorFlow, openSMILE) inside the
command's function, so `seraudit --help` stays fast.
"""
