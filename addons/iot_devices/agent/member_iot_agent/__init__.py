"""IoT box agent of the member suite (see README.md)."""

__version__ = "1.0.0"
