"""ICB merger scenario simulator: model, configurations, metrics, IO and command line."""

from simulator.configuration import Configuration
from simulator.errors import ConfigurationError, DataError, IcbSimError, InputFileError, OutputError, ScenarioError
from simulator.model import Model, load_model
from simulator.metrics import Evaluation, MetricParameters, evaluate

__all__ = ["Configuration", "Model", "load_model", "evaluate", "Evaluation", "MetricParameters", "IcbSimError",
           "DataError", "ConfigurationError", "InputFileError", "OutputError", "ScenarioError"]
__version__ = "0.1.0"
