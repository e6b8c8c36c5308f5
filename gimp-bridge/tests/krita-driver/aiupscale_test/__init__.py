"""The test side of gimp-bridge/tests/krita.rs: a Krita plug-in that drives the real AI
Upscale plug-in the way a user does, and kritarunner entry points. The tests copy it
into their own Krita profile; `aiupscale install krita` never installs it.

In a Krita window it does something only when AIUPSCALE_KRITA_TEST names a JSON file
(see driver.py)."""

import os

try:
    from krita import Krita
except ImportError:  # imported outside Krita
    Krita = None

if Krita is not None and Krita.instance() is not None and os.environ.get("AIUPSCALE_KRITA_TEST"):
    from .driver import Driver

    _krita = Krita.instance()
    if not any(isinstance(e, Driver) for e in _krita.extensions()):
        _krita.addExtension(Driver(_krita))
