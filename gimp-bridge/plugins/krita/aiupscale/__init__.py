"""AI Upscale for Krita: Tools > Scripts > AI Upscale… upscales the image (every layer)
or the current layer with the aiupscale models, through the `aiupscale` program
(`aiupscale install krita` puts this plug-in in place and records where that program is).

Modules: core (pixels in -> bridge -> pixels out, no dialogs), dialog, extension (the
menu action), batch (kritarunner entry points), aiupscale_bridge (the talk with the
program, shared with the GIMP 3 plug-in: docs/BRIDGE.md)."""

try:
    from krita import Krita
except ImportError:  # imported outside Krita (e.g. by a linter)
    Krita = None

if Krita is not None and Krita.instance() is not None:
    from .extension import AIUpscaleExtension

    _krita = Krita.instance()
    if not any(isinstance(e, AIUpscaleExtension) for e in _krita.extensions()):
        _krita.addExtension(AIUpscaleExtension(_krita))
