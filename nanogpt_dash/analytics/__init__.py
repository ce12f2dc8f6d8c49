"""Numbers derived from a run's series: pure functions on arrays (progress reads the LiveStore)."""

from .anomalies import AnomalyDetector, AnomalyEvent, AnomalySettings, detect, stalled
from .convergence import (Forecast, Gap, Plateau, PowerLaw, find_plateaus, fit_power_law, forecast, forecast_val_loss,
                          generalization_gap, lr_area, nanogpt_lr, slope_per_1k)
from .progress import Progress, format_duration, iteration_rate, progress
from .summary import (ConfigRow, Efficiency, MetricSummary, TimeToLoss, config_diff, efficiency, higher_is_better,
                      summarize, time_to_loss)
from .velocity import StepTimes, Velocity, current_rate, eta_seconds, step_time_percentiles, velocity

__all__ = [
    "AnomalyDetector", "AnomalyEvent", "AnomalySettings", "ConfigRow", "Efficiency", "Forecast", "Gap",
    "MetricSummary", "Plateau", "PowerLaw", "Progress", "StepTimes", "TimeToLoss", "Velocity", "config_diff",
    "current_rate", "detect", "efficiency", "eta_seconds", "find_plateaus", "fit_power_law", "forecast", "forecast_val_loss",
    "format_duration", "generalization_gap", "higher_is_better", "iteration_rate", "lr_area", "nanogpt_lr",
    "progress", "slope_per_1k", "stalled", "step_time_percentiles", "summarize", "time_to_loss", "velocity",
]
