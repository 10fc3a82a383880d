"""The small base every model shares: sampling, diagnostics, results, save/load, cache.

Intervals are equal-tailed (``eti``) and their probability is in the column
names: ``eti90_low`` and ``eti90_high`` bound the central 90% of the posterior.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from cxresearch import cache

# Convergence thresholds for `ok` (Vehtari et al. 2021).
MAX_RHAT = 1.01
MIN_ESS = 400


@dataclass(frozen=True)
class SamplerConfig:
    """How to sample: nutpie by default, the PyMC sampler as fallback."""

    draws: int = 1000
    tune: int = 1000
    chains: int = 2
    target_accept: float = 0.9
    sampler: str = "nutpie"  # "nutpie" or "pymc"


def configure(config: Any, *, draws: int | None = None, tune: int | None = None,
              chains: int | None = None) -> Any:
    """``config`` with its sampler's draws, tune or chains replaced where given.

    Notebooks pass their ``draws``/``tune`` parameters through this; ``None`` keeps
    the model's own default (which may differ per model).
    """
    changes = {k: v for k, v in {"draws": draws, "tune": tune, "chains": chains}.items()
               if v is not None}
    return replace(config, sampler=replace(config.sampler, **changes)) if changes else config


def interval_names(prob: float) -> tuple[str, str]:
    pct = f"{100 * prob:g}"
    return f"eti{pct}_low", f"eti{pct}_high"


def interval(draws: xr.DataArray | np.ndarray, prob: float = 0.9,
             dims: tuple[str, ...] = ("chain", "draw")) -> dict[str, Any]:
    """Mean, sd and the equal-tailed interval of posterior draws: over ``dims`` of a
    DataArray (DataArrays out), or over the first axis of an array (draws x anything)."""
    lo, hi = interval_names(prob)
    q = [(1 - prob) / 2, (1 + prob) / 2]
    if isinstance(draws, np.ndarray):
        return {"mean": draws.mean(0), "sd": draws.std(0), lo: np.quantile(draws, q[0], axis=0),
                hi: np.quantile(draws, q[1], axis=0)}
    return {"mean": draws.mean(dims), "sd": draws.std(dims),
            lo: draws.quantile(q[0], dims).drop_vars("quantile"),
            hi: draws.quantile(q[1], dims).drop_vars("quantile")}


def sample(model, sampler: SamplerConfig, seed: int, *, reuse_key: str | None = None,
           nutpie_options: dict[str, Any] | None = None) -> xr.DataTree:
    """Draw from ``model`` with nutpie (or the PyMC sampler when nutpie is absent).

    ``reuse_key`` (optional) names the model's structure: graph, shapes and coords,
    everything but the values of its ``pm.Data`` containers. nutpie then compiles
    the model once per process and later fits with the same key only swap the
    data in (``with_data``), which saves the compilation (seconds) on refits.
    ``nutpie_options`` go to ``nutpie.sample`` (e.g. ``adaptation="low_rank"``).
    """
    import pymc as pm

    kind = sampler.sampler
    if kind == "nutpie":
        try:
            import nutpie  # noqa: F401
        except ImportError:
            kind = "pymc"
    kwargs = {"nuts_sampler": "nutpie"} if kind == "nutpie" else {"nuts_sampler": "pymc",
                                                                     "cores": 1}
    if kind == "nutpie" and reuse_key is not None:
        return _sample_nutpie_reused(model, sampler, seed, reuse_key, nutpie_options or {})
    if kind == "nutpie" and nutpie_options:
        kwargs["nuts"] = dict(nutpie_options)
    with model:
        return pm.sample(draws=sampler.draws, tune=sampler.tune, chains=sampler.chains,
                         target_accept=sampler.target_accept, random_seed=seed,
                         progressbar=False, **kwargs)


_COMPILED: dict[str, Any] = {}  # reuse_key -> nutpie compiled model (this process only)


def _sample_nutpie_reused(model, sampler: SamplerConfig, seed: int, key: str,
                          options: dict[str, Any]) -> xr.DataTree:
    import nutpie
    from pymc.backends.arviz import patch_nutpie_idata

    data = {v.name: v.get_value() for v in model.data_vars}
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = _COMPILED[key] = nutpie.compile_pymc_model(model)
    elif data:
        compiled = compiled.with_data(**data)
    start = time.perf_counter()
    idata = nutpie.sample(compiled, draws=sampler.draws, tune=sampler.tune,
                          chains=sampler.chains, seed=seed, progress_bar=False, save_warmup=False,
                          target_accept=sampler.target_accept, **options)
    patch_nutpie_idata(idata, model, sampling_time=time.perf_counter() - start)
    return idata


def diagnostics(idata: xr.DataTree, var_names: list[str] | None = None) -> dict[str, Any]:
    """Max R-hat, min bulk/tail ESS over ``var_names`` and the number of divergences."""
    import arviz as az

    post = idata["posterior"].to_dataset()
    if var_names:
        post = post[var_names]
    rhat = az.rhat(post)
    ess_bulk = az.ess(post, method="bulk")
    ess_tail = az.ess(post, method="tail")
    stats = idata["sample_stats"].to_dataset()
    worst = {}
    for key, ds, agg in (("max_rhat", rhat, np.nanmax), ("min_ess_bulk", ess_bulk, np.nanmin),
                         ("min_ess_tail", ess_tail, np.nanmin)):
        values = np.concatenate([np.ravel(ds[v].values) for v in ds.data_vars])
        worst[key] = float(agg(values))
    return worst | {
        "divergences": int(stats["diverging"].sum()) if "diverging" in stats else 0,
        "chains": int(post.sizes["chain"]), "draws": int(post.sizes["draw"]),
    }


@dataclass
class FitResult:
    """A fitted model: the posterior, its inputs, diagnostics and tidy summaries."""

    model: ClassVar[str] = "base"
    config: dict[str, Any]
    idata: xr.DataTree
    data: dict[str, Any]
    diagnostics: dict[str, Any]
    seed: int
    cached: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        d = self.diagnostics
        return (d["max_rhat"] <= MAX_RHAT and d["divergences"] == 0
                and d["min_ess_bulk"] >= MIN_ESS and d["min_ess_tail"] >= MIN_ESS)

    @property
    def notes(self) -> list[str]:
        """What the model left out of its input, and why (every row is accounted for)."""
        return [*self.data.get("notes", []), *self.extra.get("notes", [])]

    @property
    def posterior(self) -> xr.Dataset:
        return self.idata["posterior"].to_dataset()

    def diagnostics_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"model": self.model, "ok": self.ok, **self.diagnostics}])

    def warning(self) -> str | None:
        """A loud message when the sampler did not converge, else None."""
        if self.ok:
            return None
        d = self.diagnostics
        return (f"{self.model}: convergence NOT reached (max R-hat {d['max_rhat']:.3f}, "
                f"min bulk ESS {d['min_ess_bulk']:.0f}, min tail ESS {d['min_ess_tail']:.0f}, "
                f"{d['divergences']} divergences): do not trust these numbers; "
                "draw more samples or check the data")

    def save(self, path: str | Path) -> Path:
        """Write the posterior (netCDF) and the config, inputs and diagnostics (JSON)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        tree = self.idata.copy()
        if "sample_stats" in tree:  # object-typed sampler messages do not go to netCDF
            stats = tree["sample_stats"].to_dataset()
            tree["sample_stats"] = stats.drop_vars([v for v in stats.data_vars
                                                    if stats[v].dtype == object])
        tree.to_netcdf(path / "idata.nc", engine="h5netcdf")
        meta = {"model": self.model, "config": self.config, "data": self.data,
                "diagnostics": self.diagnostics, "seed": self.seed, "extra": self.extra}
        (path / "meta.json").write_text(json.dumps(meta, default=_json_default, indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> FitResult:
        """Read a saved fit; refuses one saved by a different model."""
        path = Path(path)
        meta = json.loads((path / "meta.json").read_text())
        if meta["model"] != cls.model:
            raise ValueError(f"{path} holds a '{meta['model']}' fit, not '{cls.model}'")
        idata = xr.open_datatree(path / "idata.nc", engine="h5netcdf").load()
        return cls(config=meta["config"], idata=idata, data=meta["data"],
                   diagnostics=meta["diagnostics"], seed=meta["seed"], extra=meta["extra"])


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer | np.floating):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj)}")


