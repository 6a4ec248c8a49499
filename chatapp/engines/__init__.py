"""Model engines: no Qt here; heavy imports happen only inside load()."""
