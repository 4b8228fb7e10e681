"""Backtest of the hourly spike detector on a synthetic year of mention counts.

Each brand gets hourly negative-mention counts with a daily curve (quiet nights), a weekly
curve (quiet weekends), a slowly drifting level, day-to-day shocks and gamma-Poisson
(negative binomial) noise. Spikes multiply the usual rate by ``spike_size`` for 2-6 hours
at random times (any hour of day, at least five days apart). The detector of
:mod:`warehouse.spikes` (the same functions the warehouse path calls) is replayed over
every hour; because each hour's statistics only use earlier hours, scoring all hours at
once equals running the hourly job hour after hour, and incidents are then formed by
stepping through the hours in order.

Root-cause series (``Config.causes``, default 14 as in the taxonomy): production tests the
complaints of every root cause of a brand besides its negative volume, and all of a
brand's series share one incident, so every extra series is another chance of a false
alarm. The backtest therefore splits each brand's hourly negatives into cause series
(brand-specific shares drawn from a Dirichlet, 30% without a cause, the shares shaken
day by day with log-sd ``cause_day_shock``) and replays the detector over the volume and
all cause series together, grouped by brand, exactly as ``warehouse.incidents`` does. By
default a spike lifts every cause in proportion (``spike_focus`` 0): the cause series
then add false alarms but little power. With ``spike_focus`` f, that share of a spike's
extra mentions has one cause (an app outage is mostly ``digital_ux``).

Scored after a warm-up (the detector needs history): a spike is detected when an incident
of its brand is raised while it lasts (or within ``grace`` hours after); time to detect is
hours of data from the spike's first hour to the alert, 1 = the first spike hour already
raised it. Every incident that overlaps no spike (nor its cooldown) is a false alarm.
The same year is also replayed without its spikes (same noise, ``spike_size`` 1), where
every incident is a false alarm: spikes in the history widen a detector's idea of normal,
so false alarms counted between spikes alone can flatter it.

Oracle bound (:func:`oracle_within_1h`): what the best single-hour test could do on the same
spikes. It knows the true usual rate r of each spike's first hour (day shock included) and
the true noise (negative binomial, mean r, size ``noise_size``), and flags an hour whose
count reaches k(r), the smallest k with P(X >= k) <= q, q = 1 false alarm per brand-month
/ hours in a brand-month (generous: it ignores cooldown merging of false alarms). Its chance
to catch a spike in the first hour is P(X >= k(r)) under mean ``spike_size`` × r; the bound
is the exact mean of that over the planted spikes (no sampling).

The oracle knows the day's shock, which no detector can know at the first hours of a news
day. The **no-foresight bound** (:func:`no_foresight_probs`) knows everything the simulator
drew except that: the usual rate without the shock, the shock's prior (log-normal, sd
``day_shock``) and the noise. At each spike's first hour it has the exact posterior of the
day's shock given the day's counts so far (on a grid), flags the count where the posterior
predictive tail falls to q, and its chance to flag is again exact given those counts. It is
calibrated (its mean false-positive rate on quiet hours is at most q; tested), so it is the
best a single-hour test at 1 false alarm per brand-month can do on this data without
knowing the future. ``Result.bands`` splits the detector's and both bounds' within-1-hour
rates by the usual rate at the spike's first hour.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy import stats

from warehouse import spikes

MONTH_DAYS = 30.44
# usual mentions per hour at a spike's first hour: (label, low, high)
RATE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("< 5", 0.0, 5.0), ("5–15", 5.0, 15.0), ("15–40", 15.0, 40.0), ("≥ 40", 40.0, np.inf))


@dataclass(frozen=True)
class Config:
    brands: int = 20
    days: int = 365
    spike_size: float = 3.0          # × the usual hourly rate
    seed: int = 0
    volume: float = 400.0            # median negative mentions per brand and day
    spikes_per_month: float = 2.0    # per brand
    spike_hours: tuple[int, int] = (2, 6)
    warmup_days: int = 28
    noise_size: float = 20.0         # NB size of the hourly noise (var = mu + mu^2/size)
    day_shock: float = 0.15          # sd of the log daily level shock
    grace: int = 2
    causes: int = 14                 # root-cause series per brand (0: the volume only)
    no_cause_share: float = 0.3      # negatives that carry no root cause
    cause_day_shock: float = 0.15    # sd of the log daily shock of each cause's share
    spike_focus: float = 0.0         # share of a spike's extra mentions with one cause


@dataclass
class Result:
    config: Config
    spikes: int
    detected: int
    within_1h: int
    ttd: list[int] = field(default_factory=list)       # hours of data, detected spikes only
    false_alarms: int = 0
    quiet_false_alarms: int = 0                        # every incident, on the year without spikes
    brand_months: float = 0.0
    incidents: int = 0
    series: int = 0                                    # series tested (volume + causes)
    hit_1h: list[bool] = field(default_factory=list)   # per planted spike, in order
    oracle_within_1h: float = float("nan")              # see oracle_within_1h()
    no_foresight_within_1h: float = float("nan")        # see no_foresight_probs()
    # (band label, spikes, detector, oracle, no-foresight bound: within-1h rates)
    bands: list[tuple[str, int, float, float, float]] = field(default_factory=list)

    @property
    def detection_rate(self) -> float:
        return self.detected / self.spikes if self.spikes else float("nan")

    @property
    def within_1h_rate(self) -> float:
        return self.within_1h / self.spikes if self.spikes else float("nan")

    @property
    def false_alarms_per_brand_month(self) -> float:
        return self.false_alarms / self.brand_months if self.brand_months else float("nan")

    @property
    def quiet_false_alarms_per_brand_month(self) -> float:
        return self.quiet_false_alarms / self.brand_months if self.brand_months else float("nan")

    def ttd_quantile(self, q: float) -> float:
        return float(np.quantile(self.ttd, q)) if self.ttd else float("nan")


def _daily_curve(rng: np.random.Generator) -> np.ndarray:
    """24 Moscow hours, mean 1: low at night, a plateau in the working day."""
    h = np.arange(24)
    peak = rng.uniform(12, 16)
    curve = 0.12 + np.exp(-0.5 * ((h - peak) / rng.uniform(3.5, 5.0)) ** 2)
    return curve / curve.mean()


def simulate(cfg: Config) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int]]]:
    """(counts [brand, hour], usual rate [brand, hour], spikes [(brand, start, hours)])."""
    return simulate_with_shocks(cfg)[:3]


def simulate_with_shocks(cfg: Config) -> tuple[np.ndarray, np.ndarray,
                                               list[tuple[int, int, int]], np.ndarray]:
    """:func:`simulate`, plus each brand's daily level shock [brand, day] (a factor)."""
    rng = np.random.default_rng(cfg.seed)
    days, hours = cfg.days, cfg.days * 24
    rate = np.empty((cfg.brands, hours))
    shocks = np.empty((cfg.brands, days))
    for b in range(cfg.brands):
        level = cfg.volume * np.exp(rng.normal(0, 0.6)) / 24
        weekly = np.array([1.05, 1.1, 1.05, 1.0, 0.95, 0.75, 0.7]) * rng.uniform(0.9, 1.1, 7)
        drift = np.exp(np.cumsum(rng.normal(0, 0.02, days)))
        shock = shocks[b] = np.exp(rng.normal(0, cfg.day_shock, days))
        day_level = level * drift * shock * weekly[np.arange(days) % 7]
        rate[b] = np.repeat(day_level, 24) * np.tile(_daily_curve(rng), days)
    boost = np.ones_like(rate)
    found: list[tuple[int, int, int]] = []
    months = (days - cfg.warmup_days) / MONTH_DAYS
    lo_h = cfg.warmup_days * 24
    for b in range(cfg.brands):
        n = rng.poisson(cfg.spikes_per_month * months)
        starts: list[int] = []
        for _ in range(50 * n):
            if len(starts) == n:
                break
            s = int(rng.integers(lo_h, hours - 24))
            if all(abs(s - o) >= 5 * 24 for o in starts):
                starts.append(s)
        for s in sorted(starts):
            d = int(rng.integers(cfg.spike_hours[0], cfg.spike_hours[1] + 1))
            boost[b, s:s + d] = cfg.spike_size
            found.append((b, s, d))
    noise = rng.gamma(cfg.noise_size, 1.0 / cfg.noise_size, rate.shape)
    counts = rng.poisson(rate * boost * noise)
    return counts, rate, found, shocks


