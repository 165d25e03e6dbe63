"""Applications written once against model capabilities, never per family (interpolation, inpainting, ...).

Import the module you need, e.g. `from genlab.apps.interpolate import interpolate`; nothing loads here.
"""
