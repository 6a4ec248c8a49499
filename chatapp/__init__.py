"""chatapp: an offline desktop chat assistant with built-in image generation."""

__version__ = "0.1.0"
