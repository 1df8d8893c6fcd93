"""Old import paths of the hooks, kept for one release: everything moved to ``providers/``."""
