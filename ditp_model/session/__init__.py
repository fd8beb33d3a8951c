"""The committee session: the interactive panel (ipywidgets)."""
