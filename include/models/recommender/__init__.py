"""Recommender candidates, split along their seams.

- `base`: the interface and the sparse helpers every candidate shares (numpy, scipy);
- `baselines`: popularity (the skill floor of the promotion gate), item-kNN, a random ranking,
  and the sparse neighbour base item-kNN shares with EASE;
- `ease`: EASE, the closed-form linear item-to-item model;
- `tf_next_item`: the TensorFlow model (the only module that imports TensorFlow);
- `evaluation`: who is judged on a holdout, and per-customer figures for the gate.

Import the module you need; this package imports nothing on its own.
"""
