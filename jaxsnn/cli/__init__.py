"""What the Hydra entry points in ``experiments/`` share: the launcher plugin check, the multirun
summary and the tables they print (rich) and write (Markdown)."""
