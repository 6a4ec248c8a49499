"""The bundle's entry point (PyInstaller): the same as the `chatapp` script."""
from chatapp.__main__ import run

if __name__ == "__main__":
    run()
