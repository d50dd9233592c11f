"""robench: robustness benchmarking of cooperative MARL under adversarial observation perturbations."""

__version__ = "0.1.0"
