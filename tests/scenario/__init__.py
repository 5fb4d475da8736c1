"""Synthetic captures with exact ground truth (the SotM 27 scenario and its builders)."""
