"""Test-wide settings: CPU only, float32 default kept (no x64)."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
