"""The experiment runner: config, task registry, training loop, devices and hosts, checkpoints, sweeps."""

from sciml.runner.compile_cache import enable_compile_cache as enable_compile_cache
from sciml.runner.config import ConfigError as ConfigError
from sciml.runner.config import OptimConfig as OptimConfig
from sciml.runner.config import RunConfig as RunConfig
from sciml.runner.config import TrainConfig as TrainConfig
from sciml.runner.config import load_config as load_config
from sciml.runner.devices import initialise_distributed as initialise_distributed
from sciml.runner.recorded import recorded_run as recorded_run
from sciml.runner.recorded import training_summary as training_summary
from sciml.runner.sweep import sweep as sweep
from sciml.runner.task import Task as Task
from sciml.runner.task import register_task as register_task
from sciml.runner.task import registered_tasks as registered_tasks
from sciml.runner.train import Run as Run
from sciml.runner.train import Trainer as Trainer
from sciml.runner.train import load as load
from sciml.runner.train import run as run
