"""The array core of the hourly spike detector: baseline, count test, incidents."""
import numpy as np
import pytest

from warehouse import spikes
from warehouse.spikes import DEFAULT, Params, baseline, incidents, nb_sf, score

WEEKS = 10


def _seasonal_series(rng, weeks=WEEKS, level=6.0):
    """Hourly Poisson counts: busy working hours, quiet nights, quieter weekends."""
    hod = np.where((np.arange(24) >= 9) & (np.arange(24) < 21), 1.7, 0.3)
    dow = np.array([1.2, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5])
    rate = level * np.tile(hod, 7 * weeks) * np.repeat(np.tile(dow, weeks), 24)
    return rng.poisson(rate)[None, :].astype(float), rate


def test_baseline_follows_hour_of_week_seasonality():
    y, rate = _seasonal_series(np.random.default_rng(3))
    e, inv, ok = baseline(y, np.ones_like(y))
    last_week = slice((WEEKS - 1) * 168, WEEKS * 168)
    assert ok[0, last_week].all()
    rel = e[0, last_week] / rate[last_week]
    assert abs(np.mean(rel) - 1) < 0.05                # unbiased ...
    assert np.median(np.abs(rel - 1)) < 0.2            # and close, hour by hour (Poisson noise)
    busy_monday, quiet_sunday = (WEEKS - 1) * 168 + 14, (WEEKS - 1) * 168 + 6 * 24 + 3
    assert e[0, busy_monday] > 8 * e[0, quiet_sunday]  # ... and it knows Monday 14:00 from Sunday 03:00
    assert inv[0, last_week].max() < 0.1               # Poisson data: little overdispersion


def test_baseline_is_causal():
    y, _ = _seasonal_series(np.random.default_rng(4))
    t = 8 * 168 + 30
    full, _, _ = baseline(y, np.ones_like(y))
    cut, _, _ = baseline(y[:, :t + 1], np.ones((1, t + 1)))
    assert full[0, t] == pytest.approx(cut[0, t])      # the future never changes the past
    whole, part = score(y, np.ones_like(y)), score(y[:, :t + 1], np.ones((1, t + 1)))
    for f in ("inv_size", "p_value", "anomalous"):     # nor the test's width and verdict
        assert np.array_equal(getattr(whole, f)[:, :t + 1], getattr(part, f)), f
    changed = y.copy()
    changed[0, t] += 100
    assert baseline(changed, np.ones_like(y))[0][0, t] == pytest.approx(full[0, t])


def test_past_incident_barely_moves_the_baseline():
    y, _ = _seasonal_series(np.random.default_rng(5))
    t = 9 * 168 + 14
    spiked = y.copy()
    spiked[0, t - 168] *= 10                           # same hour last week was an incident
    before = baseline(y, np.ones_like(y))[0][0, t]
    after = baseline(spiked, np.ones_like(y))[0][0, t]
    assert after < before * 1.2


@pytest.mark.parametrize("k,lam,expected", [
    (0, 3.0, 1.0),
    (1, 0.5, 1 - np.exp(-0.5)),
    (6, 2.0, 0.016563608480614),
    (13, 1.0, 6.3597773e-11),
    (3, 3.0, 0.57680991887),
])
def test_poisson_tail_on_small_counts(k, lam, expected):
    assert nb_sf(k, lam, lam)[()] == pytest.approx(expected, rel=1e-6)


def test_negative_binomial_tail_is_heavier_and_exact():
    # NB(mean 2, var 6): size 1, p 1/3 -> P(X >= 6) = (2/3)^6
    assert nb_sf(6, 2.0, 6.0)[()] == pytest.approx((2 / 3) ** 6)
    assert nb_sf(10, 2.0, 6.0)[()] > 100 * nb_sf(10, 2.0, 2.0)[()]


def test_severity_grows_with_ratio_and_surprise():
    assert spikes.severity(1.0, 0.5) == 1
    assert spikes.severity(3.0, 1e-4) < spikes.severity(13.0, 6e-11) <= 10


def test_small_counts_never_alert_but_a_real_spike_does():
    y, rate = _seasonal_series(np.random.default_rng(6), level=0.05)
    t = 9 * 168 + 14
    y[0, t] = 4                                        # 4 complaints in an hour: below min_count
    assert not score(y, np.ones_like(y)).anomalous[0, t]
    y[0, t] = 9
    sc = score(y, np.ones_like(y))
    assert sc.anomalous[0, t] and sc.strong[0, t] and sc.window[0, t] == 1
    assert sc.severity[0, t] >= 5


def test_plain_seasonal_noise_stays_within_the_false_alarm_budget():
    # 20 brands of plain seasonal Poisson noise, 6 scored weeks each: the detector is set
    # for well under 1 false alarm per brand-month (the budget), not for zero.
    rng = np.random.default_rng(7)
    y = np.vstack([_seasonal_series(rng, level=lv)[0] for lv in np.linspace(2, 40, 20)])
    sc = score(y, np.ones_like(y))
    found = incidents(sc.anomalous, sc.strong, np.arange(20), start=4 * 168, window=sc.window)
    brand_months = 20 * 6 * 7 / 30.44
    assert len(found) / brand_months <= 0.5


