"""GenAI Autoscaler: an event-driven autoscaling controller for generative-AI inference on AWS."""

__version__ = "0.1.0"
