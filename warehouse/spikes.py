"""Hourly spike detection on arrays: seasonal baseline, count test, incidents.

The core works on a matrix ``y[series, hour]`` of hourly counts (negative mentions of a
brand, or the complaints of one root cause) whose hour 0 is a Moscow midnight. Every
statistic at hour *t* uses only hours before *t* for the baseline and hours up to *t* for
the observation, so computing all hours at once (numpy cumulative sums) gives exactly what
running the detector hour after hour would: the warehouse path (warehouse.incidents) and
the backtest (warehouse.backtest) call the same functions.

Baseline, per series and hour (all counts winsorised at a high quantile of a first-pass
baseline, so past incidents barely move it):
  * hour-of-week mean over the past ``weeks`` weeks, shrunk towards hour-of-day × weekday
    means (far more samples, so sparse series still get a seasonal shape);
  * times the recent level: observed / seasonal-expected over the last ``level_hours``,
    so a brand that grows or shrinks is followed within days, and times the level of the
    last ``now_hours`` (a busy day is not a spike; shrunk towards 1 for sparse series).
Test: negative binomial upper tail, its dispersion estimated by moments from the
winsorised residuals of the last ``disp_hours`` (Poisson when there is no overdispersion),
over trailing windows of 1, 3, 6 and 24 hours (Bonferroni over windows), plus a minimum
count and a minimum ratio. An incident (one per brand and burst) opens on one very
surprising hour or on ``persist`` anomalous hours in a row, grows while any series of the
brand stays anomalous and closes after ``cooldown`` quiet hours.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

if TYPE_CHECKING:
    import duckdb

    from warehouse.incidents import Incident

RULE = "hourly_spike_nb"
WEEK = 168


@dataclass(frozen=True)
class Params:
    weeks: int = 8                 # seasonal history
    season_prior_weeks: float = 4.0   # weight of hour-of-day × weekday vs hour-of-week
    level_hours: int = 168         # recent level window
    level_prior: float = 5.0       # pseudo-counts that keep a sparse level near 1
    level_clip: tuple[float, float] = (1 / 3, 3.0)
    now_hours: int = 6             # intraday level: the last hours against their baseline
    now_prior: float = 10.0
    now_clip: tuple[float, float] = (0.5, 2.0)
    disp_hours: int = 672          # dispersion estimate window
    disp_prior: float = 20.0       # added to sum(E^2): sparse series stay near Poisson
    disp_clip: tuple[float, float] = (0.01, 1.0)
    floor: float = 0.02            # expected per hour never below (0.5 a day)
    min_history_hours: int = 168
    windows: tuple[int, ...] = (1, 3, 6, 24)
    alpha: float = 1e-3            # anomalous hour (after Bonferroni over windows)
    alpha_strong: float = 2e-4     # one such hour opens an incident at once
    persist: int = 2               # or this many anomalous hours in a row
    min_count: int = 5
    min_ratio: float = 2.0
    cooldown: int = 6              # quiet hours that close an incident


DEFAULT = Params()


@dataclass
class Scores:
    """Per series and hour: the baseline, the best window's test, and the flags."""
    expected: np.ndarray     # E[t], float
    inv_size: np.ndarray     # NB 1/size (var = E + E^2 * inv_size)
    p_value: np.ndarray      # min over windows, Bonferroni-adjusted; 1 where not tested
    ratio: np.ndarray        # observed / expected of that window
    window: np.ndarray       # hours of that window (0 where not tested)
    anomalous: np.ndarray    # bool
    strong: np.ndarray       # bool
    severity: np.ndarray     # int 0..10 (0 = not anomalous)


@dataclass(frozen=True)
class Burst:
    """An incident found by :func:`incidents`, in hour indices of the input arrays."""
    group: int
    start: int          # first anomalous hour
    confirmed: int      # the hour it became an alert
    last: int           # latest anomalous hour
    closed: bool        # cooldown passed before the end of the data


# ---------------------------------------------------------------- rolling sums

def _past(x: np.ndarray, w: int) -> np.ndarray:
    """sum of x[t-w .. t-1] along the last axis (zeros before the start)."""
    c = np.zeros(x.shape[:-1] + (x.shape[-1] + 1,))
    np.cumsum(x, axis=-1, out=c[..., 1:])
    t = np.arange(x.shape[-1])
    return c[..., t] - c[..., np.maximum(t - w, 0)]


