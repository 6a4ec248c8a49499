"""The assistant acting in the desktop: the tool loop (a card per call, the reply going on) and the session's doors the tools use."""
