"""The backtest on a small synthetic config: figures computed by the code stay sane."""
from dataclasses import replace

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from slukh.cli import app
from warehouse import backtest, spikes


def test_small_backtest_detects_big_spikes_with_few_false_alarms():
    cfg = backtest.Config(brands=3, days=60, spike_size=6.0, seed=11, volume=1500)
    r = backtest.run(cfg)
    assert r.spikes >= 3
    assert r.detection_rate >= 0.75
    assert r.ttd and 1 <= np.median(r.ttd) <= 3
    assert r.false_alarms_per_brand_month <= 1.0


def test_no_spikes_no_detections_and_size_one_is_not_a_spike():
    cfg = backtest.Config(brands=3, days=60, spike_size=1.0, seed=12, volume=800)
    r = backtest.run(cfg)
    assert r.detection_rate <= 0.2                 # a "spike" of 1x is invisible
    assert r.false_alarms_per_brand_month <= 1.0


def test_simulation_is_seeded_and_seasonal():
    cfg = backtest.Config(brands=2, days=28, seed=5)
    a, rate, planted = backtest.simulate(cfg)
    b, _, again = backtest.simulate(cfg)
    assert (a == b).all() and planted == again
    by_hour = rate.reshape(2, -1, 24).mean(axis=1)
    assert (by_hour.max(axis=1) > 3 * by_hour.min(axis=1)).all()   # quiet nights


def test_stricter_detector_finds_no_more():
    cfg = backtest.Config(brands=3, days=60, spike_size=3.0, seed=13, volume=800)
    counts, _, planted = backtest.simulate(cfg)
    loose = backtest.evaluate(counts, planted, cfg)
    strict = backtest.evaluate(counts, planted, cfg,
                               replace(spikes.DEFAULT, alpha=1e-6, alpha_strong=1e-8))
    assert strict.detected <= loose.detected and strict.incidents <= loose.incidents


Q = 1 / (backtest.MONTH_DAYS * 24)      # 1 false alarm per brand-month, per hour


def test_oracle_probability_matches_simulated_negative_binomial_counts():
    rng = np.random.default_rng(0)
    r, size, spike, n = 6.0, 20.0, 3.0, 200_000
    k = backtest.oracle_threshold(np.array([r]), size, Q)[0]
    null = rng.poisson(r * rng.gamma(size, 1 / size, n))           # the simulator's noise
    hot = rng.poisson(spike * r * rng.gamma(size, 1 / size, n))
    assert (null >= k).mean() <= Q + 3 * np.sqrt(Q / n)          # within the budget…
    assert (null >= k - 1).mean() > Q - 3 * np.sqrt(Q / n)       # …and k is the smallest such
    p = backtest.oracle_hit_prob(np.array([r]), spike, size, Q)[0]
    assert 0.3 < p < 0.9
    assert abs((hot >= k).mean() - p) < 0.005                    # sd of the estimate ~0.001


def test_oracle_rises_with_volume_spike_size_and_budget():
    by_rate = backtest.oracle_hit_prob(np.array([1.0, 5.0, 25.0, 125.0]), 3.0, 20.0, Q)
    assert (np.diff(by_rate) > 0).all() and by_rate[0] < 0.3 and by_rate[-1] > 0.9
    by_size = [backtest.oracle_hit_prob(np.array([8.0]), s, 20.0, Q)[0] for s in (1.5, 2, 3, 5, 8)]
    assert (np.diff(by_size) > 0).all()
    assert backtest.oracle_hit_prob(np.array([8.0]), 1.0, 20.0, Q)[0] <= Q   # no spike: FA rate
    loose = backtest.oracle_hit_prob(np.array([8.0]), 3.0, 20.0, 10 * Q)[0]
    assert loose > backtest.oracle_hit_prob(np.array([8.0]), 3.0, 20.0, Q)[0]


