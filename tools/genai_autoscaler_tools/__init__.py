"""Offline tools beside the deployable core: the CLI, the simulator and the in-memory ports.

The core (`genai_autoscaler`, what the Lambda layer ships) never imports this package."""
