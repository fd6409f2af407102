"""tinyml: take a trained Keras model onto a microcontroller and back."""

__version__ = "0.1.0"
