"""mpesa-handset's engine and HTTP server: everything that runs without a screen.

Nothing in this package imports ``textual`` or ``handset``; a test enforces it.
"""

from .runner import Emulator, PortInUse
from .settings import Settings, load_settings

__all__ = ["Emulator", "PortInUse", "Settings", "load_settings"]