def test_oracle_threshold_holds_on_the_simulated_quiet_hours():
    cfg = backtest.Config(brands=10, days=120, seed=1)
    counts, rate, planted = backtest.simulate(cfg)
    k = backtest.oracle_threshold(rate, cfg.noise_size, Q)
    quiet = np.ones_like(rate, dtype=bool)
    for b, s, d in planted:
        quiet[b, s:s + d + 1] = False
    p0 = cfg.noise_size / (cfg.noise_size + rate)
    expected = float(stats.nbinom.sf(k - 1, cfg.noise_size, p0)[quiet].sum())
    assert expected <= Q * quiet.sum()
    seen = int(((counts >= k) & quiet).sum())
    assert abs(seen - expected) <= 4 * np.sqrt(expected)
    hits = np.array([counts[b, s] >= k[b, s] for b, s, _ in planted])
    o = backtest.oracle_within_1h(rate, planted, cfg)
    assert abs(hits.mean() - o) <= 4 * np.sqrt(o * (1 - o) / len(planted))


def test_detector_does_not_beat_the_oracle_bound():
    cfg = backtest.Config(brands=4, days=120, spike_size=3.0, seed=21, volume=800)
    r = backtest.run(cfg)
    o = r.oracle_within_1h
    assert r.spikes >= 10 and 0 < o < 1
    assert r.within_1h_rate <= o + 2 * np.sqrt(o * (1 - o) / r.spikes)
    assert len(r.hit_1h) == r.spikes and sum(r.hit_1h) == r.within_1h
    assert [b[0] for b in r.bands] == [b[0] for b in backtest.RATE_BANDS]
    assert sum(n for _, n, *_ in r.bands) == r.spikes
    assert sum(n * d for _, n, d, _, _ in r.bands if n) == pytest.approx(r.within_1h)
    assert sum(n * q for _, n, _, q, _ in r.bands if n) == pytest.approx(o * r.spikes)
    nf = r.no_foresight_within_1h
    assert sum(n * f for _, n, _, _, f in r.bands if n) == pytest.approx(nf * r.spikes)
    filled = [q for _, n, _, q, _ in r.bands if n]
    assert filled == sorted(filled)                       # more mentions, easier spikes
    assert r.within_1h_rate <= nf + 2 * np.sqrt(nf * (1 - nf) / r.spikes)


def test_cli_prints_the_oracle_row_and_the_bands():
    args = ["--brands", "2", "--days", "60", "--seed", "3"]
    res = CliRunner().invoke(app, ["backtest", *args])
    assert res.exit_code == 0, res.output
    r = backtest.run(backtest.Config(brands=2, days=60, seed=3))
    assert "oracle bound within 1 h" in res.output
    assert f"{r.oracle_within_1h:.1%}" in res.output
    assert "no-foresight bound within 1 h" in res.output
    assert "the same year without spikes" in res.output
    assert f"{r.quiet_false_alarms_per_brand_month:.2f}" in res.output
    assert f"{r.no_foresight_within_1h:.1%}" in res.output
    assert "usual mentions/hour" in res.output and "oracle bound" in res.output
    for label, n, det, _, nf in r.bands:
        if n:
            assert f"{det:.1%}" in res.output and f"{nf:.1%}" in res.output


def _quiet_hours(cfg, n, seed=0):
    rng = np.random.default_rng(seed)
    hours = (cfg.warmup_days * 24, cfg.days * 24)
    return [(int(rng.integers(cfg.brands)), int(rng.integers(*hours)), 1)
            for _ in range(n)]


