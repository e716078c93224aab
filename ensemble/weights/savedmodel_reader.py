"""Read every variable of a TF Hub / Kaggle SavedModel by name, for the backbone weight loaders."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seraudit.core.errors import WeightsError


def read_savedmodel_variables(path: Path, hub_name: str) -> dict[str, np.ndarray]:
    """All variables reachable from the restored object, keyed by name without ``:0``.

    `TrackableView(...).descendants()` finds them whether or not the restored object
    exposes a ``.variables`` attribute (TF Hub modules differ). `hub_name` only goes
    into the error message, to say what to download again.
    """
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as error:  # TF raises a variety of parse/IO errors here
        raise WeightsError(
            f"{path} could not be loaded as a SavedModel ({type(error).__name__}); "
            f"download the TF Hub {hub_name} SavedModel again"
        ) from error
    return {
        node.name.removesuffix(":0"): node.numpy()
        for node in tf.train.TrackableView(loaded).descendants()
        if isinstance(node, tf.Variable)
    }
