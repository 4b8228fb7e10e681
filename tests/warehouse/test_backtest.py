"""The backtest on a small synthetic config: figures computed by the code stay sane."""
from dataclasses import replace

import numpy as np

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