def test_no_foresight_bound_keeps_the_false_alarm_budget_and_lies_under_the_oracle():
    # spike_size 1: the "spike" hours are ordinary hours, so the chance to flag them is the
    # test's false-positive rate there, which must average at most Q
    cfg = backtest.Config(brands=6, days=90, seed=31, spike_size=1.0)
    counts, rate, _, shocks = backtest.simulate_with_shocks(cfg)
    hours = _quiet_hours(cfg, 3000)
    fp = backtest.no_foresight_probs(counts, rate, hours, shocks, cfg)
    assert 0.5 * Q < fp.mean() <= Q                  # calibrated, not just conservative
    hot = replace(cfg, spike_size=3.0)
    nf = backtest.no_foresight_probs(counts, rate, hours, shocks, hot).mean()
    oracle = backtest.oracle_within_1h(rate, hours, hot)
    assert 0.2 < nf < oracle                          # not knowing the shock costs power


def test_no_foresight_bound_equals_the_oracle_without_day_shocks():
    cfg = backtest.Config(brands=3, days=60, seed=32, day_shock=0.0)
    counts, rate, planted, shocks = backtest.simulate_with_shocks(cfg)
    assert (shocks == 1.0).all()
    nf = backtest.no_foresight_probs(counts, rate, planted, shocks, cfg)
    assert nf == pytest.approx(backtest.oracle_probs(rate, planted, cfg))


def test_no_foresight_bound_learns_the_day_from_its_counts():
    # a day shocked up by e^0.3: at midnight the test cannot know, by the evening it does,
    # so the threshold it sets (its false-positive rate under the true rate) falls to Q
    cfg = backtest.Config(brands=1, days=40, seed=33, spike_size=1.0, day_shock=0.15,
                          volume=3000)
    counts, rate, _, shocks = backtest.simulate_with_shocks(cfg)
    day = int(np.argmax(shocks[0, cfg.warmup_days:])) + cfg.warmup_days
    assert shocks[0, day] > np.exp(0.2)
    fp = backtest.no_foresight_probs(counts, rate, [(0, day * 24, 1), (0, day * 24 + 20, 1)],
                                     shocks, cfg)
    assert fp[0] > 3 * Q and fp[1] < 2 * Q


def test_cause_series_split_the_negatives_and_share_the_brands_incidents():
    cfg = backtest.Config(brands=3, days=60, seed=4, volume=800, causes=5)
    counts, _, planted = backtest.simulate(cfg)
    causes = backtest.simulate_causes(counts, planted, cfg)
    assert causes.shape == (3, 5, counts.shape[1])
    assert (causes.sum(axis=1) <= counts).all()                 # a split, never more
    share = causes.sum() / counts.sum()
    assert 0.6 < share < 0.8                                    # 30% carry no cause
    r = backtest.run(cfg)
    assert r.series == 3 * (1 + 5)
    assert backtest.run(replace(cfg, causes=0)).series == 3
    # the volume counts do not depend on how many cause series are drawn
    assert (backtest.simulate(replace(cfg, causes=0))[0] == counts).all()


def test_a_focused_spike_lands_in_one_cause():
    cfg = backtest.Config(brands=2, days=60, seed=8, volume=800, causes=6, spike_size=4.0,
                          spike_focus=1.0)
    counts, _, planted = backtest.simulate(cfg)
    causes = backtest.simulate_causes(counts, planted, cfg)
    b, s, d = planted[0]
    during = causes[b, :, s:s + d].sum(axis=1)
    before = causes[b, :, s - 7 * 24:s - 7 * 24 + d].sum(axis=1)   # same hours a week before
    top = int(np.argmax(during - before))
    assert during[top] > 0.6 * counts[b, s:s + d].sum()         # 3 of 4 spike mentions


def test_the_quiet_replay_is_the_same_year_without_its_spikes():
    cfg = backtest.Config(brands=3, days=90, seed=14, volume=800, spike_size=1.0)
    r = backtest.run(cfg)
    assert r.quiet_false_alarms == r.incidents           # no spikes: the very same year
    hot = backtest.run(replace(cfg, spike_size=4.0))
    assert hot.quiet_false_alarms == r.quiet_false_alarms  # the replay ignores the spikes
    assert hot.incidents > hot.quiet_false_alarms + hot.detected // 2
