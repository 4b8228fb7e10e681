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
    so a brand that grows or shrinks is followed within days, and times today's level:
    observed / expected since the Moscow midnight, shrunk towards 1 by ``now_prior``
    pseudo-mentions (a gamma prior: the day-to-day spread of a brand's level). News days
    lift a brand's whole day; by the afternoon the day so far says how busy it is, so a
    busy day is not a spike. (A fixed 6-hour window did this worse: on the backtest it left
    a log-error of 0.20 in the expected count against 0.16, and found fewer spikes in their
    first hour at the same false-alarm rate; BENCHMARKS.md, "Spike detector backtest".)
    Each hour of the day counts as evidence by its information, not its raw count: an hour
    whose count is noisy beyond Poisson (hourly 1/size ``k``, from a first pass) weighs
    1 / (1 + E·k), so at a thousand mentions an hour one hour is about ``1/k`` pseudo-
    mentions, not a thousand. Counting raw mentions made a busy brand's level follow one
    noisy hour and raised false alarms in proportion to its volume.
Test: negative binomial upper tail over trailing windows of 1, 3, 6 and 24 hours, plus a
minimum count and a minimum ratio. The dispersion is estimated for each window length by
moments from the winsorised residuals of that window's sums over the last ``disp_hours``
(Poisson when there is no overdispersion): a day-long drift of a cause's share makes
24-hour sums far noisier than independent hours would, and an hourly dispersion let such
drifts raise false alarms. Sums more than ``disp_outlier_z`` sd above the expected (by a
first estimate) are left out of the moments: past incidents would otherwise teach the
detector that the series is noisy (without this it raised 1.6-1.9 times the false alarms on
a year without spikes as on the same year with them: the spikes had widened its test). On
top of that the test adds the uncertainty of today's level, 1 / (effective mentions so far
today + ``now_prior``): wide at midnight, when the day's level is still unknown, narrow by
the afternoon (the residual moments are taken net of it).
The windows split the alpha by ``window_weights`` (weighted Bonferroni): the hour gets most
of it, because the PR team is promised an alert within the hour.

Multiplicity: production tests a brand's negative volume and the complaints of every root
cause, and they share incidents, so they share one false-alarm budget. ``share`` gives
each series its part (weighted Bonferroni, :func:`alpha_shares`): the volume series
``volume_share`` of it, the brand's cause series the rest in equal parts. Without it the
backtest raised 1.5 false alarms per brand-month once the 14 cause series were tested.

An incident (one per brand and burst) opens on one very surprising hour or on ``persist``
anomalous hours in a row, grows while any series of the brand stays anomalous and closes
after ``cooldown`` quiet hours in which the brand expected at least ``cooldown_expected``
mentions (a silent night of a small brand is not quiet: it says nothing).
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
    season_prior_weeks: float = 16.0  # weight of hour-of-day × weekday vs hour-of-week
    level_hours: int = 168         # recent level window
    level_prior: float = 5.0       # pseudo-counts that keep a sparse level near 1
    level_clip: tuple[float, float] = (1 / 3, 3.0)
    now_hours: int = 0             # today's level: hours since midnight, at least this many
                                   # (0: a day's level is learnt from that day alone)
    now_prior: float = 40.0        # 1 / prior variance of today's level (log-sd ~0.16)
    now_clip: tuple[float, float] = (0.5, 2.0)
    disp_hours: int = 672          # dispersion estimate window
    disp_prior: float = 20.0       # added to sum(E^2): sparse series stay near Poisson
    disp_clip: tuple[float, float] = (0.01, 1.0)
    disp_outlier_z: float = 3.5    # window sums this many sd above E leave the moments
    floor: float = 0.02            # expected per hour never below (0.5 a day)
    min_history_hours: int = 168
    windows: tuple[int, ...] = (1, 3, 6, 24)
    window_weights: tuple[float, ...] = (0.6, 0.2, 0.1, 0.1)   # of the alpha; sum 1
    alpha: float = 1.7e-3          # anomalous hour (p adjusted for the window and series weights)
    alpha_strong: float = 7e-4     # one such hour opens an incident at once
    volume_share: float = 0.75     # of a brand's alpha, for its negative volume series
    persist: int = 2               # or this many anomalous hours in a row
    min_count: int = 5
    min_ratio: float = 2.0
    cooldown: int = 6              # quiet hours that close an incident …
    cooldown_expected: float = 3.0  # … holding at least this many expected mentions