def fit_cached(result_cls: type[FitResult], config: dict[str, Any], data: dict[str, Any],
               seed: int, draw: Callable[[], xr.DataTree],
               var_names: list[str] | None = None, use_cache: bool = True) -> FitResult:
    """Fit through the cache: same model, config, data and seed -> the stored fit."""
    from cxresearch import provenance

    key = cache.fit_key(result_cls.model, config | {"code": _code_version(result_cls)},
                        cache.data_fingerprint(data), seed)
    where = cache.fit_dir(key)
    if use_cache and cache.enabled() and (where / "meta.json").exists():
        result = result_cls.load(where)
        result.cached = True
    else:
        start = time.perf_counter()
        idata = draw()
        diag = diagnostics(idata, var_names) | {"seconds": round(time.perf_counter() - start, 2)}
        result = result_cls(config=config, idata=idata, data=data, diagnostics=diag, seed=seed)
        if use_cache and cache.enabled():
            _save_atomically(result, where)
    provenance.record_fit(result)
    return result


def _code_version(result_cls: type[FitResult]) -> str:
    """A hash of the model's module and of this base: changed code never reuses old fits."""
    import hashlib
    import inspect
    import sys

    digest = hashlib.sha256()
    for module in (sys.modules[result_cls.__module__], sys.modules[__name__]):
        try:
            digest.update(Path(inspect.getsourcefile(module) or "").read_bytes())
        except (TypeError, OSError):  # defined interactively (a notebook): no file to hash
            digest.update(module.__name__.encode())
    return digest.hexdigest()[:12]


def _save_atomically(result: FitResult, where: Path) -> None:
    where.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=where.parent, prefix=".tmp-"))
    try:
        result.save(tmp)
        os.replace(tmp, where) if not where.exists() else shutil.rmtree(tmp)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
