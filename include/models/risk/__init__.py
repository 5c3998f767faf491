"""Order-risk candidates, split along their seams.

- `base`: the interface every candidate shares and the readable reasons of a score;
- `baselines`: logistic regression, gradient boosting (scikit-learn) and a random score;
- `tf_mlp`: the TensorFlow model (the only module that imports TensorFlow).

Import the module you need; this package imports nothing on its own.
"""
