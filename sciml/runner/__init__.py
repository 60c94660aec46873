"""The experiment runner: config, task registry, training loop, devices and hosts, checkpoints, sweeps."""

from .compile_cache import enable_compile_cache as enable_compile_cache
from .config import ConfigError as ConfigError
from .config import OptimConfig as OptimConfig
from .config import RunConfig as RunConfig
from .config import TrainConfig as TrainConfig
from .config import load_config as load_config
from .devices import initialize_distributed as initialize_distributed
from .sweep import sweep as sweep
from .task import Task as Task
from .task import register_task as register_task
from .task import registered_tasks as registered_tasks
from .train import Run as Run
from .train import Trainer as Trainer
from .train import load as load
from .train import run as run
