"""Independent tasks (grid cells, zoo runs) on a joblib backend: ``loky`` processes on this
machine, or an existing ``dask`` / ``ray`` cluster (a local one of ``jobs`` single-threaded
workers when none is running).  One job on ``loky`` runs the tasks in this process, in order."""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

from robench.errors import RobenchError

JOBLIB_BACKENDS = ("loky", "dask", "ray")


class ParallelError(RobenchError):
    """An unknown or unavailable joblib backend."""


def joblib_context(backend: str, jobs: int):
    """joblib's ``parallel_config`` for ``backend`` with ``jobs`` workers."""
    import joblib

    if backend == "loky":
        return joblib.parallel_config(backend="loky", n_jobs=jobs)
    if backend == "dask":
        try:
            from dask.distributed import Client, get_client
        except ImportError:
            raise ParallelError("backend dask needs dask[distributed]: pip install 'robench[dask]'") from None
        try:
            get_client()
        except ValueError:  # no client yet: a local cluster of `jobs` single-threaded workers
            Client(n_workers=jobs, threads_per_worker=1, processes=True)
        return joblib.parallel_config(backend="dask", n_jobs=jobs)
    if backend == "ray":
        try:
            import ray
            from ray.util.joblib import register_ray
        except ImportError:
            raise ParallelError("backend ray needs ray: pip install 'robench[ray]'") from None
        register_ray()
        if not ray.is_initialized():
            ray.init(num_cpus=jobs, include_dashboard=False, log_to_driver=False)
        return joblib.parallel_config(backend="ray", n_jobs=jobs)
    raise ParallelError(f"unknown joblib backend {backend!r}; known: {', '.join(JOBLIB_BACKENDS)}")


def dispatch(task: Callable[..., Any], items: Iterable[Any], backend: str, jobs: int, *args: Any) -> Iterator[Any]:
    """``task(item, *args)`` for every item, results as they finish (ray's backend cannot stream:
    all at the end)."""
    items = list(items)
    if jobs == 1 and backend == "loky":
        yield from (task(item, *args) for item in items)
        return
    import joblib

    with joblib_context(backend, jobs):
        parallel = joblib.Parallel(return_as="list" if backend == "ray" else "generator_unordered")
        yield from parallel(joblib.delayed(task)(item, *args) for item in items)
