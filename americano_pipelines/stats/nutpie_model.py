"""A PyMC model for nutpie, compiled by PyTensor's C backend, whose compiled modules PyTensor keeps
on disk (its `base_compiledir`, under AMERICANO_HOME): the first fit of a process loads them
instead of compiling again.

nutpie's own `compile_pymc_model` goes through numba, and numba cannot cache the C callbacks it
builds around the model (they close over the model's functions), so every process paid the whole
compilation: 27 s for the first ITS of a process here, 0.1 s for each later one. Through this
module: 4.8 s for the first (22 s once, while the disk cache is cold), then 2.4 s per fit, as
nutpie calls the compiled logp and gradient from Python (measured on the golden ITS series, 2
chains x (1000 tune + 1000 draws), 2 cores). Every process of the platform (a Dagster step, a CLI
call) starts with the first fit.

A batch of many fits in one process (a calibration study, a power simulation) is better served
by nutpie's numba backend (`backend="numba"`): 28-32 s to compile in every process, then
0.09-0.14 s per fit instead of 0.9-2.2 s (2 chains x (300 tune + 300 draws), 40 days, without
and with AR(1) errors), as the whole sampler loop then runs in compiled code.

Built on nutpie's helpers `_make_functions`, `_prepare_dims_and_coords` and `_wrap_with_lock`
(those its JAX path uses, with its defaults); nutpie is pinned in uv.lock, and
tests/unit/test_its.py samples through here.
Importing this module loads nothing heavy.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal, get_args

__all__ = ["NUTPIE_BACKENDS", "NutpieBackend", "compile_for_nutpie"]


_NO_BLAS = "PyTensor could not link to a BLAS"

NutpieBackend = Literal["c", "numba"]
NUTPIE_BACKENDS: tuple[str, ...] = get_args(NutpieBackend)


def compile_for_nutpie(model: Any, backend: NutpieBackend = "c") -> Any:
    """nutpie's compiled model (`with_data` swaps the `pm.Data` values) for PyMC `model`."""
    if backend == "numba":
        from nutpie import compile_pymc_model

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", _NO_BLAS, UserWarning)  # as below
            return compile_pymc_model(model, backend="numba")
    if backend != "c":
        raise ValueError(f"backend: {backend!r} is not one of {NUTPIE_BACKENDS}")
    import numpy as np
    import pymc as pm
    import pytensor
    from nutpie import compile_pymc
    from nutpie.compiled_pyfunc import from_pyfunc

    # nutpie's defaults: start at the support point, jittered U(-1, 1), one draw at a time
    initial_point = pm.initial_point.make_initial_point_fn(
        model=model,
        default_strategy="support_point",
        jitter_rvs=set(model.free_RVs),
        return_transformed=True,
    )
    with warnings.catch_warnings():
        # PyTensor finds no BLAS to link its C code against and falls back to NumPy's, which
        # is what these small models need.
        warnings.filterwarnings("ignore", _NO_BLAS, UserWarning)
        n_dim, _, logp_fn, expand_fn, initial_point_fn, shape_info = compile_pymc._make_functions(
            model,
            mode="FAST_RUN",  # the C backend
            compute_grad=True,
            join_expanded=False,
            pymc_initial_point_fn=compile_pymc._wrap_with_lock(initial_point),
            var_names=None,
        )
    names, _, shapes = shape_info
    dtypes = [np.dtype("float64")] * len(names)
    shared_data = {
        var.name: np.asarray(var.get_value())
        for var in (*logp_fn.get_shared(), *expand_fn.get_shared())
    }

    def private(function):
        """A copy of `function` with data of its own: nutpie's chains are threads, and a
        PyTensor function is not thread-safe. Returns it and a setter for its data that does
        nothing when the values are those it already holds."""
        own = {
            var: pytensor.shared(var.get_value(), name=var.name) for var in function.get_shared()
        }
        copy = function.copy(share_memory=False, swap=own)
        held: dict[str, Any] = {}

        def with_data(data: dict[str, Any]) -> None:
            for var in own.values():
                if held.get(var.name) is not data[var.name]:
                    var.set_value(data[var.name], borrow=True)
                    held[var.name] = data[var.name]

        return copy, with_data

    def make_logp_fn():
        logp_and_grad, with_data = private(logp_fn)

        def logp(x, **data):
            with_data(data)
            # A divergent trajectory overflows; NUTS sees the non-finite value and counts a
            # divergence (as on nutpie's numba path), so NumPy need not warn of it.
            with np.errstate(all="ignore"):
                value, grad = logp_and_grad(x)
            return float(value), np.asarray(grad, dtype="float64", order="C")

        return logp

    def make_expand_fn(seed1, seed2, chain):  # deterministic: no seed used
        expand, with_data = private(expand_fn)

        def expanded(x, **data):
            with_data(data)
            with np.errstate(all="ignore"):
                values = expand(x)
            return {
                name: np.asarray(value, order="C", dtype=dtype).reshape(shape)
                for name, value, dtype, shape in zip(names, values, dtypes, shapes, strict=True)
            }

        return expanded

    dims, coords = compile_pymc._prepare_dims_and_coords(model, shape_info)
    return from_pyfunc(
        ndim=n_dim,
        make_logp_fn=make_logp_fn,
        make_expand_fn=make_expand_fn,
        make_initial_point_fn=initial_point_fn,
        expanded_dtypes=dtypes,
        expanded_shapes=shapes,
        expanded_names=names,
        shared_data=shared_data,
        dims=dims,
        coords=coords,
    )
