"""Imports the Python reference stack for fixture generators (see tools/setup-pyref.sh).

The local torchvision wheels are CUDA builds whose C++ ops cannot load next to the CPU torch;
torchvision.models needs none of them, so the op registrations are skipped.
"""
import sys
import types

sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))

import torch  # noqa: E402
import torchvision  # noqa: E402

__all__ = ["torch", "torchvision"]
