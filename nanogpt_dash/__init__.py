"""nanogpt_dash: watch a nanoGPT-style training run live in the browser.

A training script needs only this::

    run = nanogpt_dash.init("runs/my-run", config=config, model_args=model_args)
    run.log({"train/loss": loss, "lr": lr}, step=iter_num)
    run.finish()
"""

from .errors import NanogptDashError
from .tracking import Run, TrackingError, finish, init, log

__version__ = "0.1.0"

__all__ = ["init", "log", "finish", "Run", "TrackingError", "NanogptDashError", "__version__"]
