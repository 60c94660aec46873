"""Devices and hosts: one ("data",) mesh over every device of every process.

Batches are sharded on "data", parameters replicated; the same program runs on 1 CPU, 8 GPUs, a TPU
slice or several hosts. Each process places only its own slice of the global batch.
"""

import os

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
from jaxtyping import PyTree

_initialised = False


def initialise_distributed(
    coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None
) -> None:
    """Join a multi-process JAX job (`jax.distributed.initialize`).

    With no arguments, JAX detects SLURM, TPU pods and Open MPI from the environment; otherwise pass
    the coordinator `HOST:PORT`, the number of processes and this process's id. Idempotent.
    """
    global _initialised
    if _initialised:
        return
    given = [coordinator, num_processes, process_id]
    if any(v is not None for v in given) and not all(v is not None for v in given):
        raise ValueError("--coordinator, --num-processes and --process-id must be given together")
    jax.distributed.initialize(
        coordinator_address=coordinator, num_processes=num_processes, process_id=process_id
    )
    _initialised = True


def cluster_detected() -> bool:
    """True when the environment describes a multi-process job (SLURM with >1 task, or a TPU pod)."""
    slurm = int(os.environ.get("SLURM_NTASKS", "1")) > 1
    tpu = "TPU_WORKER_HOSTNAMES" in os.environ and "," in os.environ["TPU_WORKER_HOSTNAMES"]
    return slurm or tpu


def data_mesh() -> jax.sharding.Mesh:
    """A 1-D mesh named "data" over all devices of all processes."""
    return jax.make_mesh((jax.device_count(),), ("data",), axis_types=(jax.sharding.AxisType.Auto,))


def replicate(tree: PyTree, mesh: jax.sharding.Mesh) -> PyTree:
    """Place a host pytree (identical on every process) replicated on every device of the mesh."""
    sharding = NamedSharding(mesh, P())

    def put(x):
        if not isinstance(x, np.ndarray | jax.Array) or isinstance(x, jax.core.Tracer):
            return x
        return jax.make_array_from_process_local_data(sharding, np.asarray(x))

    return jax.tree_util.tree_map(put, tree)


def check_batch(batch: PyTree, num_devices: int) -> int:
    """The global batch size; every leaf must share it, and it must divide over the devices."""
    leaves = jax.tree_util.tree_leaves(batch)
    if not leaves:
        raise ValueError("the task's batch is empty")
    sizes = {np.shape(x)[0] if np.ndim(x) else None for x in leaves}
    if None in sizes:
        raise ValueError("every batch leaf needs a leading batch axis; found a scalar leaf")
    if len(sizes) != 1:
        raise ValueError(f"batch leaves disagree on the batch size: {sorted(sizes)}")
    (size,) = sizes
    if size % num_devices:
        raise ValueError(
            f"batch size {size} is not divisible by the number of devices ({num_devices}); "
            f"choose a batch size that is a multiple of {num_devices}"
        )
    return size


def process_slice(batch: PyTree, num_devices: int, index: int, count: int) -> PyTree:
    """This process's contiguous share of a global host batch (checked for divisibility first)."""
    size = check_batch(batch, num_devices)
    per = size // count
    return jax.tree_util.tree_map(lambda x: np.asarray(x)[index * per : (index + 1) * per], batch)


def shard_local_batch(local: PyTree, mesh: jax.sharding.Mesh) -> PyTree:
    """Assemble every process's share into one global array sharded on "data".

    Each process hands JAX only its own rows (`jax.make_array_from_process_local_data`); no process
    ever holds or transfers another's data.
    """
    sharding = NamedSharding(mesh, P("data"))
    count = jax.process_count()

    def put(x):
        x = np.asarray(x)
        global_shape = (x.shape[0] * count, *x.shape[1:])
        if global_shape[0] % mesh.size:
            raise ValueError(
                f"batch size {global_shape[0]} is not divisible by the number of devices ({mesh.size}); "
                f"choose a batch size that is a multiple of {mesh.size}"
            )
        return jax.make_array_from_process_local_data(sharding, x, global_shape)

    return jax.tree_util.tree_map(put, local)
