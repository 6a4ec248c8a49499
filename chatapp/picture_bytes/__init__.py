"""Pictures as bytes, on the ground floor: which formats a given picture is opened as, and data URLs."""
