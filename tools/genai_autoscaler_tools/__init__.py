"""Offline tools beside the deployable core: the CLI, the simulator, in-memory ports; never imported by genai_autoscaler."""  # noqa: E501
