"""SERAudit: train and audit a VGGish+YAMNet ensemble for speech emotion recognition.

`import seraudit as sa` then ``sa.train``, ``sa.open_run``, ``sa.explain``, ``sa.audit``,
``sa.report``, ``sa.main_job``, ``sa.intervene``: the library API of `seraudit.api`, loaded on first use
(a module ``__getattr__``) so that importing the package alone never starts TensorFlow
(the openSMILE worker imports the lower layers in a process of its own).
"""

__version__ = "0.1.0"

#: The names `seraudit.api` exports, reachable as attributes of the package.
API = ("train", "open_run", "explain", "audit", "report", "main_job", "intervene", "Audit", "MainJob")


def __getattr__(name: str):
    if name in API:
        from seraudit import api

        value = getattr(api, name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'seraudit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *API})
