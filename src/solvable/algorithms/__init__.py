"""Layer 5: algorithms run at finite d (GAMP, low-rank AMP, ERM solvers, online SGD, ...)."""
