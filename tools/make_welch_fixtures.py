"""Regenerates crates/spectra/tests/fixtures/welch_*.npy with scipy.signal.welch.

Run: python3 tools/make_welch_fixtures.py  (needs numpy and scipy; not needed by the tests).
Each case writes the input x [regions, T], freqs [F] and psd [regions, F].
"""
import json
import numpy as np
from scipy.signal import welch

rng = np.random.default_rng(20261122)
cases = [
    # name, T, fs, nperseg, noverlap
    ("whole_even", 100, 100.0, None, None),
    ("whole_odd", 101, 100.0, None, None),
    ("seg256_even", 1000, 100.0, 256, 128),
    ("seg256_odd", 1001, 250.0, 256, 100),
    ("seg255_odd", 777, 100.0, 255, None),
]
out = "crates/spectra/tests/fixtures"
meta = {}
for name, T, fs, nperseg, noverlap in cases:
    t = np.arange(T) / fs
    x = np.stack([np.sin(2 * np.pi * 7.3 * t) + 0.3 * rng.standard_normal(T) + 2.0,
                  np.cos(2 * np.pi * 11.1 * t) * 0.5 + 0.1 * rng.standard_normal(T),
                  rng.standard_normal(T)])
    nps = T if nperseg is None else nperseg
    f, p = welch(x, fs=fs, nperseg=nps, noverlap=noverlap, window="hann",
                 detrend="constant", return_onesided=True, scaling="density", average="mean")
    np.save(f"{out}/welch_{name}_x.npy", x)
    np.save(f"{out}/welch_{name}_f.npy", f)
    np.save(f"{out}/welch_{name}_p.npy", p)
    meta[name] = {"T": T, "fs": fs, "nperseg": nperseg, "noverlap": noverlap}
with open(f"{out}/welch_cases.json", "w") as fh:
    json.dump(meta, fh, indent=1)
print("ok", list(meta))
