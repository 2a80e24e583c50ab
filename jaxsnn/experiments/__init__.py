"""Library side of the Hydra experiments: stability-chosen models, paper reproductions and the
multirun summarizer (the scripts in ``experiments/`` are thin Hydra wrappers around these)."""