def simulate_causes(counts: np.ndarray, planted: list[tuple[int, int, int]], cfg: Config
                    ) -> np.ndarray:
    """Root-cause counts [brand, cause, hour]: each hour's negatives split by cause shares.

    Drawn from its own random stream, so the volume counts of :func:`simulate` stay the
    same whatever ``causes`` is."""
    brands, hours = counts.shape
    k = cfg.causes
    out = np.zeros((brands, k, hours), dtype=np.int64)
    if k == 0:
        return out
    rng = np.random.default_rng([cfg.seed, 1])
    days = -(-hours // 24)
    focus = {(b, s): int(rng.integers(k)) for b, s, _ in planted}
    for b in range(brands):
        base = rng.dirichlet(np.ones(k)) * (1 - cfg.no_cause_share)
        daily = base[:, None] * np.exp(rng.normal(0, cfg.cause_day_shock, (k, days)))
        share = np.repeat(daily, 24, axis=1)[:, :hours]                 # [cause, hour]
        for bb, s, d in planted:
            if bb == b and cfg.spike_focus > 0 and cfg.spike_size > 1:
                extra = (cfg.spike_size - 1) / cfg.spike_size            # of the spike hour
                lift = np.zeros(k)
                lift[focus[(b, s)]] = 1.0
                share[:, s:s + d] = ((1 - extra * cfg.spike_focus) * share[:, s:s + d]
                                     + extra * cfg.spike_focus * lift[:, None])
        none = np.clip(1 - share.sum(0), 0, None)
        p = np.vstack([share, none[None, :]])
        out[b] = rng.multinomial(counts[b], (p / p.sum(0)).T).T[:k]
    return out


def evaluate(counts: np.ndarray, planted: list[tuple[int, int, int]], cfg: Config,
             params: spikes.Params = spikes.DEFAULT, causes: np.ndarray | None = None
             ) -> Result:
    """Replay the detector over every hour and score it against the planted spikes.

    ``causes`` [brand, cause, hour] adds root-cause series, tested beside each brand's
    volume and sharing its incidents (as in production)."""
    y, group = counts, np.arange(counts.shape[0])
    if causes is not None and causes.size:
        y = np.vstack([counts, causes.reshape(-1, counts.shape[1])])
        group = np.concatenate([group, np.repeat(group, causes.shape[1])])
    share = spikes.alpha_shares(group, np.arange(len(y)) < counts.shape[0], params.volume_share)
    sc = spikes.score(y, np.ones_like(y, dtype=float), params, share)
    warm = cfg.warmup_days * 24
    bursts = spikes.incidents(sc.anomalous, sc.strong, group, start=warm, p=params,
                              window=sc.window, expected=sc.expected)
    by_brand: dict[int, list[spikes.Burst]] = {}
    for bu in bursts:
        by_brand.setdefault(bu.group, []).append(bu)
    res = Result(cfg, spikes=len(planted), detected=0, within_1h=0, incidents=len(bursts),
                 series=len(y),
                 brand_months=counts.shape[0] * (cfg.days - cfg.warmup_days) / MONTH_DAYS)
    explained: set[spikes.Burst] = set()
    for b, s, d in planted:
        end = s + d - 1
        hits = [bu for bu in by_brand.get(b, []) if bu.start <= end + params.cooldown and bu.last >= s]
        explained.update(hits)
        when = [max(bu.confirmed, s) for bu in hits if bu.confirmed <= end + cfg.grace]
        hit = False
        if when:
            ttd = min(when) - s + 1
            hit = ttd <= 1
            res.detected += 1
            res.within_1h += hit
            res.ttd.append(ttd)
        res.hit_1h.append(hit)
    res.false_alarms = sum(1 for bu in bursts if bu not in explained)
    return res


def oracle_threshold(r: np.ndarray, size: float, q: float) -> np.ndarray:
    """Smallest k with P(X >= k) <= q for X ~ NB(mean r, size), elementwise."""
    r = np.asarray(r, dtype=float)
    p = size / (size + r)
    k = stats.nbinom.isf(q, size, p) + 1
    k = np.where(stats.nbinom.sf(k - 1, size, p) > q, k + 1, k)     # guard isf rounding
    k = np.where(stats.nbinom.sf(k - 2, size, p) <= q, k - 1, k)
    return k


def oracle_hit_prob(r: np.ndarray, spike_size: float, size: float, q: float) -> np.ndarray:
    """P(first spike hour reaches k(r)): count ~ NB(mean spike_size × r, size)."""
    r = np.asarray(r, dtype=float)
    k = oracle_threshold(r, size, q)
    return stats.nbinom.sf(k - 1, size, size / (size + spike_size * r))


def oracle_probs(rate: np.ndarray, planted: list[tuple[int, int, int]], cfg: Config,
                 fa_per_brand_month: float = 1.0) -> np.ndarray:
    """Per planted spike, the oracle's chance to flag its first hour (see module docstring)."""
    r = np.array([rate[b, s] for b, s, _ in planted], dtype=float)
    q = fa_per_brand_month / (MONTH_DAYS * 24)
    return oracle_hit_prob(r, cfg.spike_size, cfg.noise_size, q)


def oracle_within_1h(rate: np.ndarray, planted: list[tuple[int, int, int]], cfg: Config,
                     fa_per_brand_month: float = 1.0) -> float:
    """Expected share of planted spikes an oracle that knows the true rate flags in hour 1."""
    if not planted:
        return float("nan")
    return float(oracle_probs(rate, planted, cfg, fa_per_brand_month).mean())


def _mixture_sf(k: int, means: np.ndarray, weights: np.ndarray, size: float) -> float:
    """P(X >= k) for X drawn from NB(mean_i, size) with probability weights_i."""
    return float(np.dot(weights, stats.nbinom.sf(k - 1, size, size / (size + means))))


def _mixture_threshold(means: np.ndarray, weights: np.ndarray, size: float, q: float) -> int:
    """Smallest k with P(X >= k) <= q under the mixture (bisection; the tail falls in k)."""
    lo, hi = 0, int(means.max() * 4 + 50)
    while _mixture_sf(hi, means, weights, size) > q:
        hi *= 2
    while lo < hi:
        mid = (lo + hi) // 2
        if _mixture_sf(mid, means, weights, size) <= q:
            hi = mid
        else:
            lo = mid + 1
    return lo


def no_foresight_probs(counts: np.ndarray, rate: np.ndarray, planted: list[tuple[int, int, int]],
                       shocks: np.ndarray, cfg: Config, fa_per_brand_month: float = 1.0,
                       grid: int = 81) -> np.ndarray:
    """Per planted spike (or any (brand, hour, _) list), the chance that the best test which
    does not know the day's shock flags its first hour (see the module docstring).

    ``shocks`` [brand, day] from :func:`simulate_with_shocks`. The shock's posterior is
    computed on ``grid`` points of its log over ±5 sd from the day's counts before the hour
    (exact negative-binomial likelihood); the threshold is the smallest count whose
    posterior predictive tail is at most q; the chance is that count's tail under the
    spike (``spike_size`` × the true rate)."""
    size, sd = cfg.noise_size, cfg.day_shock
    q = fa_per_brand_month / (MONTH_DAYS * 24)
    z = np.linspace(-5 * sd, 5 * sd, grid) if sd > 0 else np.zeros(1)
    log_prior = -0.5 * (z / sd) ** 2 if sd > 0 else np.zeros(1)
    out = np.empty(len(planted))
    for i, (b, s, _) in enumerate(planted):
        day0 = s - s % 24
        usual = rate[b, day0:s + 1] / shocks[b, s // 24]           # without the day's shock
        ll = log_prior.copy()
        if s > day0:
            mu = usual[:-1][None, :] * np.exp(z)[:, None]           # [grid, hours so far]
            ll += stats.nbinom.logpmf(counts[b, day0:s][None, :], size, size / (size + mu)).sum(1)
        w = np.exp(ll - ll.max())
        k = _mixture_threshold(usual[-1] * np.exp(z), w / w.sum(), size, q)
        hot = cfg.spike_size * rate[b, s]
        out[i] = stats.nbinom.sf(k - 1, size, size / (size + hot))
    return out


def rate_bands(rate: np.ndarray, planted: list[tuple[int, int, int]], hit_1h: list[bool],
               oracle: np.ndarray, no_foresight: np.ndarray | None = None
               ) -> list[tuple[str, int, float, float, float]]:
    """(band, spikes, detector, oracle, no-foresight bound) within-1h rates by the usual
    rate at the spike's first hour."""
    r = np.array([rate[b, s] for b, s, _ in planted], dtype=float)
    hit = np.asarray(hit_1h, dtype=bool)
    nf = np.full(len(r), np.nan) if no_foresight is None else np.asarray(no_foresight)
    rows = []
    for label, lo, hi in RATE_BANDS:
        m = (r >= lo) & (r < hi)
        n = int(m.sum())
        rows.append((label, n, *(float(a[m].mean()) if n else float("nan")
                                 for a in (hit, oracle, nf))))
    return rows


def run(cfg: Config, params: spikes.Params = spikes.DEFAULT) -> Result:
    counts, rate, planted, shocks = simulate_with_shocks(cfg)
    res = evaluate(counts, planted, cfg, params, simulate_causes(counts, planted, cfg))
    oracle = oracle_probs(rate, planted, cfg)
    nf = no_foresight_probs(counts, rate, planted, shocks, cfg)
    if planted:
        res.oracle_within_1h, res.no_foresight_within_1h = float(oracle.mean()), float(nf.mean())
    res.bands = rate_bands(rate, planted, res.hit_1h, oracle, nf)
    # the same year (same noise, same cause shares) without the spikes: every incident is false
    quiet_cfg = replace(cfg, spike_size=1.0)
    quiet = simulate(quiet_cfg)[0]
    res.quiet_false_alarms = evaluate(quiet, [], quiet_cfg, params,
                                      simulate_causes(quiet, planted, quiet_cfg)).incidents
    return res