DEFAULT = Params()


@dataclass
class Scores:
    """Per series and hour: the baseline, the best window's test, and the flags."""
    expected: np.ndarray     # E[t], float
    inv_size: np.ndarray     # NB 1/size (var = E + E^2 * inv_size)
    p_value: np.ndarray      # min over windows, adjusted for windows and series; 1 where not tested
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

def _past(x: np.ndarray, w: int | np.ndarray) -> np.ndarray:
    """sum of x[t-w .. t-1] along the last axis (zeros before the start); ``w`` may give
    a window length per hour."""
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

def _seasonal(y: np.ndarray, avail: np.ndarray, p: Params, inv: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """(expected, relative variance of today's level) per series and hour.

    ``inv``: hourly NB 1/size, which turns each hour of today into its effective evidence
    (``None``: raw counts, for the first pass)."""
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
    today = np.maximum(p.now_hours, np.arange(y.shape[-1]) % 24)   # hour 0 is a midnight
    weight = 1.0 if inv is None else 1.0 / (1.0 + season * inv)
    seen = _past(weight * y, today) + p.now_prior
    now = seen / (_past(weight * season, today) + p.now_prior)
    return np.maximum(season * np.clip(now, *p.now_clip), p.floor), 1.0 / seen


def _winsorised(y: np.ndarray, avail: np.ndarray, p: Params
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(expected, today's level variance, winsorised counts, evaluable): the baseline pass
    over capped counts, weighing today's hours by the first pass's hourly dispersion."""
    evaluable = _past(avail, p.min_history_hours) >= p.min_history_hours
    first, _ = _seasonal(y, avail, p)
    cap = np.ceil(first + 2.5 * np.sqrt(first * (1.0 + 0.05 * first)) + 1.0)
    yw = np.where(evaluable, np.minimum(y, cap), y)          # winsorised past
    inv = _dispersion(y, yw, first, np.zeros_like(first), evaluable, 1, p)
    e, level_var = _seasonal(yw, avail, p, inv)
    return e, level_var, yw, evaluable


def _dispersion(y: np.ndarray, yw: np.ndarray, e: np.ndarray, level_var: np.ndarray,
                evaluable: np.ndarray, w: int, p: Params) -> np.ndarray:
    """NB 1/size of the ``w``-hour sum ending at each hour (var = E_w + E_w^2 / size): by
    moments of the winsorised sums ``yw`` that ended in the last ``disp_hours``, net of
    today's level variance then, plus today's level variance now. Sums whose raw counts
    ``y`` lie over ``disp_outlier_z`` sd above E are left out (winsorising alone still
    lets a capped spike hour count as a 2.5-sd hour)."""
    ok = (_trailing(evaluable.astype(float), w) >= w).astype(float)
    ew = _trailing(e, w)
    obs = _trailing(yw, w)
    excess = (obs - ew) ** 2 - ew - level_var * ew * ew

    def moments(use: np.ndarray) -> np.ndarray:
        inv = (_past(excess * use, p.disp_hours)
               / (_past(ew * ew * use, p.disp_hours) + p.disp_prior))
        return np.clip(np.maximum(inv, 0.0) + level_var, *p.disp_clip)

    inv = moments(ok)
    if p.disp_outlier_z:
        keep = ok * (_trailing(y, w) - ew <= p.disp_outlier_z * np.sqrt(ew + inv * ew * ew))
        inv = moments(keep)
    return inv


def _check(p: Params) -> None:
    if (len(p.window_weights) != len(p.windows) or not np.isclose(sum(p.window_weights), 1)
            or min(p.window_weights) <= 0):
        raise ValueError("window_weights needs one positive weight per window, summing to 1")
    if p.now_prior <= 0:
        raise ValueError("now_prior must be positive: it is today's level at midnight")


def baseline(y: np.ndarray, avail: np.ndarray, p: Params = DEFAULT) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(expected, hourly 1/size, evaluable) per series and hour, from hours before each hour.

    The 1/size includes the uncertainty of today's level (largest at midnight).

    ``avail`` is 1.0 where the series existed (the brand had data), 0.0 before.
    """
    _check(p)
    y = np.asarray(y, dtype=float)
    avail = np.asarray(avail, dtype=float)
    e, level_var, yw, evaluable = _winsorised(y, avail, p)
    return e, _dispersion(y, yw, e, level_var, evaluable, 1, p), evaluable


def alpha_shares(group: np.ndarray, is_volume: np.ndarray, volume_share: float) -> np.ndarray:
    """Each series' part of its group's (brand's) false-alarm budget.

    The volume series gets ``volume_share``, the group's other series split the rest; a
    group without cause series gives its volume everything (and causes without a volume
    series split it all)."""
    group, is_volume = np.asarray(group), np.asarray(is_volume, dtype=bool)
    out = np.ones(len(group))
    for g in np.unique(group):
        rows = group == g
        vol, rest = rows & is_volume, rows & ~is_volume
        v = volume_share if rest.any() and vol.any() else float(vol.any())
        out[vol] = v / vol.sum() if vol.any() else 0.0
        if rest.any():
            out[rest] = (1 - v) / rest.sum()
    return out


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


def score(y: np.ndarray, avail: np.ndarray, p: Params = DEFAULT,
          share: np.ndarray | None = None) -> Scores:
    """Baseline and count test for every series and hour (vectorised, causal).

    ``share`` [series]: each series' part of the false-alarm budget (:func:`alpha_shares`);
    p-values are divided by it. ``None`` tests every series at the full alpha."""
    _check(p)
    y = np.asarray(y, dtype=float)
    avail = np.asarray(avail, dtype=float)
    e, level_var, yw, evaluable = _winsorised(y, avail, p)
    shape = y.shape
    best_p, best_r, best_w = np.ones(shape), np.zeros(shape), np.zeros(shape, dtype=int)
    above_now = (y >= 1) & (y > e)
    split = np.ones(shape[0]) if share is None else np.asarray(share, dtype=float)
    inv: dict[int, np.ndarray] = {}
    for w, weight in zip(p.windows, p.window_weights):
        adjust = 1.0 / (weight * np.maximum(split, 1e-12))   # per series: window × share
        obs, exp_ = _trailing(y, w), _trailing(e, w)
        cand = ((obs >= p.min_count) & (obs >= p.min_ratio * exp_)
                & (_trailing(evaluable.astype(float), w) >= w) & (split[:, None] > 0))
        if w > 1:
            cand &= above_now
        if not cand.any():
            continue
        inv[w] = _dispersion(y, yw, e, level_var, evaluable, w, p)
        var = exp_[cand] + inv[w][cand] * exp_[cand] ** 2
        pv = np.minimum(nb_sf(obs[cand], exp_[cand], var) * adjust[np.nonzero(cand)[0]], 1.0)
        better = pv < best_p[cand]
        idx = tuple(a[better] for a in np.nonzero(cand))
        best_p[idx] = pv[better]
        best_r[idx] = obs[cand][better] / exp_[cand][better]
        best_w[idx] = w
    anomalous = best_p < p.alpha
    sev = np.where(anomalous, severity(best_r, best_p), 0)
    inv1 = inv[1] if 1 in inv else _dispersion(y, yw, e, level_var, evaluable, 1, p)
    return Scores(e, inv1, best_p, best_r, best_w, anomalous, best_p < p.alpha_strong, sev)


# ---------------------------------------------------------------- incidents

def _cooled(hours: np.ndarray | int, quiet: np.ndarray | float, p: Params):
    """The cooldown rule: ``hours`` since an incident's last anomalous hour, holding
    ``quiet`` expected mentions, close it."""
    return (hours >= p.cooldown) & (quiet >= p.cooldown_expected)


def incidents(anomalous: np.ndarray, strong: np.ndarray, group: np.ndarray, *,
              start: int = 0, p: Params = DEFAULT, window: np.ndarray | None = None,
              expected: np.ndarray | None = None) -> list[Burst]:
    """Group anomalous hours of every group (brand) into incidents, hour by hour.

    Series of one group share incidents: the '_all' volume and co-occurring causes of a
    brand are one incident. Replays hours ``start``.. in order, as the hourly job would.
    With ``window`` (hours of the test that flagged each series-hour, ``Scores.window``), a
    closed incident cannot reopen on a window that still reaches into it: the 24-hour sum
    right after a burst is the same burst, not a new one.

    With ``expected`` (``Scores.expected``), the quiet hours that close an incident must
    also hold ``cooldown_expected`` mentions of the brand's busiest series: a night without
    a single review of a small brand is no sign that its wave is over, and closing on it
    split a three-day wave into daily incidents, the later ones then barred from reopening.
    """
    group = np.asarray(group)
    n = int(group.max()) + 1 if group.size else 0
    hours = anomalous.shape[1]
    g_anom = np.zeros((n, hours), dtype=bool)
    g_strong = np.zeros_like(g_anom)
    np.logical_or.at(g_anom, group, anomalous)
    np.logical_or.at(g_strong, group, strong)
    # per group and hour: the latest start among the windows that flagged it
    g_from = np.full((n, hours), -(1 << 40), dtype=np.int64)
    g_from_strong = g_from.copy()
    w = np.ones(anomalous.shape, dtype=np.int64) if window is None else np.maximum(window, 1)
    begin = np.arange(hours)[None, :] - w + 1
    np.maximum.at(g_from, group, np.where(anomalous, begin, -(1 << 40)))
    np.maximum.at(g_from_strong, group, np.where(strong, begin, -(1 << 40)))
    g_expected = np.full((n, hours), np.inf)          # without it, every hour is evidence
    if expected is not None:
        g_expected[:] = 0.0
        np.maximum.at(g_expected, group, expected)
    quiet = np.zeros(n)                                # expected mentions since the last anomaly
    is_open = np.zeros(n, dtype=bool)
    run = np.zeros(n, dtype=int)
    first, confirmed, last = (np.zeros(n, dtype=int) for _ in range(3))
    ended = np.full(n, -(1 << 40), dtype=np.int64)   # last hour of the group's closed incident
    out: list[Burst] = []
    active = np.flatnonzero(g_anom[:, start:].any(axis=1))
    for t in range(start, hours):
        a = g_anom[active, t]
        fresh = a & (g_from[active, t] > ended[active])
        run[active] = np.where(fresh, run[active] + 1, 0)
        quiet[active] = np.where(a, 0.0, quiet[active] + g_expected[active, t])
        for gi in active[is_open[active] & ~a & _cooled(t - last[active], quiet[active], p)]:
            out.append(Burst(int(gi), int(first[gi]), int(confirmed[gi]), int(last[gi]), True))
            is_open[gi] = False
            ended[gi] = last[gi]
        grow = active[is_open[active] & a]
        last[grow] = t
        opens = (g_strong[active, t] & (g_from_strong[active, t] > ended[active])) \
            | (run[active] >= p.persist)
        new = active[~is_open[active] & fresh & opens]
        is_open[new], first[new], confirmed[new], last[new] = True, t - run[new] + 1, t, t
    for gi in np.flatnonzero(is_open):
        out.append(Burst(int(gi), int(first[gi]), int(confirmed[gi]), int(last[gi]), False))
    return sorted(out, key=lambda b: (b.start, b.group))


def open_since(expected: np.ndarray, start: int, p: Params = DEFAULT) -> int:
    """The earliest last-anomalous hour from which an incident would still be open at
    ``start``, under the cooldown rule of :func:`incidents`.

    ``expected``: the group's (brand's) expected mentions per hour, its busiest series. A
    replay that begins after an incident's last hour cannot see that the incident is still
    open; this tells the warehouse which stored incident a new burst continues. The
    result is never later than ``max(0, start - cooldown)``."""
    quiet, last = 0.0, start - 1
    while last >= 0:
        if _cooled(start - 1 - last, quiet, p):
            break                                    # ending at `last`, it closed by now
        quiet += float(expected[last])
        last -= 1
    return last + 1


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
