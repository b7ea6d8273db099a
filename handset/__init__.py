"""mpesa-handset: an M-Pesa handset emulator in the terminal, speaking Daraja."""

__version__ = "0.1.0"