def _trailing(x: np.ndarray, w: int) -> np.ndarray:
    """sum of x[t-w+1 .. t]."""
    return _past(x, w) + x - (_lag(x, w) if w > 0 else 0)


def _lag(x: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros_like(x)
    if k < x.shape[-1]:
        out[..., k:] = x[..., :-k] if k else x
    return out


def _lagsum(x: np.ndarray, lag: int, n: int) -> np.ndarray:
    """sum over k = 1..n of x[t - k*lag] (same hour of day / of week in past periods)."""
    s, t = x.shape
    pad = (-t) % lag
    xp = np.concatenate([x, np.zeros((s, pad))], axis=1).reshape(s, -1, lag)
    c = np.zeros((s, xp.shape[1] + 1, lag))
    np.cumsum(xp, axis=1, out=c[:, 1:])
    j = np.arange(xp.shape[1])
    return (c[:, j] - c[:, np.maximum(j - n, 0)]).reshape(s, -1)[:, :t]


def _weekday_rate(x: np.ndarray, weeks: int) -> np.ndarray:
    """For every hour: the sum of x over the same (Moscow) weekday in the past weeks."""
    s, t = x.shape
    pad = (-t) % 24
    days = np.concatenate([x, np.zeros((s, pad))], axis=1).reshape(s, -1, 24).sum(axis=2)
    return np.repeat(_lagsum(days, 7, weeks), 24, axis=1)[:, :t]


# ---------------------------------------------------------------- baseline and test

def _seasonal(y: np.ndarray, avail: np.ndarray, p: Params) -> np.ndarray:
    k = p.weeks
    how_s, how_n = _lagsum(y, WEEK, k), _lagsum(avail, WEEK, k)
    hod = _lagsum(y, 24, 7 * k) / np.maximum(_lagsum(avail, 24, 7 * k), 1)
    dow = _weekday_rate(y, k) / np.maximum(_weekday_rate(avail, k), 1)
    base = _past(y, WEEK * k) / np.maximum(_past(avail, WEEK * k), 1)
    ind = np.divide(hod * dow, base, out=np.zeros_like(base), where=base > 0)
    season = (how_s + p.season_prior_weeks * ind) / (how_n + p.season_prior_weeks)
    level = ((_past(y, p.level_hours) + p.level_prior)
             / (_past(season, p.level_hours) + p.level_prior))
    season = season * np.clip(level, *p.level_clip)
    now = (_past(y, p.now_hours) + p.now_prior) / (_past(season, p.now_hours) + p.now_prior)
    return np.maximum(season * np.clip(now, *p.now_clip), p.floor)


def baseline(y: np.ndarray, avail: np.ndarray, p: Params = DEFAULT) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(expected, 1/size, evaluable) per series and hour, from hours before each hour.

    ``avail`` is 1.0 where the series existed (the brand had data), 0.0 before.
    """
    y = np.asarray(y, dtype=float)
    avail = np.asarray(avail, dtype=float)
    evaluable = _past(avail, p.min_history_hours) >= p.min_history_hours
    first = _seasonal(y, avail, p)
    cap = np.ceil(first + 2.5 * np.sqrt(first * (1.0 + 0.05 * first)) + 1.0)
    yw = np.where(evaluable, np.minimum(y, cap), y)          # winsorised past
    e = _seasonal(yw, avail, p)
    ok = evaluable.astype(float)
    resid = ((yw - e) ** 2 - e) * ok
    inv = _past(resid, p.disp_hours) / (_past(e * e * ok, p.disp_hours) + p.disp_prior)
    return e, np.clip(inv, *p.disp_clip), evaluable


def nb_sf(observed: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """P(X >= observed) for a count with this mean and variance (NB; Poisson if var <= mean)."""
    observed, mean, var = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (observed, mean, var)))
    over = var - mean
    nb = over > 1e-9 * mean
    out = np.empty(observed.shape)
    size = mean[nb] ** 2 / over[nb]
    out[nb] = stats.nbinom.sf(observed[nb] - 1, size, size / (size + mean[nb]))
    out[~nb] = stats.poisson.sf(observed[~nb] - 1, mean[~nb])
    return out


def severity(ratio: np.ndarray | float, p_value: np.ndarray | float) -> np.ndarray:
    """1..10 from how unlikely the count is and how far above normal it is."""
    ratio = np.maximum(np.asarray(ratio, dtype=float), 1.0)
    p = np.maximum(np.asarray(p_value, dtype=float), 1e-300)
    score = 0.5 * -np.log10(p) + 1.5 * np.log2(ratio)
    return np.clip(np.round(score / 2), 1, 10).astype(int)


def score(y: np.ndarray, avail: np.ndarray, p: Params = DEFAULT) -> Scores:
    """Baseline and count test for every series and hour (vectorised, causal)."""
    y = np.asarray(y, dtype=float)
    e, inv, evaluable = baseline(y, avail, p)
    shape = y.shape
    best_p, best_r, best_w = np.ones(shape), np.zeros(shape), np.zeros(shape, dtype=int)
    above_now = (y >= 1) & (y > e)
    for w in p.windows:
        obs, exp_ = _trailing(y, w), _trailing(e, w)
        cand = ((obs >= p.min_count) & (obs >= p.min_ratio * exp_)
                & (_trailing(evaluable.astype(float), w) >= w))
        if w > 1:
            cand &= above_now
        if not cand.any():
            continue
        var = exp_[cand] + inv[cand] * _trailing(e * e, w)[cand]
        pv = np.minimum(nb_sf(obs[cand], exp_[cand], var) * len(p.windows), 1.0)
        better = pv < best_p[cand]
        idx = tuple(a[better] for a in np.nonzero(cand))
        best_p[idx] = pv[better]
        best_r[idx] = obs[cand][better] / exp_[cand][better]
        best_w[idx] = w
    anomalous = best_p < p.alpha
    sev = np.where(anomalous, severity(best_r, best_p), 0)
    return Scores(e, inv, best_p, best_r, best_w, anomalous, best_p < p.alpha_strong, sev)


# ---------------------------------------------------------------- incidents

def incidents(anomalous: np.ndarray, strong: np.ndarray, group: np.ndarray, *,
              start: int = 0, p: Params = DEFAULT) -> list[Burst]:
    """Group anomalous hours of every group (brand) into incidents, hour by hour.

    Series of one group share incidents: the '_all' volume and co-occurring causes of a
    brand are one incident. Replays hours ``start``.. in order, as the hourly job would.
    """
    group = np.asarray(group)
    n = int(group.max()) + 1 if group.size else 0
    g_anom = np.zeros((n, anomalous.shape[1]), dtype=bool)
    g_strong = np.zeros_like(g_anom)
    np.logical_or.at(g_anom, group, anomalous)
    np.logical_or.at(g_strong, group, strong)
    is_open = np.zeros(n, dtype=bool)
    run = np.zeros(n, dtype=int)
    first, confirmed, last = (np.zeros(n, dtype=int) for _ in range(3))
    out: list[Burst] = []
    active = np.flatnonzero(g_anom[:, start:].any(axis=1))
    for t in range(start, anomalous.shape[1]):
        a = g_anom[active, t]
        run[active] = np.where(a, run[active] + 1, 0)
        for gi in active[is_open[active] & ~a & (t - last[active] >= p.cooldown)]:
            out.append(Burst(int(gi), int(first[gi]), int(confirmed[gi]), int(last[gi]), True))
            is_open[gi] = False
        grow = active[is_open[active] & a]
        last[grow] = t
        new = active[~is_open[active] & a & (g_strong[active, t] | (run[active] >= p.persist))]
        is_open[new], first[new], confirmed[new], last[new] = True, t - run[new] + 1, t, t
    for gi in np.flatnonzero(is_open):
        out.append(Burst(int(gi), int(first[gi]), int(confirmed[gi]), int(last[gi]), False))
    return sorted(out, key=lambda b: (b.start, b.group))


# ---------------------------------------------------------------- warehouse entry points

def detect(con: duckdb.DuckDBPyConnection, model_version: str, day: date, *,
           params: Params = DEFAULT) -> list[Incident]:
    """Incidents active on the Moscow ``day``, evaluated hour by hour up to the newest data."""
    from warehouse.incidents import detect_day
    return detect_day(con, model_version, day, params)


def save(con: duckdb.DuckDBPyConnection, model_version: str, found: list[Incident], *,
         params: Params = DEFAULT) -> int:
    """Upsert incidents and their alerts: a known incident is updated, never duplicated."""
    from warehouse.incidents import save_incidents
    return save_incidents(con, model_version, found, params)


def __getattr__(name: str):  # Spike: the old name of an alert-producing result
    if name == "Spike":
        from warehouse.incidents import Incident
        return Incident
    raise AttributeError(name)
