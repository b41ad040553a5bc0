"""A local AWS for GenAI Autoscaler: moto, the stack created from template.yaml, the real handlers run
in-process, the real state machine run by moto's Step Functions interpreter, and simulated time.

Used by the demo (`make demo`) and the integration tests. Never shipped in the Lambda layer.
"""