def _flags(hours, anomalous_at, strong_at=()):
    a = np.zeros((2, hours), dtype=bool)
    s = np.zeros_like(a)
    for row, t in anomalous_at:
        a[row, t] = True
    for row, t in strong_at:
        s[row, t] = a[row, t] = True
    return a, s


def test_persistence_one_weak_hour_is_not_an_incident_two_are():
    a, s = _flags(40, [(0, 10)])
    assert incidents(a, s, np.array([0, 0])) == []
    a, s = _flags(40, [(0, 10), (0, 11)])
    [b] = incidents(a, s, np.array([0, 0]))
    assert (b.start, b.confirmed, b.last, b.closed) == (10, 11, 11, True)


def test_strong_hour_alerts_at_once_and_causes_of_a_brand_share_it():
    # row 0 = '_all', row 1 = a cause of the same brand: one incident, not two
    a, s = _flags(40, [(1, 12), (0, 13)], strong_at=[(0, 12)])
    [b] = incidents(a, s, np.array([0, 0]))
    assert (b.start, b.confirmed, b.last) == (12, 12, 13)


def test_cooldown_dedupes_and_then_lets_a_new_incident_open():
    p = Params(cooldown=6)
    # strong at 10, anomalous again at 14 (within cooldown: same incident),
    # then strong at 30 (after 6 quiet hours: a new incident)
    a, s = _flags(60, [(0, 14)], strong_at=[(0, 10), (0, 30)])
    first, second = incidents(a, s, np.array([0, 0]), p=p)
    assert (first.start, first.last, first.closed) == (10, 14, True)
    assert (second.start, second.closed) == (30, True)
    a, s = _flags(60, [], strong_at=[(0, 58)])
    [open_one] = incidents(a, s, np.array([0, 0]), p=p)
    assert not open_one.closed                         # still open at the end of the data


def test_default_windows_cover_one_hour_and_a_day():
    assert DEFAULT.windows[0] == 1 and 24 in DEFAULT.windows


def test_a_closed_burst_does_not_reopen_on_a_window_that_reaches_into_it():
    p = Params(cooldown=6)
    a, s = _flags(80, [(0, 25), (0, 26)], strong_at=[(0, 10)])
    w = np.ones(a.shape, dtype=int)
    w[0, 25:27] = 24                     # flagged by 24-hour sums that still hold hour 10
    [only] = incidents(a, s, np.array([0, 0]), p=p, window=w)
    assert (only.start, only.last) == (10, 10)
    # without the window information the tail would have opened a second incident
    assert len(incidents(a, s, np.array([0, 0]), p=p)) == 2
    # a fresh strong hour whose window starts after the burst does open a new one
    a, s = _flags(80, [], strong_at=[(0, 10), (0, 40)])
    assert len(incidents(a, s, np.array([0, 0]), p=p, window=np.ones(a.shape, dtype=int))) == 2


def test_alpha_shares_split_a_brands_budget_between_volume_and_causes():
    group = np.array([0, 0, 0, 1, 2, 2])
    volume = np.array([True, False, False, True, False, False])
    share = spikes.alpha_shares(group, volume, 0.75)
    assert share.tolist() == [0.75, 0.125, 0.125, 1.0, 0.5, 0.5]
    for g in (0, 1, 2):
        assert share[group == g].sum() == pytest.approx(1.0)


def test_a_smaller_share_needs_a_bigger_spike():
    y, _ = _seasonal_series(np.random.default_rng(6), level=2.0)
    y = np.vstack([y, y])
    full = score(y, np.ones_like(y), share=np.array([1.0, 1.0]))
    part = score(y, np.ones_like(y), share=np.array([1.0, 0.01]))
    tested = full.p_value[0] < 1
    assert np.allclose(part.p_value[1][tested], np.minimum(full.p_value[0][tested] * 100, 1))
    assert part.anomalous[1].sum() < full.anomalous[0].sum()


