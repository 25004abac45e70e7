"""Write tests/data/sdid_panel.csv: a small factor-model panel for the SDID bootstrap/jackknife and
staggered-adoption golden tests (40 units x 24 periods; units U31-U35 treated from period 17,
U36-U40 from period 20 in the staggered variant). Deterministic (numpy seed 20261206).

Run: .venv/bin/python tests/data/sdid_panel.py
"""

from pathlib import Path

import numpy as np
import pandas as pd

rng = np.random.default_rng(20261206)
N, T = 40, 24
load = rng.normal(size=(N, 2))
fac = np.cumsum(rng.normal(size=(T, 2)), axis=0)
alpha = rng.normal(scale=2.0, size=N)
gamma = np.cumsum(rng.normal(scale=0.5, size=T))
Y = alpha[:, None] + gamma[None, :] + load @ fac.T + rng.normal(scale=0.7, size=(N, T))
cohort = np.zeros(N, dtype=int)
cohort[30:35], cohort[35:40] = 17, 20
t = np.arange(1, T + 1)
Y += np.where((cohort[:, None] > 0) & (t[None, :] >= cohort[:, None]), 1.5 + 0.1 * (t[None, :] - cohort[:, None]), 0.0)
df = pd.DataFrame({"unit": np.repeat([f"U{i + 1:02d}" for i in range(N)], T), "period": np.tile(t, N),
                   "y": Y.ravel().round(6), "cohort": np.repeat(cohort, T)})
df.to_csv(Path(__file__).parent / "sdid_panel.csv", index=False)
