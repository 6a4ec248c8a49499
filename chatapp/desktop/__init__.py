"""The desktop around the window: one instance per data folder, signals, the data-folder check (session.py); the menu entry and its icons (menu_entry.py)."""
