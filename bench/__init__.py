"""Benchmarks: chatapp measured side by side with raw llama-cpp-python and diffusers."""
