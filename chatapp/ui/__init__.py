"""Widgets only: nothing here imports an ML library or touches storage directly."""
