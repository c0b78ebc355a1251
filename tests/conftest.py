"""Test-wide setup: a private on-disk cache, so tests neither read nor fill the user's cache."""

import os
import tempfile

os.environ.setdefault("COMPILER_CACHE_DIR", tempfile.mkdtemp(prefix="compiler-test-cache-"))
os.environ.setdefault("COMPILER_PROGRESS", "0")