def _sum_variances(shock_sd):
    """(variance of the last 24-hour sum as tested, as independent hours would give it)."""
    rng = np.random.default_rng(4)
    hours = 10 * 168
    shock = np.repeat(np.exp(rng.normal(0, shock_sd, hours // 24)), 24)
    y = rng.poisson(0.5 * shock)[None, :].astype(float)   # a sparse cause series
    e, level_var, yw, ok = spikes._winsorised(y, np.ones_like(y), DEFAULT)
    ew = e[0, -24:].sum()
    inv1 = spikes._dispersion(y, yw, e, level_var, ok, 1, DEFAULT)[0, -1]
    inv24 = spikes._dispersion(y, yw, e, level_var, ok, 24, DEFAULT)[0, -1]
    return ew + inv24 * ew ** 2, ew + inv1 * (e[0, -24:] ** 2).sum()


def test_day_level_drift_widens_the_24_hour_test():
    tested, independent = _sum_variances(0.5)
    assert tested > 2 * independent            # days that run high or low together
    tested, independent = _sum_variances(0.0)
    assert tested < 1.5 * independent          # no drift: about what hours give


def _nb_series(rng, weeks=WEEKS, level=6.0, size=20.0):
    """_seasonal_series with gamma-Poisson (negative binomial) hourly noise."""
    _, rate = _seasonal_series(rng, weeks, level)
    return rng.poisson(rate * rng.gamma(size, 1 / size, rate.shape))[None, :].astype(float), rate


def test_one_noisy_hour_of_a_busy_brand_barely_moves_todays_level():
    # ~200 mentions in the first hour of a day, with ±22% hourly noise: that hour 30% high
    # says little about the day (about 1/size = 20 mentions' worth), not what 260 raw
    # mentions against 200 expected would say
    rng = np.random.default_rng(11)
    y, _ = _nb_series(rng, level=600.0)
    t = (WEEKS - 1) * 168 + 2 * 24                # a Wednesday 00:00: the day's first hour
    plain = baseline(y, np.ones_like(y))[0][0, t + 1]
    bumped = y.copy()
    bumped[0, t] *= 1.3
    moved = baseline(bumped, np.ones_like(y))[0][0, t + 1] / plain
    assert 1.01 < moved < 1.15
    ones = np.ones_like(y)                         # the raw-count level (no hourly weights)
    raw = (spikes._seasonal(bumped, ones, DEFAULT)[0][0, t + 1]
           / spikes._seasonal(y, ones, DEFAULT)[0][0, t + 1])
    assert raw > 1.2


def test_todays_level_is_uncertain_at_midnight_and_known_by_the_evening():
    y, _ = _nb_series(np.random.default_rng(12), level=200.0)
    _, inv, _ = baseline(y, np.ones_like(y))
    days = range(8 * 7 + 1, 9 * 7)                 # weekdays and a weekend of the 9th week
    at_midnight = np.array([inv[0, d * 24] for d in days])
    evening = np.array([inv[0, d * 24 + 20] for d in days])
    # the day's level sd at midnight is the prior's (1/now_prior = 0.025 in variance)
    assert (at_midnight > evening + 0.015).all()
    assert (at_midnight >= 1 / DEFAULT.now_prior).all()


def test_past_spikes_do_not_widen_the_test():
    rng = np.random.default_rng(13)
    y, _ = _nb_series(rng, level=20.0)
    spiked = y.copy()
    for t in range(6 * 168 + 11, 10 * 168 - 24, 80):   # a 3x spike every ~3 days, 4 weeks
        spiked[0, t:t + 3] *= 3
    end = y.shape[1] - 1

    def inv_at_end(series, p=DEFAULT):
        return baseline(series, np.ones_like(series), p)[1][0, end]

    assert inv_at_end(spiked) < 1.15 * inv_at_end(y)
    off = Params(disp_outlier_z=0.0)                    # the old moments: spikes count
    assert inv_at_end(spiked, off) > 1.3 * inv_at_end(y, off)


def test_window_weights_split_the_alpha_and_must_add_up():
    y, _ = _seasonal_series(np.random.default_rng(6), level=2.0)
    with pytest.raises(ValueError, match="window_weights"):
        score(y, np.ones_like(y), Params(window_weights=(0.5, 0.5)))
    with pytest.raises(ValueError, match="window_weights"):
        score(y, np.ones_like(y), Params(window_weights=(0.6, 0.2, 0.2, 0.2)))
    with pytest.raises(ValueError, match="window_weights"):
        score(y, np.ones_like(y), Params(window_weights=(1.0, 0.0, 0.0, 0.0)))
    with pytest.raises(ValueError, match="now_prior"):
        score(y, np.ones_like(y), Params(now_prior=0.0))
    first = score(y, np.ones_like(y), Params(window_weights=(0.97, 0.01, 0.01, 0.01)))
    even = score(y, np.ones_like(y), Params(window_weights=(0.25, 0.25, 0.25, 0.25)))
    one_hour = (first.window == 1) & (even.window == 1)
    assert one_hour.any()
    assert np.allclose(first.p_value[one_hour] * 0.97, even.p_value[one_hour] * 0.25)


def test_a_silent_night_does_not_close_a_small_brands_incident():
    # strong hours at 20:00 and at 08:00 the next day, nothing in between (12 hours)
    a, s = _flags(48, [], strong_at=[(0, 20), (0, 32)])
    group = np.array([0, 0])
    sparse = np.full((2, 48), 0.02)       # a brand of ~half a mention a day: silence is normal
    [one] = incidents(a, s, group, expected=sparse)
    assert (one.start, one.last) == (20, 32)
    busy = np.full((2, 48), 2.0)          # two mentions an hour expected: 12 silent hours say
    first, second = incidents(a, s, group, expected=busy)   # the wave is over
    assert (first.last, first.closed, second.start) == (20, True, 32)
    assert len(incidents(a, s, group)) == 2                  # (without expected: hours only)
