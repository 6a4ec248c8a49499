"""The /image part of a session: queue and persist pictures, progress in words, unload when idle."""
